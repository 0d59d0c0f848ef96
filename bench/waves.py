"""A replacement wave (W-1..W-3) applied by its phones: N old phones, a wave of N rows staged, then N new
phones fetch their config files by TFTP all at once from a running ``phone-migration serve``; against the
same N migrations through Migrate Phone (``Migrator.migrate``, door admin) one by one on a copy of the site.

    .venv/bin/python bench/waves.py --phones 1000

Prints files/s and migrations/s for the wave, migrations/s one by one, and checks that every phone's
file is its new configuration (its old phone's line 1) and that every row applied exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree
from sqlalchemy import func
from sqlmodel import select
from tftp_phones import wait_ready  # bench/ is on sys.path: the script's folder

from models.rules.plan import Target
from models.services.demo import load_demo
from models.services.migration import Migrator
from models.services.site import LineSpec, create_device
from models.services.waves import Waves
from models.storage.database import Database
from models.tables.records import MigrationRecord

RRQ, DATA, ACK, ERROR = 1, 3, 4, 5
MAX_PHONES = 1000


def old_mac(i: int) -> str:
    return f"0051{i:08X}"


def new_mac(i: int) -> str:
    return f"00AC{i:08X}"


def build_site(path: Path, phones: int) -> str:
    url = f"sqlite:///{path}"
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        load_demo(s)
        for i in range(phones):
            create_device(s, old_mac(i), "8841", "SIP", lines=[LineSpec(f"6{i:04d}", "", label=f"6{i:04d}")])
    db.dispose()
    return url


class Fetch(asyncio.DatagramProtocol):
    """One phone's RRQ, lock-step DATA/ACK (512-byte blocks), a retransmit every ``timeout`` s, bounded."""

    def __init__(self, name: str, server: tuple[str, int], timeout: float, retries: int) -> None:
        self.name, self.server, self.timeout, self.retries = name, server, timeout, retries
        self.data = bytearray()
        self.done = asyncio.get_running_loop().create_future()
        self.last: tuple[bytes, tuple] = (b"", server)
        self.timer = None
        self.tries = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send(struct.pack("!H", RRQ) + self.name.encode() + b"\0octet\0", self.server)

    def _send(self, packet: bytes, to) -> None:
        self.last = (packet, to)
        self.transport.sendto(packet, to)
        if self.timer:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.timeout, self._again)

    def _again(self) -> None:
        self.tries += 1
        if self.tries > self.retries:
            self._end(None)
        else:
            self._send(*self.last)

    def datagram_received(self, packet: bytes, addr) -> None:
        op, = struct.unpack("!H", packet[:2])
        if op == ERROR:
            self._end(None)
            return
        if op != DATA:
            return
        block, = struct.unpack("!H", packet[2:4])
        if block == (len(self.data) // 512) + 1:
            self.data += packet[4:]
            self.tries = 0
        self._send(struct.pack("!HH", ACK, block), addr)
        if len(packet) - 4 < 512:
            self._end(bytes(self.data))

    def _end(self, result) -> None:
        if self.timer:
            self.timer.cancel()
        self.transport.close()
        if not self.done.done():
            self.done.set_result(result)


async def storm(port: int, names: list[str], timeout: float, retries: int) -> list[bytes | None]:
    loop = asyncio.get_running_loop()

    async def one(name: str):
        _, fetch = await loop.create_datagram_endpoint(lambda: Fetch(name, ("127.0.0.1", port), timeout, retries),
                                                       local_addr=("127.0.0.1", 0))
        return await fetch.done

    return await asyncio.gather(*(one(n) for n in names))


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wave_run(url: str, phones: int, args: argparse.Namespace, workdir: Path) -> dict:
    db = Database(url)
    csv = "Old Device,New MAC,Model\n" + "".join(f"SEP{old_mac(i)},{new_mac(i)},8851\n" for i in range(phones))
    started = time.monotonic()
    view = Waves(db).stage("bench", csv, by="bench")
    staged_s = time.monotonic() - started
    assert len(view.rows) == phones, view.errors[:3]
    port = free_port()
    argv = [sys.executable, "-m", "phoneservice.cli", "--database", url, "serve", "--web-port",
            str(free_port(socket.SOCK_STREAM)), "--config-port", str(free_port(socket.SOCK_STREAM)),
            "--tftp-port", str(port), "--ivr-workers", "0"]
    with open(workdir / "serve.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PHONE_MIGRATION_TFTP__RATE_PER_SOURCE": "0"})
    try:
        wait_ready(port, 60.0)
        started = time.monotonic()
        files = asyncio.run(storm(port, [f"SEP{new_mac(i)}.cnf.xml" for i in range(phones)], args.retransmit,
                                  args.retries))
        wall = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(30)
    right = sum(1 for i, f in enumerate(files)
                if f and etree.fromstring(f).findtext(".//line[@button='1']/name") == f"6{i:04d}")
    with db.read_session() as s:
        records = s.exec(select(func.count()).select_from(MigrationRecord).where(
            MigrationRecord.door == "wave", MigrationRecord.outcome == "migrated")).one()
    view = Waves(db).show("bench")
    db.dispose()
    return dict(staged_s=staged_s, wall=wall, right=right, records=records, applied=view.counts["applied"],
                counts={k: n for k, n in view.counts.items() if n}, lost=sum(1 for f in files if f is None),
                reasons=sorted({r.reason for r in view.rows if r.reason})[:3])


def one_by_one(url: str, phones: int) -> float:
    db = Database(url)
    migrator = Migrator(db)
    started = time.monotonic()
    for i in range(phones):
        migrator.migrate(f"SEP{old_mac(i)}", Target(mac=new_mac(i), model="8851", protocol="SIP"), door="admin",
                         actor="bench")
    wall = time.monotonic() - started
    db.dispose()
    return wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=1000, help=f"rows and phones (1..{MAX_PHONES})")
    parser.add_argument("--retransmit", type=float, default=2.0, help="a phone's retransmit timeout (s)")
    parser.add_argument("--retries", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the sites and serve's log")
    args = parser.parse_args(argv)
    phones = max(1, min(MAX_PHONES, args.phones))
    workdir = Path(tempfile.mkdtemp(prefix="bench-waves-"))
    try:
        url = build_site(workdir / "site.db", phones)
        shutil.copy(workdir / "site.db", workdir / "peer.db")
        wave = wave_run(url, phones, args, workdir)
        peer = one_by_one(f"sqlite:///{workdir / 'peer.db'}", phones)
        print(f"wave of {phones}: staged in {wave['staged_s']:.1f} s ({phones / wave['staged_s']:.0f} rows/s); "
              f"{phones} phones at once: {wave['wall']:.2f} s, {phones / wave['wall']:.0f} files/s and "
              f"{wave['applied'] / wave['wall']:.0f} migrations/s; {wave['right']} new configs right, "
              f"{wave['records']} wave records, {wave['applied']} rows applied")
        print(f"rows {wave['counts']}, phones without a file {wave['lost']}, reasons {wave['reasons']}")
        print(f"Migrate Phone one by one: {phones} migrations in {peer:.2f} s, {phones / peer:.0f} migrations/s")
        print(f"ratio wave / one by one (migrations/s): {(wave['applied'] / wave['wall']) / (phones / peer):.2f}")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
