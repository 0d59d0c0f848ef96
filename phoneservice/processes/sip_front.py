"""Kamailio run by ``serve`` itself (``serve --kamailio``, ``[sip_front]``; R-7, R-8).

The IVR workers never face the network (R-7): Kamailio does, and a front that
dies must come back as the workers do (R-8). So ``serve`` writes the site's
``kamailio.cfg`` (``phoneservice.callcontrol.kamailio.render``, the file
``phone-migration kamailio-config`` writes) and the workers' dispatcher list
into ``sip_front.dir``, and runs Kamailio under the same ``WorkerSupervisor``
as the workers: restarted with back-off when it dies, stopped with the server.

Kamailio prints no ``READY`` line, so it counts as up once its JSON-RPC port
accepts a connection (``ready_probe``). Started with ``-DD`` it stays in the
foreground, but its children outlive a SIGKILLed main process and would keep
the SIP port: it is started as the workers are (``child_exec``: its own process
group, and SIGTERM if the server dies), and its group is killed after every
exit (``on_exit``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
from pathlib import Path

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint

from ivr.kamailio import WorkerHost, write_dispatcher_list
from phoneservice.callcontrol.kamailio import KamailioSite, callback_url, render, write
from phoneservice.config import ServerConfig
from phoneservice.observe import log_event
from phoneservice.processes.lifecycle import RestartPolicy, child_exec
from phoneservice.processes.supervisor import WorkerSupervisor

RPC_HOST = "127.0.0.1"


class FrontError(RuntimeError):
    """Kamailio cannot be run here; the message says what to do."""


def kamailio_binary() -> str:
    found = shutil.which("kamailio")
    if found is None:
        raise FrontError("Kamailio is not installed (Debian: apt-get install kamailio kamailio-utils-modules), "
                         "which serve --kamailio runs in front of the IVR workers; install it, or serve without "
                         "--kamailio and run Kamailio yourself (docs/deploy/README.md)")
    return found


def with_front(config: ServerConfig) -> ServerConfig:
    """The settings the server runs with when it runs Kamailio: the JSON-RPC URL of that Kamailio, and a
    callcontrol token (made once and kept in ``sip_front.dir`` when none is set)."""
    front, callcontrol = config.sip_front, config.callcontrol
    token = callcontrol.token or _kept_token(Path(front.dir) / "callcontrol.token")
    return config.model_copy(update={"callcontrol": callcontrol.model_copy(update={
        "token": token, "kamailio_rpc_url": f"http://{RPC_HOST}:{front.rpc_port}/RPC"})})


def _kept_token(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def prepare(config: ServerConfig, route_point: str) -> list[str]:
    """Write kamailio.cfg and the dispatcher list into ``sip_front.dir``; Kamailio's argv."""
    front = config.sip_front
    folder = Path(front.dir).absolute()
    (folder / "run").mkdir(parents=True, exist_ok=True)
    site = KamailioSite(
        listen=tuple(front.listen), advertise=front.advertise, sip_port=front.port, tls_port=front.port + 1,
        tls_certificate=front.tls_certificate, tls_private_key=front.tls_private_key,
        rpc_addr=RPC_HOST, rpc_port=front.rpc_port, callback_url=callback_url(config.web.host, config.web.port),
        token=config.callcontrol.token or "", route_point=route_point,
        ds_list=str(folder / "ivr-workers.list"), ctl_socket=f"unix:{folder / 'run' / 'kamailio_ctl'}")
    text = render(site)  # SiteError names a value that cannot be used
    hosts = [WorkerHost(config.ivr.host, config.ivr.port, config.ivr.workers)] if config.ivr.workers else []
    write_dispatcher_list(site.ds_list, hosts)
    cfg = write(folder / "kamailio.cfg", text)
    return child_exec([kamailio_binary(), "-f", str(cfg), "-DD", "-E", "-m", "64",
            "-M", "8", "-w", str(folder), "-Y", str(folder / "run"), "-P", str(folder / "run" / "kamailio.pid")])


def supervisor(config: ServerConfig, argv: list[str], reactor) -> WorkerSupervisor:
    """One Kamailio on ``sip_front.port``, restarted as the IVR workers are (their back-off settings)."""
    ivr, front = config.ivr, config.sip_front
    return WorkerSupervisor(
        name="sip_front", label="Kamailio", count=1, first_port=front.port, clock=reactor,
        spawn=reactor.spawnProcess, command=lambda port: argv,
        policy=RestartPolicy(backoff_initial=ivr.backoff_initial, backoff_max=ivr.backoff_max,
                             healthy_after=ivr.healthy_after, max_restarts=ivr.max_restarts,
                             window=ivr.restart_window),
        ready_timeout=front.ready_timeout, drain_timeout=10.0, log=log_event,
        ready_probe=lambda port: rpc_open(reactor, front.rpc_port), on_exit=kill_group)


def rpc_open(reactor, port: int) -> defer.Deferred:
    """True once something accepts a connection on Kamailio's JSON-RPC port."""
    endpoint = TCP4ClientEndpoint(reactor, RPC_HOST, port, timeout=1)

    def connected(proto) -> bool:
        proto.transport.loseConnection()
        return True

    return endpoint.connect(protocol.Factory.forProtocol(protocol.Protocol)).addCallbacks(connected, lambda _: False)


def kill_group(pid: int) -> None:
    """Kamailio's children, left behind by a main process killed outright, hold its ports: end them."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
