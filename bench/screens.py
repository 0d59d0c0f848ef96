"""Screens under load: N emulated phones at once, each walking "Replace an
existing phone" against a running ``phone-migration serve``.

Each flow is what a new 8851 does (docs/protocol.md): the first screen (menu),
"Replace an existing phone", the extension, the PIN, the preview of what
carries over (one unregistered old phone: no list, D-3), Confirm. Every flow
is a different user and a different new MAC, so every flow really migrates a
phone (6 lines) in the database. Phones keep one HTTP/1.1 connection each, as
the phones' browser does; they are asyncio tasks in this process (about 1 ms
of this bench's CPU per flow, so the server has the machine).

    python bench/screens.py [--phones 50] [--flows 500]          # closed loop
    python bench/screens.py --flows 1200 --rate 60               # open loop
    python bench/screens.py --flows 1000 --web-processes 2 --peer 1   # 2 web processes, against 1 in the same go

Closed loop: every phone starts its next flow as soon as the last one ends,
which measures how many flows the server completes at most. Open loop: flows
are due at a fixed rate whether or not the server keeps up, which measures
the screen latency at that load (and, flow times being counted from when a
flow was due, a server that falls behind shows it). The two targets can't be
read off one closed-loop run: with 50 phones always waiting on the server,
the mean screen latency is 50 / (screens per second) by Little's law, so
p99 < 100 ms in a closed loop would need about 250 flows/s.

Prints complete flows/s, p50/p99 latency of a single screen (and the p99 of
each screen), p50/p99 of a whole flow, failures, the server's and this
bench's CPU per flow, and the machine's speed before and after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from lxml import etree

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HEADERS = {"x-CiscoIPPhoneModelName": "CP-8851", "x-CiscoIPPhoneDisplay": "800, 480, 24, C"}
REQUEST_HEADERS = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
PINS: dict[int, str] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_site(url: str, users: int) -> None:
    from models.services.site import LineSpec, create_device, create_user
    from models.storage.database import Database
    from models.storage.settings import save_settings
    from models.tables.settings import DeviceDefaults

    db = Database(url)
    db.upgrade()
    with db.session() as s:
        save_settings(s, autoreg_enabled=False)
        s.add(DeviceDefaults(model="8851", onboarding_method="activation_code"))
    with db.session() as s:
        for i in range(users):
            ext = f"4{i:04d}"
            create_user(s, f"bench{i}", extension=ext, partition="PT", pin=pin_of(i))
            create_device(s, f"0022{i:08X}", "8841", owner=f"bench{i}", registration="unregistered",
                          description=f"Bench desk {i}",
                          lines=[LineSpec(ext, "PT", label=f"User {i}")] + [LineSpec(f"5{i:04d}{k}", "PT") for k in range(5)])
    db.dispose()


def pin_of(i: int) -> str:
    """A 6-digit PIN per user that passes the trivial-PIN check (deterministic)."""
    import random

    from models.rules.auth import trivial_pin_reason

    rng = random.Random(i)
    while True:
        pin = str(rng.randint(100000, 999999))
        if trivial_pin_reason(pin, [f"4{i:04d}"]) is None:
            return pin


class Emulated:
    """One phone: one keep-alive HTTP/1.1 connection (asyncio, so the bench's own
    CPU stays small beside the server's on two cores); times every screen."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.port, self.host = port, host
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.latencies: list[float] = []
        self.by_screen: dict[str, list[float]] = {}

    async def get(self, url: str) -> etree._Element:
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        began = time.perf_counter()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{REQUEST_HEADERS}\r\n".encode())
        status, body = await asyncio.wait_for(self._response(), 30)
        elapsed = time.perf_counter() - began
        self.latencies.append(elapsed)
        self.by_screen.setdefault(parts.path.rsplit("/", 1)[-1] or "first", []).append(elapsed)
        if status != 200:
            raise RuntimeError(f"{url}: HTTP {status}")
        return etree.fromstring(body)

    async def _response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
                body = body[:-2]
            await self.reader.readuntil(b"\r\n")
            return status, body
        return status, await self.reader.readexactly(int(headers.get("content-length", "0")))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def flow(self, base: str, i: int) -> None:
        name = f"SEP0033{i:08X}"
        doc = await self.get(f"{base}/screens/?name={name}")
        replace = [m.findtext("URL") for m in doc.findall("MenuItem") if "Replace" in m.findtext("Name")][0]
        doc = await self.get(replace)
        doc = await self.get(doc.findtext("URL") + "&" + urlencode({"ext": f"4{i:04d}"}))
        doc = await self.get(doc.findtext("URL") + "&" + urlencode({"pin": PINS[i]}))
        confirm = {k.findtext("Name"): k.findtext("URL") for k in doc.findall("SoftKeyItem")}.get("Confirm")
        if confirm is None:
            raise RuntimeError(f"flow {i}: no preview: {etree.tostring(doc)[:300]!r}")
        doc = await self.get(confirm)
        if doc.findtext("Prompt") != "Success":
            raise RuntimeError(f"flow {i}: {doc.findtext('Text')}")


def wait_ready(port: int, processes: int, seconds: float = 60.0) -> None:
    """Until the server and all its web workers accept (a phone keeps its connection,
    so one that connected before a worker was up would stay on the main process)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/metrics")
            text = connection.getresponse().read().decode()
            up = [line for line in text.splitlines() if line.startswith("pm_web_workers_up ")]
            if processes == 1 or (up and float(up[0].split()[1]) >= processes - 1):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not come up within {seconds:g} s")


def machine_speed() -> float:
    """Seconds for 10^7 additions in a Python function: this VM's speed swings by
    up to half within minutes, so every run prints it (about 0.30 s when fast)."""
    began, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - began


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """The server's CPU: its process and its children (the web workers)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = sum(int(v) for v in fields[11:13]) / CLOCK_TICKS
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(cpu_seconds(int(child)) for child in children)


async def storm(port: int, flows: int, phones: int, rate: float | None, deadline: float) -> dict:
    """Closed loop (``rate`` None): every phone starts its next flow as soon as
    the last one ends. Open loop: flow i is due at ``i / rate`` seconds and its
    time is counted from then, so a server that falls behind shows it (no
    coordinated omission)."""
    base = f"http://127.0.0.1:{port}"
    emulated = [Emulated(port) for _ in range(phones)]
    flow_times: list[float] = []
    failures: list[str] = []
    late: list[float] = []
    began = time.perf_counter()
    stop = time.monotonic() + deadline

    async def run(k: int, phone: Emulated) -> None:
        for i in range(k, flows, phones):
            due = began + i / rate if rate else time.perf_counter()
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                late.append(-wait)
            if time.monotonic() > stop:
                return
            try:
                await phone.flow(base, i)
                flow_times.append(time.perf_counter() - due)
            except Exception as exc:  # counted and shown, the storm goes on
                failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                phone.close()
        phone.close()

    await asyncio.gather(*(run(k, phone) for k, phone in enumerate(emulated)))
    return {"wall": time.perf_counter() - began, "flow_times": flow_times, "failures": failures,
            "screens": [x for p in emulated for x in p.latencies], "late": late,
            "by_screen": {k: [x for p in emulated for x in p.by_screen.get(k, ())] for k in emulated[0].by_screen}}


def run(args, processes: int) -> float:
    """One server with ``processes`` web processes, one storm; prints its figures, returns flows/s."""
    work = Path(tempfile.mkdtemp(prefix="screens-bench-"))
    url = f"sqlite:///{work / 'site.db'}"
    build_site(url, args.flows)
    web = free_port()
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "phoneservice.cli", "--database", url, "serve", "--web-port",
                               str(web), "--config-port", str(free_port()), "--tftp-port", str(free_port()), "--ivr-workers", "0",
                               "--web-processes", str(processes)],
                              stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        wait_ready(web, processes)
        speed_before = machine_speed()
        cpu_before = cpu_seconds(server.pid)
        mine_before = time.process_time()
        result = asyncio.run(storm(web, args.flows, args.phones, args.rate, args.deadline))
        cpu = cpu_seconds(server.pid) - cpu_before
        mine = time.process_time() - mine_before
        done, screens, late = result["flow_times"], result["screens"], result["late"]
        mode = f"open loop, {args.rate:g} flows/s offered" if args.rate else "closed loop"
        rate = len(done) / result["wall"]
        print(f"{args.phones} phones at once, {args.flows} replace flows (5 screens each), {mode}, "
              f"{processes} web process{'es' if processes > 1 else ''}, {os.cpu_count()} CPUs")
        print(f"complete flows/s: {rate:.1f}  ({len(done)} flows in {result['wall']:.2f} s, "
              f"{len(result['failures'])} failures)")
        print(f"screen latency: p50 {percentile(screens, 0.5) * 1000:.1f} ms  p99 {percentile(screens, 0.99) * 1000:.1f} ms"
              f"  ({len(screens)} screens)")
        print("  p99 by screen: " + ", ".join(f"{k} {percentile(v, 0.99) * 1000:.0f} ms"
                                                for k, v in result["by_screen"].items()))
        print(f"flow time: p50 {percentile(done, 0.5) * 1000:.0f} ms  p99 {percentile(done, 0.99) * 1000:.0f} ms"
              + (f"  (from when due; {len(late)} flows started late, by up to {max(late, default=0) * 1000:.0f} ms)"
                 if args.rate else ""))
        print(f"CPU per flow: server {cpu / max(1, len(done)) * 1000:.1f} ms (every web process), "
              f"this bench {mine / max(1, len(done)) * 1000:.1f} ms")
        print(f"machine speed: 10^7 additions in {speed_before:.2f} s before, {machine_speed():.2f} s after "
              "(about 0.30 s when this VM is fast)")
        for failure in result["failures"][:5]:
            print("failure:", failure)
        return rate
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=50, help="phones at once (1..200)")
    parser.add_argument("--flows", type=int, default=500, help="flows in all (1..5000)")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: start this many flows a second (else each phone goes again at once)")
    parser.add_argument("--web-processes", type=int, default=1, help="the server's web.processes (1..8)")
    parser.add_argument("--peer", type=int, default=None, metavar="P",
                        help="first run the same storm against a server with P web processes, then print the ratio")
    parser.add_argument("--deadline", type=float, default=300.0)
    args = parser.parse_args()
    if not (1 <= args.phones <= 200 and 1 <= args.flows <= 5000) or (args.rate is not None and not 1 <= args.rate <= 1000) \
            or not 1 <= args.web_processes <= 8 or not 1 <= (args.peer or 1) <= 8:
        parser.error("--phones 1..200, --flows 1..5000, --rate 1..1000, --web-processes and --peer 1..8")
    PINS.update((i, pin_of(i)) for i in range(args.flows))
    peer = run(args, args.peer) if args.peer else None
    if peer:
        print()
    rate = run(args, args.web_processes)
    if peer:
        print(f"\nratio, {args.web_processes} web processes to {args.peer}: {rate / peer:.2f}")


if __name__ == "__main__":
    main()
