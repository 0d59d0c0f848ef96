"""Issue #17 end to end: Kamailio (the shipped kamailio.cfg) in front of
``serve --demo`` with two IVR workers, in a network namespace of the test's own
(tests/e2e/sip_torture.py): a deterministic sample of 300 PROTOS c07-sip cases,
every RFC 4475 torture message, the transaction-reuse sequence that aborted
pjsip, bursts of 80 and 200 very short calls a second for 3 s; then a call with
RFC 4733 digits through Kamailio still migrates olivia's phone. The whole
PROTOS suite runs in bench/sip_torture.py."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sip_torture import launch  # noqa: E402

pytestmark = pytest.mark.slow


def test_torture_at_the_public_sip_port_kills_no_worker_and_a_call_still_migrates(tmp_path):
    """R-7: every message goes to Kamailio's public port; Kamailio answers the malformed ones itself
    (sanity 400, the OPTIONS reusing the INVITE's branch with CSeq 1 INVITE among them), refuses SDP
    addresses pjsip cannot hold and new calls past a worker's rate, and hands the workers the rest;
    R-8: no worker dies (or each is back within 2 s), none is given up, /healthz ends ok."""
    for tool, package in (("kamailio", "kamailio"), ("sipp", "sip-tester"), ("unshare", "util-linux"),
                          ("ip", "iproute2")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian: {package})")
    if os.geteuid() != 0:
        pytest.skip("a network namespace of its own (unshare -n) needs root here")
    figures = launch(tmp_path / "run", protos=300)
    report = f"figures: {figures}"

    assert figures["health_front"] == "kamailio", report
    protos = figures["protos"]
    assert protos["sent"] == 300 and protos["answered"] >= 200, report
    assert protos["calls_answered"] >= 1, report  # some fuzzed INVITEs did reach a worker and were answered
    assert figures["rfc4475"]["sent"] == 66 and figures["rfc4475"]["answered"] >= 30, report
    reuse = figures["transaction_reuse"]
    assert reuse["invite_finals"] == [415] * 11, report  # a worker answered each INVITE
    assert reuse["options_answers"] == [[400]] * 11, report  # and never saw the OPTIONS
    assert figures["kamailio"]["sanity_refused"] >= 11 and figures["kamailio"]["sdp_refused"] >= 1, report
    for burst in figures["bursts"]:
        assert burst["sipp_exit"] == 0 and burst["ivr_answered"] >= 1, report  # every call ended one way or the other
        assert burst["ivr_rate_503"] + burst["ivr_full_503"] + burst["ivr_answered"] >= burst["calls"], report
    assert [b["rate"] for b in figures["bursts"]] == [80, 200], report

    assert figures["gave_up"] == 0 and figures["health_after"] == "ok", report
    assert figures["worker_deaths"] == 0 or all(r is not None and r <= 2.0 for r in figures["recover_seconds"]), report
    assert figures["legitimate_call"] == {"sipp_exit": 0, "migrated": True}, report
