"""``create_app``: the Flask factory. No global app; blueprints per surface.

``role="web"`` is the web port (screens, admin, API, health, metrics);
``role="config"`` is the phones' config port (T-3), which serves only files.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from models.catalog import Catalog
from models.database import Database
from models.migration import Migrator
from models.selfservice import SelfService
from phoneservice.config import ServerConfig
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.observe import Metrics
from ivr.restart import BackgroundRestarts, restart_device
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
    process: str = "main"  # or "web worker N" (phoneservice.webprocs)
    background_restarts: BackgroundRestarts | None = None

    def __post_init__(self) -> None:
        if self.screen_sessions is None:
            self.screen_sessions = SessionStore(self.db)
        if self.background_restarts is None:
            self.background_restarts = BackgroundRestarts(self.db)

    def status(self) -> dict:
        """What /healthz says besides the database: the IVR, the config cache, draining.
        A web worker has no IVR or config cache of its own: it says what the main process last wrote."""
        if self.process == "main":
            ivr = self.ivr.health() if self.ivr is not None else {"status": "disabled", "up": 0, "workers": []}
            return {"ivr": ivr, "config_cache": "warm" if self.cache_warm else "warming", "draining": self.draining}
        from phoneservice.processes.webprocs import read_status

        main = read_status() or {"ivr": {"status": "unknown", "up": 0, "workers": []}, "config_cache": "warming",
                                 "draining": False}
        return {**main, "draining": self.draining or main.get("draining", False)}

    def restart(self, device: str, result=None) -> bool:
        """C-14: ask the phone to restart; False when only its next config poll will do.
        ``result``: a ``MigrationResult``, whose contact saves a read."""
        return restart_device(self.db, device, result)

    def close(self) -> None:
        """After the last request: restarts on their way go out (bounded), then the database closes."""
        self.background_restarts.close()
        self.db.dispose()

    def restart_soon(self, device: str, result=None) -> bool:
        """C-14 without waiting for the phone (the screens): True when a NOTIFY is on its way."""
        return self.background_restarts.request(device, result)


def create_app(services: Services, role: str = "web") -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions["phone_migration"] = services
    from phoneservice.web.admin import login as admin
    from phoneservice.web.api import edge as api
    from phoneservice.configfiles import http as configfiles
    from phoneservice.web import health
    from phoneservice.web.screens import views as screens

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
