"""The whole PROTOS c07-sip suite (4,527 cases), every RFC 4475 message, the
transaction-reuse sequence and bursts of short calls at Kamailio's public port,
in front of ``serve --demo`` with IVR workers (issue #17, R-7, R-8; the harness
is tests/e2e/sip_torture.py, in a network namespace of its own).

    sudo .venv/bin/python bench/sip_torture.py [--workers 2] [--worker-cps N]

Prints the figures (cases sent and answered, what Kamailio stopped, calls that
reached a worker, worker deaths, restarts, seconds to recover) and checks them:
``INVALID`` and exit 1 when the run did not do what it claims (not every case
sent, the legitimate call not migrated, a worker given up or not recovered).
``--worker-cps`` raises Kamailio's per-worker call rate so that more fuzzed
INVITEs reach the workers (the shipped value, 4, turns most of a fast run away).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from sip_messages import PROTOS_TOTAL  # noqa: E402
from sip_torture import launch  # noqa: E402


def problems(figures: dict, workers: int) -> list[str]:
    """What makes the run's figures wrong (empty: valid)."""
    found = []
    if figures["protos"]["sent"] != PROTOS_TOTAL:
        found.append(f"PROTOS cases sent {figures['protos']['sent']}, not {PROTOS_TOTAL}")
    if figures["rfc4475"]["sent"] < 49:
        found.append("not every RFC 4475 message was sent")
    if len(figures["transaction_reuse"]["invite_finals"]) != 11 or len(figures["bursts"]) < 1:
        found.append("the transaction-reuse sequence or the bursts did not run")
    if figures["workers"] != workers:
        found.append("another number of workers ran")
    if figures["legitimate_call"] != {"sipp_exit": 0, "migrated": True}:
        found.append(f"the legitimate call did not migrate the phone: {figures['legitimate_call']}")
    if figures["gave_up"] or figures["health_after"] != "ok":
        found.append("a worker was given up, or /healthz is not ok at the end")
    if any(r is None for r in figures["recover_seconds"]):
        found.append("a dead worker never came back")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-cps", type=int, default=None)
    parser.add_argument("--protos", type=int, default=None, help="fewer cases (a check of this script)")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR and keep the logs (server.log, kamailio.log)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sip-torture-") as workdir:
        run_dir = Path(args.keep) if args.keep else Path(workdir) / "run"
        figures = launch(run_dir, args.protos, workers=args.workers, worker_cps=args.worker_cps)
    protos, kam = figures["protos"], figures["kamailio"]
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"PROTOS c07-sip: {protos['sent']} cases sent in {protos['seconds']} s, {protos['answered']} answered, "
          f"{protos['calls_answered']} answered 200 by a worker (then ACK, BYE); finals {protos['finals']}")
    print(f"RFC 4475: {figures['rfc4475']['sent']} messages, {figures['rfc4475']['answered']} answered; "
          f"finals {figures['rfc4475']['finals']}")
    print(f"transaction reuse x11: INVITE {sorted(set(figures['transaction_reuse']['invite_finals']))}, "
          f"OPTIONS {figures['transaction_reuse']['options_answers'][0]}")
    for b in figures["bursts"]:
        print(f"burst {b['rate']}/s x {b['calls']} calls: {b['ivr_answered']} answered by a worker, "
              f"{b['ivr_rate_503']} 503 (rate), {b['ivr_full_503']} 503 (full), SIPp exit {b['sipp_exit']}")
    print(f"Kamailio stopped: sanity {kam['sanity_refused']}, SDP {kam['sdp_refused']}, pike {kam['pike_blocked']} "
          f"sources, dialog {kam['dialog_refused']}; WORKER_CPS {figures['worker_cps']}")
    print(f"worker deaths {figures['worker_deaths']} (signals {figures['signals']}), restarts {figures['restarts']}, "
          f"seconds to recover {figures['recover_seconds']}, crash loops {figures['crash_loops']}")
    print(f"legitimate call: {figures['legitimate_call']}, after {figures['settle_seconds']} s for the calls to end; "
          f"whole run {figures['seconds']} s")
    print(json.dumps(figures))
    found = problems(figures, args.workers) if args.protos is None else []
    for problem in found:
        print(f"INVALID: {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
