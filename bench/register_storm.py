"""Benchmark R-1..R-3: N phones re-registering at once through Kamailio while the product
hears every REGISTER (issue #15's target: 500 phones within 10 s, no state lost).

The product is ``serve --demo`` with N extra SIP 8851s (DNs 50000...), and Kamailio runs
the configuration ``kamailio-config`` writes for it (tests/e2e/registrar_site.py), so each
REGISTER costs Kamailio two HTTP calls to the product (the R-1 check before saving, the
R-3 event after) and the product a read and a write. The peer, in the same go, is a bare
Kamailio registrar on the same machine (save to its location table, nothing else): the
ratio says what hearing every event costs.

SIPp is the N phones (``-t tn``: one TCP connection per REGISTER; Cisco's Contact
parameters; a Call-ID per phone and round, ``storm-<SIPp's call number>-r<round>``, where call
number n is the n-th line of the SEQUENTIAL phones file, so the product's row can be checked). Each
round sends all N at ``--rate`` REGISTERs a second: a first registration, then
``--rounds`` refreshes. A round is valid only when SIPp saw N answers 200 and, for the
product, its registration table then holds all N devices, each with that round's Call-ID
and contact: anything else prints INVALID instead of a figure.

    python bench/register_storm.py [--phones 500] [--rate 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from registrar_site import registrar_site  # noqa: E402
from test_ivr_supervised import free_port  # noqa: E402

from models.services.site import LineSpec, create_device  # noqa: E402
from models.storage.database import Database  # noqa: E402

MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="storm REGISTER">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      Max-Forwards: 70
      CSeq: [cseq] REGISTER
      User-Agent: Cisco-CP8851/14.2.1
      Contact: <sip:[field0]@[local_ip]:[field2];transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-[field1]>";+u.sip!devicename.ccm.cisco.com="SEP[field1]"
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""
PEER_CFG = """#!KAMAILIO
# The peer: a bare registrar, nothing heard by anyone.
debug=1
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:{ctl}")
modparam("usrloc", "db_mode", 0)
request_route {{
	if (is_method("REGISTER")) {{
		if (!save("location")) sl_reply_error();
		exit;
	}}
	sl_send_reply("404", "Not here");
}}
"""


def mac(i: int) -> str:
    return f"0BEA{i:08X}"


def dn(i: int) -> str:
    return f"5{i:04d}"


def add_phones(url: str, count: int) -> None:
    db = Database(url)
    try:
        for start in range(0, count, 100):
            with db.session() as session:
                for i in range(start, min(start + 100, count)):
                    create_device(session, mac(i), "8851", "SIP", lines=[LineSpec(dn(i), "Internal_PT", label="Me")],
                                  description=f"storm {i}", registration="unregistered")
    finally:
        db.dispose()


def storm(port: int, workdir: Path, phones: int, rate: int, round_no: int) -> dict:
    """One round: every phone REGISTERs once at ``rate`` a second; SIPp's own counts."""
    csv = workdir / "phones.csv"
    if not csv.exists():
        csv.write_text("SEQUENTIAL\n" + "".join(f"{dn(i)};{mac(i)};{20000 + i}\n" for i in range(phones)))
    (workdir / "storm.xml").write_text(SCENARIO)
    stats = workdir / f"stats-{port}-{round_no}.csv"
    started = time.perf_counter()
    done = subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", str(workdir / "storm.xml"), "-inf", str(csv), "-t", "tn",
         "-i", "127.0.0.1", "-p", str(free_port()), "-m", str(phones), "-r", str(rate), "-l", str(phones),
         "-cid_str", f"storm-%u-r{round_no}", "-nostdin", "-timeout", "120s", "-max_socket", str(phones + 50),
         "-trace_stat", "-stf", str(stats), "-fd", "1"],
        cwd=workdir, capture_output=True, text=True, timeout=180)
    seconds = time.perf_counter() - started
    header, *rows = [line.split(";") for line in stats.read_text().splitlines() if line.strip()]
    last = dict(zip(header, rows[-1])) if rows else {}
    return {"seconds": seconds, "exit": done.returncode, "ok": int(last.get("SuccessfulCall(C)", 0)),
            "failed": int(last.get("FailedCall(C)", 0))}


