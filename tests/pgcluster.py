"""A throwaway PostgreSQL cluster on 127.0.0.1, for the tests and the benchmarks.

Debian's server binaries, run as the ``postgres`` user when we are root
(PostgreSQL refuses to run as root), in a temporary directory, with durability
off (fsync, synchronous_commit, full_page_writes): figures from it are upper
bounds for a durable server.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy.engine import make_url

START_TIMEOUT = 60


class ClusterError(RuntimeError):
    """No binaries, or the cluster would not start; the message says why."""


def bindir() -> Path | None:
    """Where initdb and pg_ctl are: PATH first, else Debian's newest version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres(*argv: str | Path) -> list[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return prefix + [str(a) for a in argv]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_conninfo(url: str) -> str:
    """The same server's ``postgres`` database, as a libpq URI for psycopg."""
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


@contextmanager
def throwaway_cluster(prefix: str = "phone-migration-pg-", listen: str = "127.0.0.1",
                      hba: tuple[str, ...] = ()) -> Iterator[str]:
    """Start a cluster; yield ``postgresql+psycopg://postgres@LISTEN:PORT/postgres``; stop and remove it.

    ``listen``: another address, for clients in other network namespaces (tests/e2e/test_multihost.py);
    the cluster starts in the calling thread's network namespace. ``hba``: pg_hba.conf lines put
    before initdb's own (trust for local and 127.0.0.1 only)."""
    binaries = bindir()
    if binaries is None:
        raise ClusterError("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's 'postgresql'")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    try:
        try:
            subprocess.run(_as_postgres(binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                                        "-E", "UTF8", "--locale=C", "--no-sync"),
                           check=True, capture_output=True, timeout=START_TIMEOUT)
            with open(data / "postgresql.conf", "a") as conf:
                conf.write(
                    f"listen_addresses = '{listen}'\nport = {port}\nunix_socket_directories = '{root}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                )
            if hba:
                rules = data / "pg_hba.conf"
                rules.write_text("".join(f"{line}\n" for line in hba) + rules.read_text())
            subprocess.run(_as_postgres(binaries / "pg_ctl", "-D", data, "-l", log, "-w", "-t", str(START_TIMEOUT),
                                        "start"), check=True, capture_output=True, timeout=START_TIMEOUT + 10)
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace") + (log.read_text() if log.exists() else "")
            raise ClusterError(f"could not start PostgreSQL with {binaries}: {detail}") from None
        yield f"postgresql+psycopg://postgres@{listen}:{port}/postgres"
    finally:
        subprocess.run(_as_postgres(binaries / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"),
                       capture_output=True, timeout=START_TIMEOUT)
        shutil.rmtree(root, ignore_errors=True)
