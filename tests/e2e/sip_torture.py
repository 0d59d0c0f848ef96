"""The SIP torture run (issue #17, R-7, R-8): Kamailio (the shipped kamailio.cfg)
in front of ``serve --demo`` with IVR workers, and at Kamailio's public port:

1. PROTOS c07-sip cases (a sample, or all of them), from 20 source addresses;
2. every RFC 4475 torture message (and each INVITE again to the route point);
3. the transaction-reuse sequence (INVITE 415, ACK, OPTIONS with the INVITE's
   branch and ``CSeq: 1 INVITE``), 11 times;
4. bursts of very short calls (SIPp) at each rate for a few seconds;
5. then, once Kamailio counts no call left, a legitimate call with RFC 4733
   digits that migrates olivia's phone.

It prints one JSON object of figures: what was sent and answered, what
Kamailio stopped (sanity, pike, dialog checks), worker deaths, restarts and how
long each took. ``launch`` runs it in a network namespace of its own with only
a loopback interface (``unshare -n``), so whatever address a fuzzed message
names, nothing leaves the machine. Used by tests/e2e/test_sip_torture.py and
bench/sip_torture.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import test_kamailio  # noqa: E402
from sip_blaster import Blaster, Probe, parse, summary  # noqa: E402
from sip_messages import fill, protos_cases, rfc4475_messages, transaction_reuse  # noqa: E402
from test_ivr_sipp import DtmfPcaps, Site  # noqa: E402
from test_ivr_sipp import sipp as sipp_call  # noqa: E402
from test_ivr_supervised import IvrServer, finish, free_port, sipp  # noqa: E402

from ivr.kamailio import WorkerHost, write_dispatcher_list  # noqa: E402

ROUTE_POINT, OLD_PHONE = "8000", "SEP001122330033"  # the demo's route point; olivia's old phone (1012, PIN 1739)


def launch(workdir: Path, protos: int | None, workers: int = 2, rates: tuple[int, ...] = (80, 200),
           seconds: int = 3, worker_cps: int | None = None, timeout: float = 1800) -> dict:
    """Run the whole thing in a private network namespace; its figures."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--inside", "--workdir", str(workdir),
            "--workers", str(workers), "--rates", ",".join(map(str, rates)), "--seconds", str(seconds)]
    argv += ["--protos", str(protos)] if protos is not None else []
    argv += ["--worker-cps", str(worker_cps)] if worker_cps is not None else []
    command = "ip link set lo up && exec " + shlex.join(argv)
    done = subprocess.run(["unshare", "-n", "sh", "-c", command], capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"torture run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def _ts(event: dict) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def deaths_and_recoveries(server) -> dict:
    """R-8: every worker death, and the seconds until that port's worker was up again."""
    exited, ups = server.events("ivr_worker_exited"), server.events("ivr_worker_up")
    recoveries = []
    for death in exited:
        back = [_ts(up) for up in ups if up["port"] == death["port"] and _ts(up) > _ts(death)]
        recoveries.append(round(min(back) - _ts(death), 3) if back else None)
    return {"worker_deaths": len(exited), "signals": [d.get("signal") for d in exited],
            "restarts": len(ups) - server.workers, "recover_seconds": recoveries,
            "crash_loops": len(server.events("ivr_worker_crash_loop")),
            "gave_up": len(server.events("ivr_worker_gave_up"))}


def kamailio_counts(text: str) -> dict:
    return {key: text.count(mark) for key, mark in (
        ("sanity_refused", "SANITY-FAILED"), ("pike_blocked", "PIKE-BLOCKED"), ("dialog_refused", "DLG-REFUSED"),
        ("sdp_refused", "SDP-REFUSED"), ("ivr_answered", "DS-ANSWERED"), ("ivr_full_503", "DS-FULL"),
        ("ivr_rate_503", "DS-RATE"))}


def send_protos(target: tuple[str, int], count: int | None) -> dict:
    to = f"{ROUTE_POINT}@{target[0]}:{target[1]}"
    probes = []
    for case in protos_cases(count):
        token = f"pc{case.number}x{os.getpid()}"
        probes.append(Probe(f"protos-{case.number}", token=token.encode(), build=lambda source, c=case, t=token: (
            fill(c.invite, token=t, source=source, to=to), fill(c.teardown, token=t, source=source, to=to))))
    blaster = Blaster([f"127.0.0.{10 + i}" for i in range(20)], target)
    try:
        seconds = blaster.run(probes, wait=1.0, pace=0.015, deadline=900)
    finally:
        blaster.close()
    return {**summary(probes), "seconds": round(seconds, 1)}


def send_rfc4475(target: tuple[str, int]) -> dict:
    messages = rfc4475_messages(ROUTE_POINT)
    probes = [Probe(name, build=lambda source, m=message: (m, None)) for name, message in messages]
    # One at a time from 127.0.0.1:5060, where most of their Via headers (rewritten) ask for the answers.
    blaster = Blaster([("127.0.0.1", 5060)], target)
    try:
        blaster.run(probes, wait=0.3, deadline=120)
    finally:
        blaster.close()
    return {**summary(probes), "statuses": {p.name: p.final for p in probes}}


def send_transaction_reuse(target: tuple[str, int], times: int = 11) -> dict:
    """The issue's three datagrams, ``times`` times: the INVITE's final status and the OPTIONS's answers."""
    invite_finals, options_answers = [], []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.60", 0))
        sock.settimeout(0.2)
        for n in range(times):
            invite, ack, options = transaction_reuse(sock.getsockname(), target, ROUTE_POINT, f"reuse{n}x{os.getpid()}")
            sock.sendto(invite, target)
            final, to = None, None
            for _ in range(25):  # up to 5 s for the final answer
                status, headers = _answer(sock)
                if status is not None and status >= 200:
                    final, to = status, (headers.get("to") or [""])[0]
                    break
            invite_finals.append(final)
            tag = to[to.find(";tag="):] if to and ";tag=" in to else ""
            sock.sendto(ack.replace(b"{to_tag}", tag.encode()), target)
            sock.sendto(options, target)
            answers = [s for s in (_answer(sock)[0] for _ in range(5)) if s is not None]
            options_answers.append(answers)
    return {"invite_finals": invite_finals, "options_answers": options_answers}


def _answer(sock: socket.socket) -> tuple[int | None, dict]:
    try:
        return parse(sock.recv(65535))
    except OSError:
        return None, {}


def burst(workdir: Path, port: int, rate: int, seconds: int, kamailio) -> dict:
    before = kamailio_counts(kamailio.log())
    began = time.monotonic()
    # replies relayed over UDP by several Kamailio processes can overtake each other at these rates (a 100
    # after the 503): a phone ignores a late provisional, and so does SIPp here; every call still ends
    proc = sipp("ivr_short_call.xml", port, workdir, "-r", str(rate), "-l", "2000", "-recv_timeout", "10000",
                "-default_behaviors", "all,-abortunexp", calls=rate * seconds, timeout=60)
    code = finish(proc, 90)
    after = kamailio_counts(kamailio.log())
    return {"rate": rate, "calls": rate * seconds, "sipp_exit": code, "seconds": round(time.monotonic() - began, 1),
            **{key: after[key] - before[key] for key in ("ivr_answered", "ivr_full_503", "ivr_rate_503")}}


def legitimate_call(workdir: Path, port: int, url: str) -> dict:
    call_dir = workdir / "legit"
    call_dir.mkdir()
    pcaps = DtmfPcaps(call_dir)
    for number, keys in enumerate(["2", "1012#", "1739#", "1"], 1):
        pcaps.write(f"step{number}.pcap", keys)
    done = sipp_call("ivr_migrate.xml", port, call_dir, timeout=60)
    site = Site(url)
    try:
        old = site.device(OLD_PHONE)
        return {"sipp_exit": done.returncode, "migrated": bool(old and old.migrated)}
    finally:
        site.close()


def settle(server, kamailio, timeout: float = 60) -> float:
    """Seconds until Kamailio counts no call on any worker and every worker is up (bounded), and at least
    2 s: a new second of Kamailio's per-worker call rate (WORKER_CPS), or the call would be refused as the burst's."""
    began = time.monotonic()
    time.sleep(2.0)
    while time.monotonic() - began < timeout:
        loads = kamailio.loads()
        if loads and all(load == 0 for _, load in loads.values()) and \
                server.health().get("ivr", {}).get("up") == server.workers:
            break
        time.sleep(0.5)
    return round(time.monotonic() - began, 1)


def inside(args: argparse.Namespace) -> dict:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.worker_cps is not None:  # the shipped file with another WORKER_CPS (a define set first wins)
        cfg = workdir / "kamailio.cfg"
        first, rest = test_kamailio.CFG.read_text().split("\n", 1)
        cfg.write_text(f"{first}\n#!define WORKER_CPS {args.worker_cps}\n{rest}")
        test_kamailio.CFG = cfg
    server = IvrServer(workdir, workers=args.workers,
                       PHONE_MIGRATION_CALLCONTROL__KAMAILIO_RPC_URL=f"http://127.0.0.1:{free_port()}/RPC")
    kamailio = None
    try:
        ds_list = write_dispatcher_list(workdir / "ivr-workers.list",
                                        [WorkerHost("127.0.0.1", server.ivr_port, args.workers)])
        kamailio = test_kamailio.Kamailio(workdir, ds_list)
        kamailio.wait_for(lambda loads: len(loads) == args.workers and all(f == "AP" for f, _ in loads.values()),
                          30, "every worker active in Kamailio")
        target = ("127.0.0.1", kamailio.port)
        began = time.monotonic()
        figures: dict = {"workers": args.workers, "worker_cps": args.worker_cps or "shipped",
                         "health_front": server.health()["ivr"].get("sip_front")}
        figures["protos"] = send_protos(target, args.protos)
        figures["rfc4475"] = send_rfc4475(target)
        figures["transaction_reuse"] = send_transaction_reuse(target)
        figures["bursts"] = [burst(workdir, kamailio.port, rate, args.seconds, kamailio) for rate in args.rates]
        figures["settle_seconds"] = settle(server, kamailio)
        figures["legitimate_call"] = legitimate_call(workdir, kamailio.port, server.url)
        figures["kamailio"] = kamailio_counts(kamailio.log())
        figures.update(deaths_and_recoveries(server))
        figures["health_after"] = server.health()["ivr"]["status"]
        figures["seconds"] = round(time.monotonic() - began, 1)
        return figures
    finally:
        if kamailio is not None:
            kamailio.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inside", action="store_true", help="already in a private network namespace")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--protos", type=int, default=None, help="PROTOS cases to send (default: all 4,527)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rates", default="80,200", help="short calls per second, one burst each")
    parser.add_argument("--seconds", type=int, default=3, help="each burst's length")
    parser.add_argument("--worker-cps", type=int, default=None,
                        help="Kamailio's WORKER_CPS (default: the shipped file's); higher lets more fuzz reach the workers")
    args = parser.parse_args(argv)
    args.rates = tuple(int(r) for r in args.rates.split(","))
    if not args.inside:
        print(json.dumps(launch(Path(args.workdir), args.protos, args.workers, args.rates, args.seconds,
                                args.worker_cps)))
        return 0
    print(json.dumps(inside(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
