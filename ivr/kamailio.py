"""The dispatcher list Kamailio's front door reads (docs/deploy/kamailio.cfg).

    python -m ivr.kamailio --hosts 10.0.0.5,10.0.0.6 --port 5071 --workers 4 -o /etc/kamailio/ivr-workers.list

One line per worker, ``setid destination flags priority attrs``, in the order
``phone-migration serve --ivr-workers N --ivr-port P`` starts them (worker i on
``P + i``). ``maxload=4`` because a worker answers at most 4 calls at once
(docs/pjsua2.md); ``duid`` names the worker in ``kamcmd dispatcher.list``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CALLS_PER_WORKER = 4  # the pjsua2 wheel's PJSUA_MAX_CALLS
SETID = 1  # the set docs/deploy/kamailio.cfg selects from


@dataclass(frozen=True)
class WorkerHost:
    """The workers of one ``serve`` process: ``count`` ports from ``first_port`` on ``host``."""

    host: str
    first_port: int
    count: int

    def uris(self, transport: str | None = None) -> list[str]:
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = f";transport={transport}" if transport else ""
        return [f"sip:{host}:{self.first_port + i}{suffix}" for i in range(self.count)]


def dispatcher_list(hosts: Iterable[WorkerHost], transport: str | None = None,
                    maxload: int = CALLS_PER_WORKER) -> str:
    lines = ["# setid destination flags priority attrs  (written by python -m ivr.kamailio)"]
    uris = [uri for h in hosts for uri in h.uris(transport)]
    lines += [f"{SETID} {uri} 0 0 duid=w{n};maxload={maxload}" for n, uri in enumerate(uris, 1)]
    return "\n".join(lines) + "\n"


def write_dispatcher_list(path: str | Path, hosts: Iterable[WorkerHost], transport: str | None = None) -> Path:
    """Write the list atomically: Kamailio may reload it (``kamcmd dispatcher.reload``) at any time."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".ivr-workers.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(dispatcher_list(hosts, transport))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.kamailio",
                                     description="Kamailio dispatcher list for IVR workers on one or more hosts.")
    parser.add_argument("--hosts", default="127.0.0.1",
                        help="comma-separated addresses of the hosts running `serve` (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5060, help="each host's ivr.port (its first worker's)")
    parser.add_argument("--workers", type=int, default=1, help="each host's ivr.workers")
    parser.add_argument("--transport", choices=["udp", "tcp"], help="force a transport towards the workers")
    parser.add_argument("-o", "--output", help="write this file (atomically) instead of printing")
    args = parser.parse_args(argv)
    if args.workers < 1 or not 1 <= args.port <= 65535 or args.port + args.workers - 1 > 65535:
        parser.error("--port and --workers must give ports within 1..65535")
    hosts = [WorkerHost(h.strip(), args.port, args.workers) for h in args.hosts.split(",") if h.strip()]
    if not hosts:
        parser.error("--hosts: at least one address")
    if args.output:
        write_dispatcher_list(args.output, hosts, args.transport)
    else:
        sys.stdout.write(dispatcher_list(hosts, args.transport))
    return 0


if __name__ == "__main__":
    sys.exit(main())
