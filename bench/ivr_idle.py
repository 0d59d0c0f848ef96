"""What an idle IVR worker costs, and how fast it still answers (I-5), against the landed design.

Each design is a tree (a git worktree, see docs/benchmarks.md session 8) run
with ``PYTHONPATH`` at it, so its packages shadow the editable install; the
designs run side by side, at the same time, under the same load:

    git worktree add --detach /tmp/peer <landed commit>; git worktree add --detach /tmp/cur <new commit>
    python bench/ivr_idle.py --design landed=/tmp/peer --design new=/tmp/cur \\
        --design new-100ms=/tmp/cur:--idle-poll=0.1 --workers 10 --seconds 30 --calls 20

For every design: a demo database of its own (``init-db --demo`` by that
tree), N workers started as the supervisor starts them
(``python -m phoneservice.processes.ivr_worker``, UDP and TCP on loopback),
each checked with an OPTIONS (a design with a worker that did not answer is
INVALID, and so is one whose ``ivr.worker`` is not from its tree). Then:

- idle CPU: every worker's utime + stime from ``/proc/<pid>/stat`` over
  ``--seconds``, as % of one core a worker (mean, min, max), while every
  worker gets an OPTIONS every ``--ping`` seconds, as Kamailio's dispatcher
  pings them (``ds_ping_interval`` 5 in docs/deploy/kamailio.cfg);
- memory: PSS and USS a worker (``/proc/<pid>/smaps_rollup``);
- answer latency on idle workers: OPTIONS -> 200 once a worker, then
  ``--calls`` calls round-robin over the workers (the demo's new phone, DN
  9000: INVITE -> 200 OK, ACK, BYE), p50/p95/max, the designs alternating;
- the ratio of each design to the first.

Every wait is bounded; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from sip_raw import RawCaller  # noqa: E402 - the e2e tests' raw UDP caller

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Design:
    name: str
    tree: Path
    extra: list[str]
    dir: Path | None = None
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    invalid: str = ""
    cpu: list[float] = field(default_factory=list)
    pss: list[float] = field(default_factory=list)
    uss: list[float] = field(default_factory=list)
    options_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)

    def env(self) -> dict:
        return dict(os.environ, PYTHONPATH=str(self.tree))


def parse_design(text: str) -> Design:
    name, _, rest = text.partition("=")
    tree, _, extra = rest.partition(":")
    if not name or not tree:
        raise argparse.ArgumentTypeError("NAME=TREE[:--opt=value,...]")
    return Design(name, Path(tree).resolve(), [a for a in extra.split(",") if a])


def free_ports(count: int, taken: set[int]) -> list[int]:
    """``count`` ports free for UDP and TCP on loopback, outside ``taken`` (RTP ranges follow the SIP port)."""
    found: list[int] = []
    for port in range(22000, 22000 + 4000):
        if len(found) == count:
            break
        if port in taken:
            continue
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind(("127.0.0.1", port))
            found.append(port)
        except OSError:
            continue
    if len(found) < count:
        raise SystemExit("not enough free ports")
    return found


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def memory_mb(pid: int) -> tuple[float, float]:
    """(PSS, USS) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0]) / 1024
    return values.get("Pss", 0.0), values.get("Private_Clean", 0.0) + values.get("Private_Dirty", 0.0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def start(design: Design, workdir: Path, ports: list[int]) -> None:
    design.dir = workdir / design.name
    design.dir.mkdir()
    env = design.env()
    where = subprocess.run([sys.executable, "-c", "import ivr.worker; print(ivr.worker.__file__)"], env=env,
                           cwd=design.dir, capture_output=True, text=True, timeout=60).stdout.strip()
    if not where.startswith(str(design.tree)):
        design.invalid = f"ivr.worker from {where!r}, not {design.tree}"
        return
    url = f"sqlite:///{design.dir / 'pm.db'}"
    subprocess.run([sys.executable, "-m", "phoneservice.cli", "--database", url, "init-db", "--demo"], env=env,
                   cwd=design.dir, check=True, capture_output=True, timeout=120)
    design.ports = ports
    for port in ports:
        log = open(design.dir / f"worker-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        design.procs.append(subprocess.Popen(
            [sys.executable, "-m", "phoneservice.processes.ivr_worker", "--database", url, "--host", "127.0.0.1",
             "--port", str(port), "--drain-timeout", "5", *design.extra],
            env=env, cwd=design.dir, stdout=subprocess.PIPE, stderr=log))


def wait_ready(design: Design, deadline: float) -> None:
    for port, proc in zip(design.ports, design.procs):
        while True:
            if proc.poll() is not None:
                lines = (design.dir / f"worker-{port}.log").read_text(errors="replace").strip().splitlines()
                design.invalid = f"worker {port} exited {proc.returncode}: {lines[-1][:300] if lines else ''}"
                return
            line = _readline(proc, deadline)
            if line is None:
                design.invalid = f"worker {port}: no READY line in time"
                return
            if line.strip() == f"READY {port}":
                break


def _readline(proc: subprocess.Popen, deadline: float) -> str | None:
    import select

    buffered = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                return None
            buffered += chunk
            if chunk == b"\n":
                return buffered.decode(errors="replace")
    return None


def options_ms(port: int, timeout: float = 5.0) -> float | None:
    caller = RawCaller(port)
    try:
        began = time.perf_counter()
        answer = caller.options(timeout)
        return (time.perf_counter() - began) * 1000 if answer.status == 200 else None
    except AssertionError:
        return None
    finally:
        caller.close()