def product_state(db_path: Path, phones: int, round_no: int) -> list[str]:
    """What is wrong with the product's registration table after a round (nothing: [])."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT device_name, call_id, contact, transport FROM registration WHERE device_name LIKE 'SEP0BEA%'")}
    finally:
        conn.close()
    wrong = [f"{phones - len(rows)} phones missing"] if len(rows) != phones else []
    for i in range(phones):
        row = rows.get(f"SEP{mac(i)}")
        expected = (f"storm-{i + 1}-r{round_no}", f"sip:{dn(i)}@127.0.0.1:{20000 + i};transport=tcp", "tcp")
        if row is not None and tuple(row) != expected:
            wrong.append(f"SEP{mac(i)}: {row} != {expected}")
    return wrong[:5]


def run_rounds(port: int, workdir: Path, args, check) -> list[dict]:
    """Round 0 registers every phone, the others refresh; ``check(round)`` lists what the product has wrong.
    ``settled``: seconds from the round's start until the product's table was right."""
    results = []
    for round_no in range(args.rounds + 1):
        started = time.perf_counter()
        result = storm(port, workdir, args.phones, args.rate, round_no)
        result["wrong"] = [] if result["ok"] == args.phones else [f"SIPp: {result['ok']} of {args.phones} got 200"]
        if check is not None:
            deadline = time.monotonic() + 20
            while (wrong := check(round_no)) and time.monotonic() < deadline:
                time.sleep(0.2)  # events still on their way count as late, not lost
            result["settled"] = time.perf_counter() - started
            result["wrong"] += wrong
        results.append(result)
    return results


def peer(workdir: Path, args) -> list[dict]:
    port = free_port()
    cfg = workdir / "peer.cfg"
    cfg.write_text(PEER_CFG.format(port=port, modules=MODULES, ctl=workdir / "peer_ctl"))
    run = workdir / "peer-run"
    run.mkdir()
    proc = subprocess.Popen(["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "64", "-M", "8", "-w", str(workdir),
                             "-Y", str(run), "-P", str(run / "pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        if proc.poll() is not None:
            raise SystemExit("INVALID: the peer Kamailio did not start")
        return run_rounds(port, workdir, args, None)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=500)
    parser.add_argument("--rate", type=int, default=100, help="REGISTERs a second SIPp sends")
    parser.add_argument("--rounds", type=int, default=2, help="refresh rounds after the first registration")
    args = parser.parse_args()
    for tool in ("kamailio", "sipp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    with tempfile.TemporaryDirectory(prefix="register-storm-") as tmp:
        workdir = Path(tmp)
        (workdir / "product").mkdir()
        with registrar_site(workdir / "product") as (server, registrar):
            add_phones(server.url, args.phones)
            product = run_rounds(registrar.port, workdir,
                                 args, lambda n: product_state(server.db_path, args.phones, n))
            lost = [line for line in registrar.log().splitlines() if "REG-EVENT-LOST" in line or "REG-UNAVAILABLE" in line]
        bare = peer(workdir, args)
    load = os.getloadavg()[0]
    print(f"register storm: {args.phones} phones, {args.rate}/s offered, {args.rounds} refresh rounds; "
          f"load before the last round's report {load:.2f}")
    valid = True
    for n, (mine, theirs) in enumerate(zip(product, bare)):
        problems = mine["wrong"] + theirs["wrong"]
        if problems:
            valid = False
            print(f"round {n}: INVALID: {'; '.join(problems)}")
            continue
        mine_rate, their_rate = args.phones / mine["seconds"], args.phones / theirs["seconds"]
        print(f"round {n}: product+Kamailio {mine['seconds']:.2f} s ({mine_rate:.0f}/s; all {args.phones} stored "
              f"after {mine['settled']:.2f} s) | "
              f"bare Kamailio {theirs['seconds']:.2f} s ({their_rate:.0f}/s) | ratio {mine_rate / their_rate:.2f}")
    if lost:
        valid = False
        print(f"INVALID: Kamailio logged {len(lost)} events it could not deliver, e.g. {lost[0]}")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
