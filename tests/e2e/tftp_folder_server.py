"""Test and bench harness: phoneservice.configfiles.tftp serving the files of one folder.

    python tftp_folder_server.py FOLDER [--port 0] [--interface 127.0.0.1] [--rate 50] ...

Prints the bound port on the first line of stdout, then serves until SIGTERM
or SIGINT; on exit prints the service's counters as JSON on stderr. The
resolver is a naive, safe folder lookup (no ``..``, no absolute paths, nothing
outside FOLDER but through a symlink placed there), good enough for a
harness: the product renders per request.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from twisted.internet import reactor

from phoneservice.configfiles.tftp import TFTPService


def folder_resolver(folder: Path):
    root = os.path.realpath(folder)

    def resolve(filename: str, peer: tuple[str, int]) -> bytes | None:
        relative = filename.lstrip("/")
        parts = relative.split("/")
        if not relative or ".." in parts or "\\" in relative:
            raise PermissionError(filename)
        try:
            with open(os.path.join(root, *parts), "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    return resolve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s per source IP; 0 = no limit")
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--max-transfers", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--stop-grace", type=float, default=10.0)
    args = parser.parse_args(argv)

    service = TFTPService(folder_resolver(args.folder), port=args.port, interface=args.interface,
                          rate=args.rate, burst=args.burst, max_transfers=args.max_transfers,
                          timeout=args.timeout, retries=args.retries,
                          stop_grace=args.stop_grace)
    service.startService()
    print(service.address[1], flush=True)

    def report() -> None:
        print(json.dumps(dataclasses.asdict(service.stats)), file=sys.stderr, flush=True)

    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.addSystemEventTrigger("after", "shutdown", report)
    reactor.run()


if __name__ == "__main__":
    main()
