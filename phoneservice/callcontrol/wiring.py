"""The call control's collaborators, built from ``[callcontrol]`` for the composition root
(``phoneservice.processes.server``) and the IVR worker process (``phoneservice.processes.ivr_worker``).

With ``token`` and ``kamailio_rpc_url`` set, Kamailio is the registrar: restarts
go through it (R-5) and its location table is read back (R-3). Otherwise the
restart is the plain UDP NOTIFY of ``ivr.restart``, to UDP contacts only.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from ivr.restart import Restarts, UdpRestarts
from models.rules.catalog import Catalog
from models.services.registrations import Registrations
from models.storage.database import Database
from phoneservice.callcontrol.reconcile import Reconciler, ReconcileService
from phoneservice.callcontrol.restart import RegistrarRestarts
from phoneservice.callcontrol.rpc import KamailioRpc
from phoneservice.config import CallControlSection, ServerConfig

ENV = "PHONE_MIGRATION_CALLCONTROL__"


def registrations(config: CallControlSection, db: Database, catalog: Catalog | None = None) -> Registrations:
    return Registrations(db, catalog, grace_seconds=config.grace_seconds)


def rpc(config: CallControlSection) -> KamailioRpc | None:
    return KamailioRpc(config.kamailio_rpc_url, config.token, config.rpc_timeout) if config.registrar else None


def restarts(config: CallControlSection, db: Database, regs: Registrations) -> Restarts:
    """R-5: through the registrar when there is one, else plain UDP (UDP contacts only)."""
    client = rpc(config)
    if client is None:
        return UdpRestarts(db)
    host = urlsplit(config.kamailio_rpc_url).hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    # Kamailio waits up to its fr_timer (2 s) for the phone; the call's own timeout covers that.
    return RegistrarRestarts(regs, client, from_uri=f"sip:phone-migration@{host}", timeout=config.rpc_timeout)


def restarts_factory(config: CallControlSection) -> Callable[[Database], Restarts] | None:
    """For the IVR worker process, which builds its own database: None means plain UDP."""
    if not config.registrar:
        return None
    return lambda db: restarts(config, db, registrations(config, db))


def reconcile_service(config: CallControlSection, regs: Registrations, reactor) -> ReconcileService | None:
    """R-3 at start and every ``reconcile_seconds``; only where the registrar's events arrive (a token is set)."""
    if not config.token:
        return None
    return ReconcileService(Reconciler(regs, rpc(config)), config.reconcile_seconds, reactor)


def worker_environment(config: ServerConfig, base: dict[str, str]) -> dict[str, str]:
    """The environment of child processes: ``[callcontrol]`` as the server read it (a settings file
    too), so an IVR worker restarts phones the way the other doors do."""
    env = {k: v for k, v in base.items() if not k.startswith(ENV)}
    for key, value in config.callcontrol.model_dump(exclude_none=True).items():
        env[ENV + key.upper()] = str(value)
    return env
