"""One web worker process (``web.processes``): the web port beside the main process.

``python -m phoneservice.processes.web_worker --index N``, started and
supervised by the main process (``phoneservice.processes.webprocs.web_workers``):
the main process's config comes in the environment, the worker opens its own
``SO_REUSEPORT`` socket on the web port, serves the same Flask app on the same
two thread pools, prints ``READY <index>`` on stdout once it accepts, and on
SIGTERM stops accepting, lets the requests in flight finish and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Sequence

from twisted.internet import defer, threads

from phoneservice.config import ServerConfig
from phoneservice.observe import log_event, setup_logging
from phoneservice.processes.server import build_services, web_site
from phoneservice.processes.webprocs import CONFIG_ENV, WORKER_MODULE, listening_socket


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {WORKER_MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, required=True, help="this worker's number, from 1")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """A web worker: the main process's config (from the environment), its own
    socket on the web port, ``READY <index>`` on stdout once it accepts."""
    from twisted.internet import reactor  # installs the default reactor: only in the worker process

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