def call_ms(port: int, rtp_port: int) -> float | None:
    """INVITE -> 200 OK as the demo's new phone, then ACK and BYE; None when the call was not answered."""
    caller = RawCaller(port)
    try:
        began = time.perf_counter()
        dialog = caller.invite(rtp_port=rtp_port)
        final = caller.until_final(dialog, 10.0)
        took = (time.perf_counter() - began) * 1000
        caller.ack(dialog, final)
        if final.status != 200:
            return None
        caller.hang_up(dialog, 10.0)
        return took
    except AssertionError:
        return None
    finally:
        caller.close()


def pinger(ports: list[int], every: float, until: threading.Event) -> threading.Thread:
    """An OPTIONS to every worker every ``every`` seconds (Kamailio's dispatcher ping), until ``until`` is set."""

    def run() -> None:
        while not until.wait(every):
            for port in ports:
                options_ms(port, timeout=2.0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def stop(design: Design) -> None:
    for proc in design.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in design.procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", action="append", type=parse_design, required=True,
                        help="NAME=TREE[:--worker-opt=value,...]; the first is the reference of the ratios")
    parser.add_argument("--workers", type=int, default=10, help="workers a design")
    parser.add_argument("--seconds", type=float, default=30.0, help="idle CPU sampling window")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds idle before sampling")
    parser.add_argument("--ping", type=float, default=5.0, help="seconds between OPTIONS pings (0: none)")
    parser.add_argument("--calls", type=int, default=20, help="calls a design, round-robin over its workers")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (worker logs)")
    args = parser.parse_args()
    designs: list[Design] = args.design
    workdir = Path(tempfile.mkdtemp(prefix="ivr-idle-"))
    print(f"load average before: {open('/proc/loadavg').read().strip()}  ({os.cpu_count()} CPUs)", flush=True)
    try:
        ports = free_ports(args.workers * len(designs), set())
        for i, design in enumerate(designs):
            start(design, workdir, ports[i * args.workers:(i + 1) * args.workers])
        deadline = time.monotonic() + 180
        for design in designs:
            if not design.invalid:
                wait_ready(design, deadline)
        for design in designs:  # really up: every worker answers an OPTIONS
            for port in design.ports if not design.invalid else ():
                if options_ms(port) is None:
                    design.invalid = f"worker {port} did not answer an OPTIONS"
                    break
        live = [d for d in designs if not d.invalid]
        pinging = threading.Event()
        ping = pinger([p for d in live for p in d.ports], args.ping, pinging) if args.ping > 0 else None
        time.sleep(args.settle)

        before = {(d.name, p.pid): cpu_ticks(p.pid) for d in live for p in d.procs}
        began = time.monotonic()
        time.sleep(args.seconds)
        after = {(d.name, p.pid): cpu_ticks(p.pid) for d in live for p in d.procs}
        wall = time.monotonic() - began
        pinging.set()
        if ping is not None:
            ping.join(timeout=30)
        for d in live:
            for p in d.procs:
                used = (after[d.name, p.pid] - before[d.name, p.pid]) / CLOCK_TICKS
                d.cpu.append(100 * used / wall)
                pss, uss = memory_mb(p.pid)
                d.pss.append(pss)
                d.uss.append(uss)
        print(f"load average after the idle window: {open('/proc/loadavg').read().strip()}", flush=True)

        for i in range(args.workers):  # OPTIONS on idle workers, the designs alternating
            for d in (live if i % 2 == 0 else live[::-1]):
                time.sleep(random.uniform(0.0, 0.1))
                took = options_ms(d.ports[i])
                if took is not None:
                    d.options_ms.append(took)
        time.sleep(3.0)  # past the fast-poll tail of those OPTIONS
        for k in range(args.calls):
            for d in (live if k % 2 == 0 else live[::-1]):
                time.sleep(random.uniform(0.0, 0.1))
                port = d.ports[k % args.workers]
                took = call_ms(port, 40000 + 2 * (k % 500))
                if took is not None:
                    d.answer_ms.append(took)
    finally:
        for design in designs:
            stop(design)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"load average at the end: {open('/proc/loadavg').read().strip()}")
    print(f"{'design':<12} {'idle CPU %/worker mean (min-max)':>34} {'PSS MB':>7} {'USS MB':>7} "
          f"{'OPTIONS p50/p95/max ms':>24} {'answer p50/p95/max ms':>24} {'answered':>9}")
    for d in designs:
        if d.invalid:
            print(f"{d.name:<12} INVALID: {d.invalid}")
            continue
        mean = sum(d.cpu) / len(d.cpu)
        print(f"{d.name:<12} {mean:>19.2f} ({min(d.cpu):.2f}-{max(d.cpu):.2f}) "
              f"{sum(d.pss) / len(d.pss):>7.1f} {sum(d.uss) / len(d.uss):>7.1f} "
              f"{percentile(d.options_ms, .5):>10.1f}/{percentile(d.options_ms, .95):.1f}/{max(d.options_ms, default=0):.1f}"
              f" {percentile(d.answer_ms, .5):>10.1f}/{percentile(d.answer_ms, .95):.1f}/{max(d.answer_ms, default=0):.1f}"
              f" {len(d.answer_ms):>5}/{args.calls}")
    reference = designs[0]
    if reference.invalid or not reference.cpu:
        return
    base = sum(reference.cpu) / len(reference.cpu)
    for d in designs[1:]:
        if d.cpu:
            print(f"{d.name} / {reference.name}: idle CPU x{sum(d.cpu) / len(d.cpu) / base:.2f}, "
                  f"answer p95 x{percentile(d.answer_ms, .95) / percentile(reference.answer_ms, .95):.2f}")


if __name__ == "__main__":
    main()
