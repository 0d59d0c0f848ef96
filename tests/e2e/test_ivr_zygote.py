"""I-6, R-8: ``ivr.zygote``: the IVR workers forked from one preloaded process, under the same supervisor.

``serve --demo`` with ``PHONE_MIGRATION_IVR__ZYGOTE=true`` and 2 workers: both
are children of the zygote (not of the server) and share its imported pages;
a call with SIPp is answered; a worker killed with SIGKILL is forked again
within 2 s; the zygote killed takes its workers with it and a new zygote,
launched at once, forks them again; the server's stop leaves no process behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_ivr_supervised import IvrServer, a_call_is_answered  # noqa: E402

pytestmark = pytest.mark.slow


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def shared_kb(pid: int) -> int:
    """Pages this process shares with others (``Shared_Clean`` + ``Shared_Dirty``), in kB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return sum(int(fields[key].split()[0]) for key in ("Shared_Clean", "Shared_Dirty"))


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent, init, to reap it has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def workers(server: IvrServer) -> list[dict]:
    return server.health()["ivr"]["workers"]


def test_i6_forked_workers_answer_come_back_and_end_with_the_server(tmp_path):
    server = IvrServer(tmp_path, workers=2, PHONE_MIGRATION_IVR__ZYGOTE="true")
    try:
        first = workers(server)
        zygote = parent_of(first[0]["pid"])
        assert zygote != server.proc.pid and parent_of(first[1]["pid"]) == zygote
        assert parent_of(zygote) == server.proc.pid
        assert server.events("ivr_zygote_started")[0]["pid"] == zygote
        assert shared_kb(first[0]["pid"]) > 20_000  # the zygote's imports, shared rather than copied
        a_call_is_answered(server.ivr_port, tmp_path / "one")

        # a worker killed is forked again, at once
        os.kill(first[0]["pid"], signal.SIGKILL)
        killed = time.monotonic()
        again = server.wait_for(lambda h: h["ivr"]["workers"][0]["restarts"] == 1
                                and h["ivr"]["workers"][0]["state"] == "up", 10, "the worker forked again")
        assert time.monotonic() - killed < 2.0 + 1.0  # within 2 s (plus this poll's pace)
        assert parent_of(again["ivr"]["workers"][0]["pid"]) == zygote
        a_call_is_answered(server.ivr_port, tmp_path / "two")

        # the zygote killed: its workers end with it (PR_SET_PDEATHSIG); a new zygote forks them again
        os.kill(zygote, signal.SIGKILL)
        back = server.wait_for(lambda h: h["ivr"]["status"] == "ok" and all(
            w["pid"] not in (first[1]["pid"], again["ivr"]["workers"][0]["pid"]) for w in h["ivr"]["workers"]),
            30, "both workers forked by a new zygote")
        new_zygote = parent_of(back["ivr"]["workers"][0]["pid"])
        assert new_zygote not in (zygote, server.proc.pid) and parent_of(back["ivr"]["workers"][1]["pid"]) == new_zygote
        assert server.events("ivr_zygote_lost")
        # launched as the old one was lost: its imports ran while the workers waited out their back-off (0.5 s),
        # not in the server's reactor, which waited for the rest at most
        [started] = [e for e in server.events("ivr_zygote_started") if e["pid"] == new_zygote]
        assert started["start_ms"] - started["blocked_ms"] >= 300, started
        a_call_is_answered(server.ivr_port, tmp_path / "three")
        pids = [new_zygote] + [w["pid"] for w in back["ivr"]["workers"]]
    finally:
        code = server.stop()
    assert code == 0, server.log_text()[-3000:]
    assert [event["port"] for event in server.events("ivr_worker_killed")] == []  # drained, not killed
    deadline = time.monotonic() + 5  # the zygote reads its socket's end within 0.2 s
    while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if alive(pid)]
