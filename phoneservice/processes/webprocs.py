"""The web port served by several processes (``web.processes``): one GIL per core.

Flask under ``twisted.web.wsgi`` runs its views on one interpreter lock, so
one process uses one core for the screens, the admin UI and the API, however
many threads it has (``docs/benchmarks.md``: a phone storm stalls at about
one core). With ``web.processes = N`` the main process binds the web port
itself and starts N - 1 *web workers* (``python -m phoneservice.webprocs``),
supervised like the IVR workers (``ivr.supervisor``: restarts with back-off,
drain on stop). Each process listens on the web port with ``SO_REUSEPORT``,
so the kernel gives each new connection to one of them, evenly. The workers serve the web port only: TFTP, the config port
and the IVR stay in the main process.

Nothing a request needs lives in one process: screen sessions are in the
database (``models.sessions``), SQLite writers queue across processes
(``models.database.WriterQueue``), the admin session key is kept in the
database, and every cache is stamped (``models.stamp``). What each process
would otherwise answer alone is shared here:

- metrics: prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
  a directory made per run), so ``/metrics`` from any process counts every
  process; the main process's gauges are set, not computed on scrape;
- ``/healthz``: the main process writes its IVR and cache state to a file in
  that directory every second; a worker answers with it.

Written here rather than taken from a library: gunicorn and uWSGI pre-fork
WSGI servers, but the web port shares the main process with Twisted's TFTP
and IVR supervision, and the workers must run the same Twisted WSGI stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from twisted.internet import defer, task, threads

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONFIG_ENV = "PHONE_MIGRATION_WEB_WORKER_CONFIG"
STATUS_FILE = "main-status.json"
STATUS_EVERY = 1.0  # seconds between two writes of the main process's status


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """One process's socket on the web port (``SO_REUSEPORT``: the kernel spreads new
    connections evenly over the processes' sockets, where one shared socket gives
    most of them to whichever process waited last)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def start_shared_metrics() -> Path:
    """Multiprocess metrics for this run; before any metric is built (the main process)."""
    from prometheus_client import values

    directory = Path(tempfile.mkdtemp(prefix="phone-migration-metrics-"))
    os.environ[METRICS_ENV] = str(directory)
    # prometheus_client picks its value class when imported, from this variable;
    # the main process imported it long before reading its config.
    values.ValueClass = values.get_value_class()
    return directory


def shared_metrics_dir() -> Path | None:
    value = os.environ.get(METRICS_ENV)
    return Path(value) if value else None


def exposition(registry) -> bytes:
    """``/metrics``: every process's counters when several serve the web port."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    if shared_metrics_dir() is None:
        return generate_latest(registry)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return generate_latest(merged)


def process_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    if shared_metrics_dir() is not None:
        multiprocess.mark_process_dead(pid)


def write_status(directory: Path, status: dict) -> None:
    """Atomically: a worker never reads half a file."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".status-")
    with os.fdopen(fd, "w") as out:
        json.dump(status, out)
    os.replace(tmp, directory / STATUS_FILE)


def read_status() -> dict | None:
    directory = shared_metrics_dir()
    try:
        return json.loads((directory / STATUS_FILE).read_text()) if directory else None
    except (OSError, ValueError):
        return None


def web_workers(config, port: int, reactor):
    """The supervisor of the ``web.processes - 1`` workers (``ivr.supervisor`` with name "web")."""
    from phoneservice.processes.supervisor import IvrSupervisor, RestartPolicy, child_command
    from phoneservice.observe import log_event

    config = config.model_copy(update={"web": config.web.model_copy(update={"port": port})})  # port 0: the one bound
    env = dict(os.environ, **{CONFIG_ENV: config.model_dump_json()})
    ivr = config.ivr  # the same restart policy as the IVR workers'
    return IvrSupervisor(
        name="web", count=config.web.processes - 1, first_port=1, clock=reactor, spawn=reactor.spawnProcess,
        command=lambda index: child_command("phoneservice.processes.webprocs", "--index", str(index)),
        env=env, on_exit=process_dead,
        policy=RestartPolicy(backoff_initial=ivr.backoff_initial, backoff_max=ivr.backoff_max,
                             healthy_after=ivr.healthy_after, max_restarts=ivr.max_restarts, window=ivr.restart_window),
        ready_timeout=ivr.ready_timeout, start_concurrency=ivr.start_concurrency, drain_timeout=ivr.drain_timeout,
        log=log_event,
    )


def status_writer(directory: Path, services) -> task.LoopingCall:
    return task.LoopingCall(lambda: write_status(directory, services.status()))


def cleanup(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


# --- a worker -----------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m phoneservice.webprocs", description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, required=True, help="this worker's number, from 1")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """A web worker: the main process's config (from the environment), its own
    socket on the web port, ``READY <index>`` on stdout once it accepts."""
    from twisted.internet import reactor

    from phoneservice.config import ServerConfig
    from phoneservice.observe import log_event, setup_logging
    from phoneservice.processes.server import build_services, web_site

    args = parse_args(argv)
    config = ServerConfig.model_validate_json(os.environ[CONFIG_ENV])
    setup_logging(config.log.level, config.log.format)
    services = build_services(config)
    services.process = f"web worker {args.index}"
    site, pools = web_site(config, services, reactor)
    sock = listening_socket(config.web.host, config.web.port)
    port = reactor.adoptStreamPort(sock.fileno(), sock.family, site)
    sock.close()  # the port holds its own copy
    for pool in pools:
        pool.start()

    def drain() -> None:
        services.draining = True
        log_event("web_worker_draining", index=args.index)
        stopped = defer.maybeDeferred(port.stopListening)
        for pool in pools:  # requests in flight finish first (ThreadPool.stop joins its threads)
            stopped.addCallback(lambda _, p=pool: threads.deferToThread(p.stop))
        stopped.addBoth(lambda _: reactor.stop())

    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(drain))
    signal.signal(signal.SIGINT, lambda *_: reactor.callFromThread(drain))
    print(f"READY {args.index}", flush=True)
    log_event("web_worker_started", index=args.index, pid=os.getpid())
    reactor.run(installSignalHandlers=False)
    services.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig()
    sys.exit(main())
