"""What a view may call, and the one typed way a view reaches it.

``Services`` is built once per process by the composition root
(``phoneservice.processes.server.build_services``) and put on the Flask app
by ``create_app``; every door (screens, admin UI, REST API, health) asks
``services()`` for it.

A view calls the service objects here (``directory``, ``phones``, ``records``,
``site_settings``, ``activation``, ``admins``, ``tokens``, ``administration``, ``security_profiles``, ``device_pools``, ``migrator``,
``selfservice``, the bulk tasks through ``phoneservice.web.taskrunner``): each
of their methods opens and closes its own transaction, so no view opens one.
Those built from ``db`` and ``catalog`` alone are built here, so the
composition root passes only those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from flask import Flask, current_app

from ivr.restart import BackgroundRestarts, Restarts, UdpRestarts
from models.rules.catalog import Catalog
from models.services.activation import Activation
from models.services.admin_accounts import Administration
from models.services.admins import AdminAccounts, Tokens
from models.services.bat_imports import BatImports
from models.services.devicepools import DevicePools
from models.services.directory import Directory
from models.services.migration import Migrator
from models.services.phones import Phones
from models.services.records import Records
from models.services.registrations import Registrations
from models.services.security_profiles import SecurityProfiles
from models.services.selfservice import SelfService
from models.services.site_settings import SiteSettingsService
from models.storage.database import Database
from models.storage.sessions import SessionStore
from phoneservice.config import ServerConfig
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.observe import Metrics, read_status
from phoneservice.web.bat_jobs import BackgroundImports

EXTENSION = "phone_migration"  # the app.extensions key


class Workers(Protocol):
    """The IVR workers as /healthz sees them (``phoneservice.processes.supervisor.WorkerSupervisor``)."""

    def health(self) -> dict: ...


@dataclass
class Services:
    """Everything a view may call; built once by ``phoneservice.processes.server.build_services``."""

    config: ServerConfig
    db: Database
    catalog: Catalog
    migrator: Migrator
    selfservice: SelfService
    files: ConfigFiles
    metrics: Metrics
    screen_sessions: SessionStore | None = None  # in the database: any web process serves any screen
    ivr: Workers | None = None  # the IVR workers' supervisor when they run in this process
    sip_front: Workers | None = None  # Kamailio's, when this process runs it (serve --kamailio)
    draining: bool = False
    cache_warm: bool = False  # every known phone's config rendered once since the start
    process: str = "main"  # or "web worker N" (phoneservice.processes.web_worker)
    registrations: Registrations | None = None  # what the registrar reports (R-1..R-3, R-6)
    restarts: Restarts | None = None  # C-14's sender: through the registrar when configured (R-5), else plain UDP
    background_restarts: BackgroundRestarts | None = None
    # The doors' services, one transaction a method (built from db and catalog):
    directory: Directory = field(init=False)  # end users
    phones: Phones = field(init=False)
    records: Records = field(init=False)  # the migration records and report
    site_settings: SiteSettingsService = field(init=False)
    activation: Activation = field(init=False)  # M-5 codes
    admins: AdminAccounts = field(init=False)  # admin UI logins
    tokens: Tokens = field(init=False)  # the API's bearer tokens
    administration: Administration = field(init=False)  # E-1..E-3: administrators and tokens managed
    security_profiles: SecurityProfiles = field(init=False)  # C-3's inputs
    device_pools: DevicePools = field(init=False)  # T-7: the pools' date/time groups
    bat_imports: BackgroundImports = field(init=False)  # E-4: the admin UI's imports, seen from any process

    def __post_init__(self) -> None:
        self.directory = Directory(self.db)
        self.phones = Phones(self.db, self.catalog)
        self.records = Records(self.db)
        self.site_settings = SiteSettingsService(self.db, self.catalog)
        self.activation = Activation(self.db, self.catalog)
        self.admins = AdminAccounts(self.db)
        self.tokens = Tokens(self.db)
        self.administration = Administration(self.db)
        self.security_profiles = SecurityProfiles(self.db)
        self.device_pools = DevicePools(self.db)
        self.bat_imports = BackgroundImports(BatImports(self.db))
        if self.screen_sessions is None:
            self.screen_sessions = SessionStore(self.db)
        if self.registrations is None:
            self.registrations = Registrations(self.db, self.catalog)
        if self.restarts is None:
            self.restarts = UdpRestarts(self.db)
        if self.background_restarts is None:
            self.background_restarts = BackgroundRestarts(self.db, sender=self.restarts)

    def status(self) -> dict:
        """What /healthz says besides the database: the IVR, the config cache, draining.
        A web worker has no IVR or config cache of its own: it says what the main process last wrote."""
        if self.process == "main":
            ivr = self.ivr.health() if self.ivr is not None else {"status": "disabled", "up": 0, "workers": []}
            if self.ivr is not None:  # is Kamailio in front of the workers?
                ivr = {**ivr, "sip_front": "kamailio" if self.config.callcontrol.kamailio_rpc_url else "unprotected"}
            if self.sip_front is not None:  # the Kamailio this process runs, up or coming back
                ivr = {**ivr, "kamailio": self.sip_front.health()}
            return {"ivr": ivr, "config_cache": "warm" if self.cache_warm else "warming", "draining": self.draining}
        main = read_status() or {"ivr": {"status": "unknown", "up": 0, "workers": []}, "config_cache": "warming",
                                 "draining": False}
        return {**main, "draining": self.draining or main.get("draining", False)}

    def restart(self, device: str, result=None) -> bool:
        """C-14: ask the phone to restart; False when only its next config poll will do.
        ``result``: a ``MigrationResult``, whose contact saves a read."""
        return self.restarts.restart(device, result)

    def close(self) -> None:
        """After the last request: restarts on their way go out (bounded), then the database closes."""
        self.background_restarts.close()
        self.db.dispose()

    def restart_soon(self, device: str, result=None) -> bool:
        """C-14 without waiting for the phone (the screens): True when a NOTIFY is on its way."""
        return self.background_restarts.request(device, result)


def services_of(app: Flask) -> Services:
    return app.extensions[EXTENSION]


def services() -> Services:
    """The services of the app handling this request: every view's way to the engine."""
    return services_of(current_app)
