"""IVR calls under load: SIPp through Kamailio into N supervised IVR workers.

Starts ``phone-migration serve --demo --ivr-workers N`` (SQLite, temp dir),
Kamailio with ``docs/deploy/kamailio.cfg`` and a dispatcher list for the
workers, then raises the number of simultaneous calls step by step. Every
call walks the menu as the demo's new phone (DN 9000): INVITE, 200, ACK, 1 s
of welcome prompt, RFC 2833 "2" (replace), 1 s, "5" (first key of the
extension), 1 s, BYE. A step fails when any call fails (SIPp's count, which
includes 503 from Kamailio once every worker holds its 4 calls).

    python bench/ivr_load.py                       # 3 workers: steps of 4 up to 16
    python bench/ivr_load.py --workers 50 --step 25 --max 225
    python bench/ivr_load.py --workers 50 --start 200 --max 200 --compare --runs 3   # I-6 against exec
    python bench/ivr_load.py --zygote --workers 50 --start 200 --max 200 --repeat 2 --runs 3 --peer HEAD~1

Prints per step: calls ok/failed, the peak of calls in progress seen by
Kamailio, time to answer (INVITE -> 200) p50/p95, calls whose digits reached
the IVR, CPU (% of one core) and RSS per worker, Kamailio's and the main
process's CPU; then the highest step with 0 failures. Bounded by --deadline.

Before the steps, the idle IVR: its processes' CPU over ``--idle`` seconds
(the workers, and the zygote when there is one) and their PSS
(``/proc/<pid>/smaps_rollup``: shared pages counted once over the sharers).
``--zygote`` starts the workers from the zygote (``ivr.zygote``, I-6);
``--compare`` runs each of ``--runs`` rounds twice, exec then zygote, the
landed design as the peer in the same go, and prints their ratios;
``--peer REV`` runs each round first on a git revision of this repository
(a worktree on ``PYTHONPATH``, same design), then on this tree, and prints
both answer p95s step by step (the first step after a start is the one a
worker's first calls slow down, I-8). A run
whose every call ended but not in the IVR's log, or whose workers restarted,
prints INVALID instead of its figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from peer import worktree  # noqa: E402 - bench/peer.py, beside this script

CFG = REPO / "docs" / "deploy" / "kamailio.cfg"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
DTMF = "/usr/share/sip-tester/dtmf_2833_{}.pcap"

# "2" then "5": the second pcap's RTP sequence numbers are ahead of the first's,
# so pjmedia takes both (see tests/e2e/sipp/ivr_replace.xml).
SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="IVR menu walk">
  <send retrans="500" start_rtd="answer">
    <![CDATA[
      INVITE sip:8000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:9000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:8000@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:9000@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="answer" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:9000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:9000@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1000"/>
  <nop><action><exec play_pcap_audio="DTMF_2"/></action></nop>
  <pause milliseconds="1000"/>
  <nop><action><exec play_pcap_audio="DTMF_5"/></action></nop>
  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:9000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:9000@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
""".replace("DTMF_2", DTMF.format(2)).replace("DTMF_5", DTMF.format(5))


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_sip_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free for UDP and TCP."""
    for base in range(21000, 60000 - count, 1000):
        held = []
        try:
            for port in range(base, base + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise SystemExit("no consecutive free ports")


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError):
        return 0


def pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError):
        return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def machine_busy() -> tuple[int, int]:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]  # guest is in user
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Rig:
    def __init__(self, workdir: Path, workers: int, zygote: bool = False, warm: int | None = None,
                 tree: Path | None = None) -> None:
        self.dir, self.workers, self.warm = workdir, workers, warm
        self.web = free_port()
        self.ivr_port = free_sip_ports(workers)
        self.sip_port = 0  # Kamailio's SIP port (UDP and TCP), chosen once the workers hold their RTP ports
        for sub in ("loads", "licenses"):
            (workdir / sub).mkdir()
        env = dict(os.environ, PHONE_MIGRATION_FILES__LOADS_DIR=str(workdir / "loads"),
                   PHONE_MIGRATION_FILES__LICENSES_DIR=str(workdir / "licenses"),
                   PHONE_MIGRATION_IVR__READY_TIMEOUT="120", PHONE_MIGRATION_IVR__ZYGOTE=str(zygote).lower(),
                   **({"PHONE_MIGRATION_IVR__WARM": str(warm)} if warm else {}),
                   **({"PYTHONPATH": str(tree)} if tree else {}))  # --peer: that revision's code, every process
        self.server_log = workdir / "server.log"
        with open(self.server_log, "wb") as log:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "phoneservice.cli", "--database", f"sqlite:///{workdir / 'pm.db'}", "serve",
                 "--demo", "--web-port", str(self.web), "--config-port", str(free_port()),
                 "--tftp-port", str(free_port(socket.SOCK_DGRAM)), "--ivr-workers", str(workers),
                 "--ivr-port", str(self.ivr_port)],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.kamailio = None

    def health(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web}/healthz", timeout=10) as response:
            return json.loads(response.read())

    def wait_workers(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SystemExit("serve exited:\n" + self.server_log.read_text()[-3000:])
            try:
                ivr = self.health()["ivr"]
                if ivr["up"] == (self.warm or self.workers):
                    return [w["pid"] for w in ivr["workers"] if w["state"] == "up"]
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the {self.warm or self.workers} workers were not up within {timeout:.0f} s")

    def start_kamailio(self) -> None:
        from ivr.kamailio import WorkerHost, write_dispatcher_list

        run = self.dir / "run"
        run.mkdir()
        self.sip_port = free_sip_ports(1)
        ds = write_dispatcher_list(self.dir / "ivr-workers.list", [WorkerHost("127.0.0.1", self.ivr_port, self.workers)])
        self.ctl = f"unix:{run}/kamailio_ctl"
        with open(self.dir / "kamailio.log", "wb") as log:
            self.kamailio = subprocess.Popen(
                ["kamailio", "-f", str(CFG), "-DD", "-E", "-m", "128", "-M", "16", "-w", str(self.dir), "-Y", str(run),
                 "-P", str(run / "kamailio.pid"), "-A", f"LISTEN=udp:127.0.0.1:{self.sip_port}",
                 "-A", f"LISTEN_TCP=tcp:127.0.0.1:{self.sip_port}", "-A", f"RPC_PORT={free_port()}",
                 "-A", f'DS_LIST="{ds}"', "-A", f'CTL_SOCKET="{self.ctl}"'],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            loads = self.loads()
            if len(loads) == self.workers and all(f.startswith("A") for f, _ in loads.values()):
                return
            time.sleep(0.3)
        raise SystemExit("Kamailio did not list every worker as active")

    def loads(self) -> dict[str, tuple[str, int]]:
        try:
            out = subprocess.run(["kamcmd", "-s", self.ctl, "dispatcher.list"], capture_output=True, text=True,
                                 timeout=10).stdout
        except subprocess.TimeoutExpired:
            return {}
        return {uri: (flags, int(load)) for uri, flags, load in
                re.findall(r"URI: (\S+)\s+FLAGS: (\w+).*?DLGLOAD: (\d+)", out, re.S)}

    def stop(self) -> None:
        for proc in (self.kamailio, self.server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


class Sampler(threading.Thread):
    """Peak calls in progress (Kamailio's loads) and peak RSS per worker while a step runs."""

    def __init__(self, rig: Rig, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.rig, self.pids = rig, pids
        self.peak_calls = 0
        self.peak_rss = {pid: rss_mb(pid) for pid in pids}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.peak_calls = max(self.peak_calls, sum(load for _, load in self.rig.loads().values()))
            for pid in self.pids:
                self.peak_rss[pid] = max(self.peak_rss[pid], rss_mb(pid))


def run_step(rig: Rig, pids: list[int], calls: int, scenario: Path, step_dir: Path) -> dict:
    step_dir.mkdir()
    log_mark = rig.server_log.stat().st_size
    kam_pids = [rig.kamailio.pid] + children(rig.kamailio.pid)
    watched = {"worker": pids, "kamailio": kam_pids, "server": [rig.server.pid]}
    before = {name: [cpu_ticks(p) for p in group] for name, group in watched.items()}
    busy0, total0 = machine_busy()
    sampler = Sampler(rig, pids)
    sampler.start()
    rate = min(max(calls, 10), 200)
    began = time.monotonic()
    sipp = subprocess.run(
        ["sipp", f"127.0.0.1:{rig.sip_port}", "-sf", str(scenario), "-i", "127.0.0.1", "-mi", "127.0.0.1",
         "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(free_sip_ports(4)), "-m", str(calls), "-l", str(calls),
         "-r", str(rate), "-nostdin", "-timeout", "60s", "-trace_stat", "-stf", "stat.csv", "-fd", "1",
         # a --peer revision before I-9 answers 180 first, which Kamailio's processes can relay after the 200
         # under load: a phone ignores it, and so does the bench (a call that fails still fails: no 200, a timeout)
         "-default_behaviors", "all,-abortunexp",
         "-trace_rtt", "-rtt_freq", "1", "-trace_err", "-error_file", "errors.log"],
        cwd=step_dir, capture_output=True, text=True, timeout=90)
    wall = time.monotonic() - began
    sampler.done.set()
    sampler.join(5)
    busy1, total1 = machine_busy()
    after = {name: [cpu_ticks(p) for p in group] for name, group in watched.items()}
    cpu = {name: [(a - b) / CLOCK_TICKS / wall * 100 for a, b in zip(after[name], before[name])]
           for name in watched}

    ok = failed = 0
    with open(step_dir / "stat.csv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    if rows:
        ok, failed = int(rows[-1]["SuccessfulCall(C)"]), int(rows[-1]["FailedCall(C)"])
    answer_ms = []
    for rtt in step_dir.glob("*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                answer_ms.append(float(parts[1]))
    errors = (step_dir / "errors.log").read_text(errors="replace") if (step_dir / "errors.log").exists() else ""
    why: dict[str, int] = {}
    for code in re.findall(r"Aborting call .*?received 'SIP/2\.0 (\d{3})", errors):
        why[code] = why.get(code, 0) + 1
    timeouts = len(re.findall(r"timeout", errors, re.I))
    if timeouts:
        why["timeout"] = timeouts
    with open(rig.server_log, "rb") as f:
        f.seek(log_mark)
        tail = f.read().decode(errors="replace")
    phases = re.findall(r'"event": "ivr_call_ended".*?"phase": "(\w+)"', tail)
    walked = sum(p == "identify" for p in phases)  # "2" took it to the extension, "5" was typed
    return {
        "calls": calls, "ok": ok, "failed": failed + (calls - ok - failed), "sipp_rc": sipp.returncode, "why": why,
        "peak": sampler.peak_calls, "answer_p50": percentile(answer_ms, 0.5), "answer_p95": percentile(answer_ms, 0.95),
        "walked": walked, "ended": len(phases),
        "worker_cpu_mean": statistics.fmean(cpu["worker"]), "worker_cpu_max": max(cpu["worker"]),
        "worker_rss_mean": statistics.fmean(sampler.peak_rss.values()), "worker_rss_max": max(sampler.peak_rss.values()),
        "kamailio_cpu": sum(cpu["kamailio"]), "server_cpu": sum(cpu["server"]),
        "machine_cpu": (busy1 - busy0) / max(1, total1 - total0) * 100 * os.cpu_count(), "wall": wall,
    }


def run_design(args, zygote: bool, steps: list[int], began: float, tree: Path | None = None,
               label: str | None = None) -> dict:
    """One serve with its workers (exec'd, or forked by the zygote): idle cost, then the steps.
    ``tree``: a worktree whose code serve runs instead of this one (``--peer``)."""
    workdir = Path(tempfile.mkdtemp(prefix="ivr-load-"))
    scenario = workdir / "menu_walk.xml"
    scenario.write_text(SCENARIO)
    rig = Rig(workdir, args.workers, zygote, args.warm, tree)
    results, invalid = [], []
    try:
        pids = rig.wait_workers(timeout=min(300, args.deadline / 2))
        started = time.monotonic() - began
        ivr = pids + sorted({parent for parent in (parent_of(pid) for pid in pids) if parent != rig.server.pid})
        rig.start_kamailio()
        time.sleep(3)  # Kamailio's first OPTIONS pings answered: an idle site
        ticks = [cpu_ticks(pid) for pid in ivr]
        time.sleep(args.idle)
        idle_cpu = sum((cpu_ticks(pid) - t) / CLOCK_TICKS / args.idle * 100 for pid, t in zip(ivr, ticks))
        idle = {"cpu": idle_cpu, "pss": sum(pss_mb(pid) for pid in ivr),
                "worker_pss": statistics.fmean(pss_mb(pid) for pid in pids),
                "rss": statistics.fmean(rss_mb(pid) for pid in pids)}
        print(f"{label or ('zygote' if zygote else 'exec')}: {len(pids)} of {args.workers} workers up in {started:.1f} s; idle IVR "
              f"({len(ivr)} processes): CPU {idle['cpu']:.1f}% of a core, PSS {idle['pss']:.0f} MB "
              f"({idle['worker_pss']:.1f} MB a worker, RSS {idle['rss']:.0f}); Kamailio on udp {rig.sip_port}")
        print("calls  ok  failed  peak  answer p50/p95 ms  digits  worker CPU% mean/max  worker RSS MB mean/max"
              "  kamailio CPU%  server CPU%  machine CPU%")
        for calls in steps:
            if time.monotonic() - began > args.deadline - 30:
                print("deadline reached")
                break
            r = run_step(rig, pids, calls, scenario, workdir / f"step-{len(results) + 1}-{calls}")
            results.append(r)
            if not r["failed"] and r["ended"] != calls:
                invalid.append(f"{calls} calls succeeded for SIPp but the IVR logged {r['ended']} ended")
            print(f"{r['calls']:5} {r['ok']:4} {r['failed']:6} {r['peak']:5}  {r['answer_p50']:7.1f} /{r['answer_p95']:7.1f}"
                  f"  {r['walked']:3}/{r['ended']:<3}  {r['worker_cpu_mean']:8.1f} /{r['worker_cpu_max']:5.1f}"
                  f"  {r['worker_rss_mean']:10.1f} /{r['worker_rss_max']:5.1f}  {r['kamailio_cpu']:12.1f}"
                  f"  {r['server_cpu']:10.1f}  {r['machine_cpu']:11.1f}", flush=True)
            if r["failed"]:
                break
            deadline = time.monotonic() + 15  # every slot free again before the next step
            while time.monotonic() < deadline and any(load for _, load in rig.loads().values()):
                time.sleep(0.25)
            time.sleep(3)  # and the workers done with the last BYEs (Kamailio frees a slot as the BYE passes)
        restarts = sum(w["restarts"] for w in rig.health()["ivr"]["workers"])
        if restarts:
            invalid.append(f"{restarts} worker restarts during the run")
    finally:
        rig.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")
    clean = [r for r in results if not r["failed"]]
    best = max(clean, key=lambda r: r["calls"]) if clean else None
    if invalid:
        print("INVALID: " + "; ".join(invalid))
    elif best:
        print(f"max simultaneous calls with 0 failures: {best['calls']} (peak seen by Kamailio {best['peak']}); "
              f"time to answer p95 {best['answer_p95']:.1f} ms; digits {best['walked']}/{best['ended']}; per worker "
              f"CPU {best['worker_cpu_mean']:.1f}% (max {best['worker_cpu_max']:.1f}%), RSS "
              f"{best['worker_rss_mean']:.0f} MB (max {best['worker_rss_max']:.0f} MB)")
    elif steps:
        print("no step without failures")
    failing = [r for r in results if r["failed"]]
    if failing:
        print(f"first failing step: {failing[0]['calls']} calls, {failing[0]['failed']} failed "
              f"(SIPp saw: {failing[0]['why'] or 'see errors.log'})")
    return {"idle": idle, "best": best, "invalid": invalid, "steps": results}


def p95s(design: dict) -> str:
    """A design's steps' answer p95s, a failed step marked with its failures."""
    return " ".join(f"{r['answer_p95']:.0f}" + (f" ({r['failed']} failed)" if r["failed"] else "")
                    for r in design["steps"]) or "no step"


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3, help="IVR worker processes (4 calls each)")
    parser.add_argument("--step", type=int, default=4, help="simultaneous calls added per step")
    parser.add_argument("--start", type=int, default=None, help="first step (default: --step)")
    parser.add_argument("--max", type=int, default=None, help="last step (default: 4 x workers + step)")
    parser.add_argument("--deadline", type=float, default=540.0, help="seconds for the whole run")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds the idle IVR's CPU is measured")
    parser.add_argument("--zygote", action="store_true", help="the workers forked by the zygote (ivr.zygote, I-6)")
    parser.add_argument("--compare", action="store_true", help="each round exec then zygote, and their ratios")
    parser.add_argument("--warm", type=int, default=None,
                        help="ivr.warm (I-7): workers started on a quiet site; with --max 0, only the idle cost")
    parser.add_argument("--runs", type=int, default=1, help="rounds")
    parser.add_argument("--repeat", type=int, default=1, help="each step this many times in a row")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--peer", metavar="REV", help="each round also on this git revision, first")
    args = parser.parse_args()
    # a SIGTERM (timeout, a CI step's end) unwinds like Ctrl-C: the rigs' finally stops Kamailio and the server
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    if args.peer and args.compare:
        raise SystemExit("--peer or --compare, not both")
    for tool in ("sipp", "kamailio", "kamcmd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: sip-tester, kamailio)")
    if not 1 <= args.workers <= 256:
        raise SystemExit("--workers: 1..256")
    last = args.workers * 4 + args.step if args.max is None else args.max
    steps = [calls for calls in range(args.start or args.step, last + 1, args.step)
             for _ in range(max(1, args.repeat))] if last else []
    began = time.monotonic()
    load_before = os.getloadavg()
    rounds = []
    with worktree(args.peer) as peer_tree:
        designs = ([(False, None, "exec"), (True, None, "zygote")] if args.compare
                   else [(args.zygote, peer_tree, f"peer {args.peer}"), (args.zygote, None, "this tree")] if args.peer
                   else [(args.zygote, None, None)])
        for number in range(1, max(1, args.runs) + 1):
            print(f"--- round {number} (load {os.getloadavg()[0]:.1f})", flush=True)
            rounds.append([run_design(args, zygote, steps, time.monotonic(), tree, label)
                           for zygote, tree, label in designs])
    if args.peer:
        print(f"\nround  answer p95 ms, each step: peer {args.peer}  /  this tree")
        for number, (theirs, ours) in enumerate(rounds, 1):
            if theirs["invalid"] or ours["invalid"]:
                print(f"{number:5}  INVALID: see above")
                continue
            print(f"{number:5}  {p95s(theirs)}  /  {p95s(ours)}")
    if args.compare:
        print("\nround  idle CPU % exec / zygote  IVR PSS MB exec / zygote (ratio)  answer p95 ms exec / zygote")
        for number, (exec_, zyg) in enumerate(rounds, 1):
            if exec_["invalid"] or zyg["invalid"] or not exec_["best"] or not zyg["best"]:
                print(f"{number:5}  INVALID or failed: see above")
                continue
            print(f"{number:5}  {exec_['idle']['cpu']:6.1f} / {zyg['idle']['cpu']:6.1f}"
                  f"        {exec_['idle']['pss']:6.0f} / {zyg['idle']['pss']:6.0f} "
                  f"({zyg['idle']['pss'] / exec_['idle']['pss']:.2f})"
                  f"          {exec_['best']['answer_p95']:6.1f} / {zyg['best']['answer_p95']:6.1f}")
    print(f"load average before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (other jobs on the machine count too)")
    print(f"total {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
