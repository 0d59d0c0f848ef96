"""Screens under load: N emulated phones at once, each walking "Replace an
existing phone" against a running ``phone-migration serve``.

Each flow is what a new 8851 does (PROTOCOL.md): the first screen (menu),
"Replace an existing phone", the extension, the PIN, the preview of what
carries over (one unregistered old phone: no list, D-3), Confirm. Every flow
is a different user and a different new MAC, so every flow really migrates a
phone (6 lines) in the database. Phones keep one HTTP/1.1 connection each, as
the phones' browser does.

    python bench/screens.py [--phones 50] [--flows 500]

Prints complete flows/s, p50/p99 latency of a single screen, p50/p99 of a whole
flow, failures, and the server's CPU per flow.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from lxml import etree

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HEADERS = {"x-CiscoIPPhoneModelName": "CP-8851", "x-CiscoIPPhoneDisplay": "800, 480, 24, C"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_site(url: str, users: int) -> None:
    from models.database import Database
    from models.settings import DeviceDefaults, save_settings
    from models.site import LineSpec, create_device, create_user

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

    from models.auth import trivial_pin_reason

    rng = random.Random(i)
    while True:
        pin = str(rng.randint(100000, 999999))
        if trivial_pin_reason(pin, [f"4{i:04d}"]) is None:
            return pin


class Emulated:
    """One phone: one keep-alive connection; times every screen."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.latencies: list[float] = []

    def get(self, url: str) -> etree._Element:
        parts = urlsplit(url)
        began = time.perf_counter()
        self.conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""), headers=HEADERS)
        response = self.conn.getresponse()
        body = response.read()
        self.latencies.append(time.perf_counter() - began)
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
        return etree.fromstring(body)

    def flow(self, base: str, i: int) -> None:
        name = f"SEP0033{i:08X}"
        doc = self.get(f"{base}/screens/?name={name}")
        replace = [m.findtext("URL") for m in doc.findall("MenuItem") if "Replace" in m.findtext("Name")][0]
        doc = self.get(replace)
        doc = self.get(doc.findtext("URL") + "&" + urlencode({"ext": f"4{i:04d}"}))
        doc = self.get(doc.findtext("URL") + "&" + urlencode({"pin": pin_of(i)}))
        confirm = {k.findtext("Name"): k.findtext("URL") for k in doc.findall("SoftKeyItem")}.get("Confirm")
        if confirm is None:
            raise RuntimeError(f"flow {i}: no preview: {etree.tostring(doc)[:300]!r}")
        doc = self.get(confirm)
        if doc.findtext("Prompt") != "Success":
            raise RuntimeError(f"flow {i}: {doc.findtext('Text')}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:13]) / CLOCK_TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=50, help="phones at once (1..200)")
    parser.add_argument("--flows", type=int, default=500, help="flows in all (1..5000)")
    parser.add_argument("--deadline", type=float, default=300.0)
    args = parser.parse_args()
    if not (1 <= args.phones <= 200 and 1 <= args.flows <= 5000):
        parser.error("--phones 1..200, --flows 1..5000")
    work = Path(tempfile.mkdtemp(prefix="screens-bench-"))
    url = f"sqlite:///{work / 'site.db'}"
    build_site(url, args.flows)
    web = free_port()
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "phoneservice.cli", "--database", url, "serve", "--web-port",
                               str(web), "--config-port", str(free_port()), "--tftp-port", str(free_port()), "--ivr-workers", "0"],
                              stdout=log, stderr=subprocess.STDOUT, cwd=work)
    base = f"http://127.0.0.1:{web}"
    try:
        for _ in range(300):
            try:
                http.client.HTTPConnection("127.0.0.1", web, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        queue = list(range(args.flows))
        lock = threading.Lock()
        phones = [Emulated(web) for _ in range(args.phones)]
        flow_times: list[float] = []
        failures: list[str] = []
        deadline = time.monotonic() + args.deadline

        def run(phone: Emulated) -> None:
            while time.monotonic() < deadline:
                with lock:
                    if not queue:
                        return
                    i = queue.pop()
                began = time.perf_counter()
                try:
                    phone.flow(base, i)
                    with lock:
                        flow_times.append(time.perf_counter() - began)
                except Exception as exc:  # counted and shown, the storm goes on
                    with lock:
                        failures.append(str(exc)[:200])
                    phone.conn.close()

        cpu_before = cpu_seconds(server.pid)
        began = time.perf_counter()
        threads = [threading.Thread(target=run, args=(p,)) for p in phones]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
        wall = time.perf_counter() - began
        cpu = cpu_seconds(server.pid) - cpu_before
        screens = [x for p in phones for x in p.latencies]
        print(f"{args.phones} phones at once, {args.flows} replace flows (5 screens each), {os.cpu_count()} CPUs")
        print(f"complete flows/s: {len(flow_times) / wall:.1f}  ({len(flow_times)} flows in {wall:.2f} s, "
              f"{len(failures)} failures)")
        print(f"screen latency: p50 {percentile(screens, 0.5) * 1000:.1f} ms  p99 {percentile(screens, 0.99) * 1000:.1f} ms"
              f"  ({len(screens)} screens)")
        print(f"flow time: p50 {percentile(flow_times, 0.5) * 1000:.0f} ms  p99 {percentile(flow_times, 0.99) * 1000:.0f} ms")
        print(f"server CPU per flow: {cpu / max(1, len(flow_times)) * 1000:.1f} ms")
        for failure in failures[:5]:
            print("failure:", failure)
    finally:
        server.terminate()
        server.wait(30)
        log.close()


if __name__ == "__main__":
    main()
