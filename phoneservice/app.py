"""``create_app``: the Flask factory. No global app; blueprints per surface.

``role="web"`` is the web port (screens, admin, API, health, metrics);
``role="config"`` is the phones' config port (T-3), which serves only files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask

from models.catalog import Catalog
from models.database import Database
from models.migration import Migrator
from models.selfservice import SelfService
from phoneservice.config import ServerConfig
from phoneservice.files import ConfigFiles
from phoneservice.observe import Metrics
from phoneservice.restart import restart_device
from models.sessions import SessionStore


@dataclass
class Services:
    """Everything a view may call; built once by ``phoneservice.server.build``."""

    config: ServerConfig
    db: Database
    catalog: Catalog
    migrator: Migrator
    selfservice: SelfService
    files: ConfigFiles
    metrics: Metrics
    screen_sessions: SessionStore | None = None  # in the database: any web process serves any screen
    ivr: object | None = None  # ivr.supervisor.IvrSupervisor when IVR workers run in this process
    draining: bool = False
    cache_warm: bool = False  # every known phone's config rendered once since the start

    def __post_init__(self) -> None:
        if self.screen_sessions is None:
            self.screen_sessions = SessionStore(self.db)

    def restart(self, device: str, result=None) -> bool:
        """C-14: ask the phone to restart; False when only its next config poll will do.
        ``result``: a ``MigrationResult``, whose contact saves a read."""
        return restart_device(self.db, device, result)


def create_app(services: Services, role: str = "web") -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions["phone_migration"] = services
    from phoneservice import admin, api, configfiles, health, screens

    if role == "config":
        app.register_blueprint(configfiles.blueprint)
    else:
        app.register_blueprint(health.blueprint)
        app.register_blueprint(screens.blueprint)
        admin.init_app(app)  # secret key, session cookie, CSRF on every form but the bearer-token API, Flask-Login
        app.register_blueprint(admin.blueprint)
        app.register_blueprint(api.blueprint)  # /api/v1: bearer tokens only, problem+json errors
    return app


def services_of(app: Flask) -> Services:
    return app.extensions["phone_migration"]
