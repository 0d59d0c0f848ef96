"""Boot storm: N phones fetch their TFTP files at once, against ours and in.tftpd.

Each simulated phone (one UDP socket, its own source address 127.x.y.z so the
per-source rate limit sees phones, not one host) reads what a 78xx/88xx asks
for at boot (docs/protocol.md, "Config files"): ``CTLSEP<MAC>.tlv`` and
``ITLSEP<MAC>.tlv`` (missing: "file not found" is the expected answer, T-1)
then ``SEP<MAC>.cnf.xml`` (about 6 KB), each with ``blksize 1468`` and
``tsize 0``, lock-step, retransmitting its last packet after 1 s (at most 5
times). All phones send their first request in the same reactor turn (no
ramp, unless ``--ramp``). Each storm has an overall deadline.

The same storm runs against
  (a) ours: ``start_ours(args, folder)``, by default ``phone-migration serve``
      on a SQLite database of N phones (8851s with 6 lines, a BEKEM and a BLF:
      about 6 KB of config each) that renders every ``SEP<MAC>.cnf.xml`` per
      request from the database, cached only under the site version stamp
      (``--ours harness``: phoneservice.configfiles.tftp alone over the pre-rendered
      folder, tests/e2e/tftp_folder_server.py); ``--ours-cmd "... {folder}
      ... {port} ..."`` starts another command, and ``--ours-port`` alone points
      at a server already running;
  (b) Debian's tftpd-hpa: ``in.tftpd -L -s FOLDER -a 127.0.0.1:PORT`` (as root
      it drops to ``nobody``, so the folder is world-readable), serving the
      very bytes our renderer produced, rendered into the folder.

Every ``SEP<MAC>.cnf.xml`` is checked byte for byte ("wrong bytes" fails the
file, and the bench ends INVALID). The expected bytes are rendered by the
same resolver in the bench's process only once serve is up and its cache
warm, and again whenever the site stamp has moved since: serve's first start
writes into the database (its web secret), which moves the stamp and every
file's ``versionStamp``, so bytes rendered before it started never match.

The first storm against ``serve`` finds its cache cold (every file rendered
from the database during the storm); later ones find it warm. Each run is
printed; the median is compared.

    python bench/tftp_bootstorm.py [--phones 500] [--runs 3] [--only ours|tftp-hpa]

Printed per server: files/s (all phones' files over the storm's wall time),
p50/p99 time per phone, client retransmits, failures, CPU per file (the
server process's own from /proc/PID/stat, for ours; and "non-bench": the
whole machine's busy time from /proc/stat minus this process, the only fair
figure for in.tftpd, whose forked children are reaped without accounting;
it includes anything else running); then the ratio ours / tftp-hpa of the
median runs.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tftp_phones import Storm, StormResult, mac, wait_ready  # bench/ is on sys.path: the script's folder
from twisted.internet import defer, task

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "tests" / "e2e" / "tftp_folder_server.py"
MAX_PHONES = 5000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cnf_xml(i: int, size: int) -> bytes:
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<device><deviceProtocol>SIP</deviceProtocol>'
            f"<devicePool><name>SEP{mac(i)}</name></devicePool><sipProfile>").encode()
    tail = b"</sipProfile></device>\n"
    filler = b"<sipLines><line button=\"1\"><featureID>9</featureID></line></sipLines>"
    body = (filler * (size // len(filler) + 1))[: max(0, size - len(head) - len(tail))]
    return head + body + tail


def build_site(workdir: Path, phones: int) -> tuple[str, int]:
    """A database of ``phones`` phones; returns its URL and the web port serve will use."""
    sys.path.insert(0, str(REPO))
    from models.services.site import LineSpec, create_device, create_user
    from models.storage.database import Database

    url = f"sqlite:///{workdir / 'site.db'}"
    db = Database(url)
    db.upgrade()
    with db.session() as session:
        for i in range(phones):
            ext = f"2{i:04d}"
            create_user(session, f"user{i}", extension=ext, partition="PT")
            create_device(
                session, mac(i), "8851", "SIP", owner=f"user{i}", description=f"Desk of user {i}", kems=["BEKEM"],
                lines=[LineSpec(ext, "PT", label=f"User {i}", display_name=f"User {i}")]
                + [LineSpec(f"3{(i + k) % phones:04d}", "PT", label=f"Team {k}") for k in range(1, 6)],
                features=[("blf", f"2{(i + 1) % phones:04d}", "Neighbour")],
            )
    db.dispose()
    return url, free_tcp_port()


class Expected:
    """What serve answers, rendered by the same resolver in this process, after serve
    is up and warm, and again whenever the site stamp has moved since (serve's own
    first writes, such as its web secret, or ``--stale``'s change). So the bench
    never races the server's writes, and every SEP<MAC>.cnf.xml is checked byte for byte."""

    def __init__(self, url: str, web_port: int, phones: int) -> None:
        from phoneservice.config import load_config
        from phoneservice.processes.server import build_services

        self.services = build_services(load_config(database={"url": url}, web={"port": web_port}))
        self.phones, self.stamp, self.files = phones, None, {}

    def current(self) -> dict[str, bytes]:
        from models.storage.stamp import current_version

        for _ in range(3):  # a write during the render: render again
            with self.services.db.read_session() as session:
                stamp = current_version(session)
            if stamp == self.stamp:
                return self.files
            self.files = {f"SEP{mac(i)}.cnf.xml": self.services.files.resolve(f"SEP{mac(i)}.cnf.xml")
                          for i in range(self.phones)}
            self.stamp = stamp
        raise SystemExit("the site kept changing while the bench rendered its expected files")

    def close(self) -> None:
        self.services.db.dispose()


def save_folder(folder: Path, files: dict[str, bytes]) -> None:
    """The files in.tftpd serves (as root it drops to nobody: world-readable)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for name, data in files.items():
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o644)


def invalidate(url: str) -> None:
    """A change to the site (as a migration would make): the version stamp moves on."""
    from models.storage.database import Database
    from models.storage.settings import load_settings, save_settings

    db = Database(url)
    with db.session() as session:
        save_settings(session, ivr_route_point=str(int(load_settings(session).ivr_route_point) + 1))
    db.dispose()


def wait_warm(web_port: int, seconds: float = 60.0) -> None:
    """serve renders every known phone once at start; storms measure after that."""
    import json
    import urllib.request

    for _ in range(int(seconds / 0.2)):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=2) as response:
                if json.load(response).get("config_cache") == "warm":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"serve did not warm its config cache in {seconds} s")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_folder(folder: Path, phones: int, size: int) -> dict[str, bytes]:
    """The synthetic files every server serves (``--ours harness``/``--ours-cmd``); returns name -> bytes."""
    files = {f"SEP{mac(i)}.cnf.xml": cnf_xml(i, size) for i in range(phones)}
    save_folder(folder, files)
    return files


# --- servers -----------------------------------------------------------------------


@dataclass
class RunningServer:
    name: str
    port: int
    proc: subprocess.Popen | None = None  # None: started by someone else
    log: Path | None = None

    def cpu_seconds(self) -> float | None:
        """utime + stime of the server and its reaped children."""
        if self.proc is None:
            return None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS

    def stop(self) -> str:
        if self.proc is None:
            return ""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return self.log.read_text().strip() if self.log else ""


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent outside idle and iowait, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ours(args: argparse.Namespace, folder: Path) -> RunningServer:
    """Our TFTP service serving ``folder``.

    Default: ``phone-migration serve`` on the bench's site, returned once its
    config cache is warm; ``--ours harness``: the TFTP service alone over a
    folder lookup (tests/e2e/tftp_folder_server.py). ``--ours-cmd`` replaces
    the command ({folder} and {port} are filled in); ``--ours-port`` without a
    command uses a server already running there.
    """
    if args.ours_port and not args.ours_cmd:
        wait_ready(args.ours_port)
        return RunningServer("ours", args.ours_port)
    port = args.ours_port or free_port()
    if args.ours_cmd:
        argv = [a.format(folder=folder, port=port) for a in shlex.split(args.ours_cmd)]
    elif args.ours == "harness":
        argv = [sys.executable, str(HARNESS), str(folder), "--port", str(port)]
    else:
        argv = [sys.executable, "-m", "phoneservice.cli", "--database", args.site_url, "serve",
                "--web-port", str(args.web_port), "--config-port", str(free_tcp_port()), "--tftp-port", str(port), "--ivr-workers", "0"]
    log = folder.parent / "ours.err"
    with open(log, "wb") as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
    wait_ready(port)
    if argv[1:3] == ["-m", "phoneservice.cli"]:
        wait_warm(args.web_port)
    return RunningServer("ours", port, proc, log)


def start_tftp_hpa(args: argparse.Namespace, folder: Path) -> RunningServer:
    """Debian's in.tftpd in the foreground, chrooted to ``folder``."""
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    port = free_port()
    argv = [binary, "-L", "-s", str(folder), "-a", f"127.0.0.1:{port}"]
    if os.geteuid() != 0:  # it can only drop to nobody as root
        argv[1:1] = ["-u", os.environ.get("USER", "nobody")]
    log = folder.parent / "tftp-hpa.err"
    with open(log, "wb") as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
    wait_ready(port)
    return RunningServer("tftp-hpa", port, proc, log)


# --- main ----------------------------------------------------------------------------


def describe(result: StormResult) -> str:
    files = max(1, result.files_ok + result.failures)
    cpu = f"{result.cpu / files * 1000:.2f} ms" if result.cpu is not None else "n/a"
    other = f"{result.other_cpu / files * 1000:.2f} ms"
    errors = f" {result.errors}" if result.errors else ""
    return (f"{result.server:9s} {result.files_per_s:9.0f} files/s  wall {result.wall:6.3f} s  "
            f"p50 {result.percentile(0.5) * 1000:7.1f} ms  p99 {result.percentile(0.99) * 1000:7.1f} ms  "
            f"retransmits {result.retransmits:4d}  failures {result.failures:4d}  "
            f"CPU/file: server {cpu}, non-bench {other}{errors}")


@defer.inlineCallbacks
def storms(reactor, args: argparse.Namespace, servers: list[RunningServer], expected):
    """``expected(name)``: the bytes each phone must receive from that server, asked just before its storm."""
    results: dict[str, list[StormResult]] = {s.name: [] for s in servers}
    for run in range(args.runs):
        for server in servers:  # alternate so a load spike on the shared machine hits both
            if args.stale and server.name == "ours":
                invalidate(args.site_url)  # every cached file is now stale: the storm renders them all
            storm = Storm(reactor, args, server, expected(server.name))
            cpu_before, machine_before, own_before = server.cpu_seconds(), machine_busy_seconds(), own_cpu_seconds()
            result = yield storm.run(args.ramp, args.deadline)
            yield task.deferLater(reactor, args.settle, lambda: None)
            cpu_after, machine_after, own_after = server.cpu_seconds(), machine_busy_seconds(), own_cpu_seconds()
            result.cpu = None if cpu_before is None else cpu_after - cpu_before
            result.other_cpu = (machine_after - machine_before) - (own_after - own_before)
            results[server.name].append(result)
            print(f"run {run + 1}: {describe(result)}", flush=True)
    return results


def run_storms(args: argparse.Namespace, servers: list[RunningServer], expected):
    from twisted.internet import reactor

    outcome: dict = {}

    def start() -> None:
        d = storms(reactor, args, servers, expected)
        d.addCallback(lambda results: outcome.update(results=results))
        d.addErrback(lambda failure: outcome.update(error=failure))
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    if "error" in outcome:
        outcome["error"].raiseException()
    return outcome.get("results")


def median_run(results: list[StormResult]) -> StormResult:
    return sorted(results, key=lambda r: r.files_per_s)[len(results) // 2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=500, help=f"phones in the storm (1..{MAX_PHONES})")
    parser.add_argument("--runs", type=int, default=3, help="storms per server, alternating; the median is kept")
    parser.add_argument("--config-size", type=int, default=6 * 1024)
    parser.add_argument("--blksize", type=int, default=1468)
    parser.add_argument("--retransmit", type=float, default=1.0, help="phone retransmit timeout (s)")
    parser.add_argument("--retries", type=int, default=5, help="phone retransmits per packet before giving up")
    parser.add_argument("--deadline", type=float, default=60.0, help="overall limit per storm (s)")
    parser.add_argument("--ramp", type=float, default=0.0, help="spread the phones' starts over S seconds (0: all at once)")
    parser.add_argument("--settle", type=float, default=1.0, help="pause after each storm (s)")
    parser.add_argument("--source", choices=["spread", "same"], default="spread",
                        help="each phone its own 127.x.y.z (default) or all from 127.0.0.1")
    parser.add_argument("--only", choices=["ours", "tftp-hpa"], default=None)
    parser.add_argument("--ours", choices=["serve", "harness"], default="serve",
                        help="serve: phone-migration serve rendering from a database (default); harness: TFTP over a folder")
    parser.add_argument("--stale", action="store_true",
                        help="change the site before every storm against serve, so every cached file is stale")
    parser.add_argument("--ours-cmd", default=None, help='command starting our server; "{folder}" and "{port}" are filled in')
    parser.add_argument("--ours-port", type=int, default=None, help="port of our server (alone: already running)")
    parser.add_argument("--any-content", action="store_true",
                        help="accept any complete SEP<MAC>.cnf.xml (a server rendering its own), not only the folder's bytes")
    args = parser.parse_args(argv)
    if not 1 <= args.phones <= MAX_PHONES:
        parser.error(f"--phones must be 1..{MAX_PHONES}")
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be 1..20")
    if not 8 <= args.blksize <= 65464 or not 0 <= args.retries <= 20 or not 0 < args.deadline <= 600:
        parser.error("--blksize 8..65464, --retries 0..20, --deadline 0..600 s")

    workdir = Path(tempfile.mkdtemp(prefix="tftp-bootstorm-"))
    workdir.chmod(0o755)
    folder = workdir / "tftpboot"
    rendering = args.ours == "serve" and not args.ours_cmd and not args.ours_port
    servers: list[RunningServer] = []
    renderer: Expected | None = None
    try:
        if rendering:
            args.site_url, args.web_port = build_site(workdir, args.phones)
        else:
            files = write_folder(folder, args.phones, args.config_size)
        if args.only in (None, "ours"):
            servers.append(start_ours(args, folder))  # serve: up, its cache warm, its first writes made
        if rendering:
            renderer = Expected(args.site_url, args.web_port, args.phones)
            files = dict(renderer.current())  # in.tftpd serves these bytes, whatever --stale does to serve's
            save_folder(folder, files)
            args.config_size = sum(map(len, files.values())) // len(files)
        if args.only in (None, "tftp-hpa"):
            servers.append(start_tftp_hpa(args, folder))
        print(f"{args.phones} phones x 3 files (2 missing .tlv + {args.config_size}-byte cnf.xml), "
              f"blksize {args.blksize} + tsize, sources {args.source}, "
              f"{'all at once' if not args.ramp else f'ramp {args.ramp} s'}; "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)
        results = run_storms(args, servers, lambda name: renderer.current() if renderer and name == "ours" else files)
    finally:
        for server in servers:
            text = server.stop()
            if server.name == "ours" and text:
                print(f"ours, server counters at exit: {text.splitlines()[-1]}")
        if renderer is not None:
            renderer.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if not results:
        raise SystemExit("no results")
    print("median runs:")
    medians = {name: median_run(runs) for name, runs in results.items() if runs}
    for result in medians.values():
        print("  " + describe(result))
    if "ours" in medians and "tftp-hpa" in medians and medians["tftp-hpa"].files_per_s:
        ratio = medians["ours"].files_per_s / medians["tftp-hpa"].files_per_s
        print(f"ratio ours / tftp-hpa (files/s): {ratio:.2f}")
    wrong = sum(r.errors.get("wrong bytes", 0) for runs in results.values() for r in runs)
    if wrong:
        raise SystemExit(f"INVALID: {wrong} config files came back with other bytes than expected")


if __name__ == "__main__":
    main()
