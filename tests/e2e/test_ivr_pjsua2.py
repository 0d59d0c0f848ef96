"""The IVR worker called by a pjsua2 caller (tests/e2e/ivr_caller.py, its own process).

Repeated digits by RFC 4733 (``dialDtmf``) and by SIP INFO complete a
replace; the caller records what it heard, so the prompts are known to reach
the phone; four calls at once are served and a fifth is refused by pjsua
(the wheel's PJSUA_MAX_CALLS, docs/pjsua2.md).
"""

from __future__ import annotations

import array
import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from test_ivr_sipp import NEW, Site, demo_database, running_worker  # the shared e2e helpers

pytestmark = pytest.mark.slow
CALLER = Path(__file__).with_name("ivr_caller.py")


def dial(port: int, *steps: str, method: str = "rfc2833", record: Path | None = None, extra: tuple = (),
         timeout: float = 60) -> subprocess.Popen:
    argv = [sys.executable, str(CALLER), "--target", f"sip:8000@127.0.0.1:{port}", "--method", method,
            "--timeout", f"{timeout:g}", *(f"--step={s}" for s in steps), *extra]
    if record is not None:
        argv += ["--record", str(record)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen, worker, timeout: float = 90) -> tuple[int, dict]:
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"caller printed no result (exit {proc.returncode})\n{out}\n{err}\n{worker.log()[-3000:]}"
    return proc.returncode, json.loads(lines[-1])


def loudness(path: Path) -> list[int]:
    """RMS per second of a 16-bit mono WAV."""
    with wave.open(str(path)) as recording:
        samples = array.array("h", recording.readframes(recording.getnframes()))
        rate = recording.getframerate()
    chunks = [samples[i : i + rate] for i in range(0, len(samples), rate)]
    return [int((sum(x * x for x in c) / len(c)) ** 0.5) for c in chunks if c]


def test_rfc2833_repeated_digits_replace_and_prompts_heard(tmp_path):
    """alice 1001 / 7314: the 7965 with a KEM; the preview's losses are read out before "confirm"."""
    url = demo_database(tmp_path)
    heard = tmp_path / "heard.wav"
    with running_worker(tmp_path, url=url) as worker:
        code, outcome = result(dial(worker.port, "1.0:2", "1.0:1001#", "3.0:7314#", "6.0:1", record=heard), worker)
        assert (code, outcome["ended_by"]) == (0, "ivr"), (outcome, worker.log()[-3000:])
    site = Site(url)
    try:
        assert site.device("SEP001122330001").migrated and site.line1(NEW) == "1001"
    finally:
        site.close()
    levels = loudness(heard)
    assert len(levels) >= 8 and sum(level > 300 for level in levels) >= len(levels) // 2, levels


def test_sip_info_repeated_digits_replace_from_a_list(tmp_path):
    """erin 1005 / 3851 by SIP INFO (application/dtmf-relay): the third phone of the list."""
    url = demo_database(tmp_path)
    with running_worker(tmp_path, url=url) as worker:
        code, outcome = result(dial(worker.port, "1.0:2", "1.0:1005#", "2.5:3851#", "3.0:3", "3.0:1",
                                    method="info"), worker)
        assert (code, outcome["ended_by"]) == (0, "ivr"), (outcome, worker.log()[-3000:])
    site = Site(url)
    try:
        assert site.device("SEP001122330017").migrated
        assert not site.device("SEP001122330016").migrated and site.line1(NEW) == "1005"
    finally:
        site.close()


def test_four_calls_at_once_and_the_fifth_is_busy(tmp_path):
    url = demo_database(tmp_path)
    with running_worker(tmp_path, url=url) as worker:
        callers = [dial(worker.port, "0.5:2", extra=("--hangup-after", "6")) for _ in range(4)]
        worker.wait_log('"event": "ivr_call_answering"', count=4, timeout=20)  # all four up (each for 6 s)
        fifth_code, fifth = result(dial(worker.port, extra=("--hangup-after", "1")), worker, timeout=30)
        outcomes = [result(c, worker) for c in callers]
        log = worker.wait_log('"event": "ivr_call_ended"', count=4)
    assert fifth_code == 4 and fifth["status"] == 486, fifth
    assert all(code == 0 and o["ended_by"] == "caller" for code, o in outcomes), outcomes
    assert log.count('"event": "ivr_call_ended"') == 4 and "ivr_action_failed" not in log
