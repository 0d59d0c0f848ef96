"""The web port served by several processes (``web.processes``): one GIL per core.

Flask under ``twisted.web.wsgi`` runs its views on one interpreter lock, so
one process uses one core for the screens, the admin UI and the API, however
many threads it has (``docs/benchmarks.md``: a phone storm stalls at about
one core). With ``web.processes = N`` the main process binds the web port
itself and starts N - 1 *web workers*
(``python -m phoneservice.processes.web_worker``), supervised like the IVR
workers (``phoneservice.processes.supervisor``: restarts with back-off, drain
on stop). Each process listens on the web port with ``SO_REUSEPORT``, so the
kernel gives each new connection to one of them, evenly. The workers serve
the web port only: TFTP, the config port and the IVR stay in the main process.

Nothing a request needs lives in one process: screen sessions are in the
database (``models.storage.sessions``), SQLite writers queue across processes
(``models.storage.database.WriterQueue``), the admin session key is kept in the
database, and every cache is stamped (``models.storage.stamp``). What each process
would otherwise answer alone is shared here:

- metrics: prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
  a directory made per run, ``phoneservice.observe``), so ``/metrics`` from any
  process counts every process; the main process's gauges are set, not computed on scrape;
- ``/healthz``: the main process writes its IVR and cache state to a file in
  that directory every second (``status_writer``); a worker answers with it.

Why not gunicorn (issue #14; docs/benchmarks.md, session 7): 2 gunicorn
workers serving the same app, against ``serve --web-processes 2`` with
``bench/screens.py``'s flows at 100 flows/s offered: gthread with
``--reuse-port`` gave screen p99 24 to 194 ms against 21 to 117 ms here, and
at 120/s 94.6 to 110.3 flows/s done against 113.4 to 119.9, at the same CPU
per flow (9 to 11 ms); without ``--reuse-port`` the phones' keep-alive
connections piled on one worker (6,305 requests against 1,200) and 69 to 75
flows/s were done; the sync worker, 36 to 48. So it gains no figure; it
would add a second process model beside the reactor that keeps TFTP, the
config port, the IVR supervisor and the restart sender, and lose the
screens' own thread pool (gunicorn has one pool per worker).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from twisted.internet import task

from phoneservice.config import ServerConfig
from phoneservice.observe import log_event, process_dead, write_status
from phoneservice.processes.lifecycle import RestartPolicy, child_command
from phoneservice.processes.supervisor import WorkerSupervisor

CONFIG_ENV = "PHONE_MIGRATION_WEB_WORKER_CONFIG"
WORKER_MODULE = "phoneservice.processes.web_worker"
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


def web_workers(config: ServerConfig, port: int, reactor) -> WorkerSupervisor:
    """The supervisor of the ``web.processes - 1`` workers (named "web")."""
    config = config.model_copy(update={"web": config.web.model_copy(update={"port": port})})  # port 0: the one bound
    env = dict(os.environ, **{CONFIG_ENV: config.model_dump_json()})
    ivr = config.ivr  # the same restart policy as the IVR workers'
    return WorkerSupervisor(
        name="web", count=config.web.processes - 1, first_port=1, clock=reactor, spawn=reactor.spawnProcess,
        command=lambda index: child_command(WORKER_MODULE, "--index", str(index)),
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
