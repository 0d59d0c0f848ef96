"""C-14: the restart NOTIFY reaches a real SIP peer (SIPp as the phone)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ivr.restart import send_restart

pytestmark = pytest.mark.slow
SCENARIO = Path(__file__).parent / "sipp" / "notify_uas.xml"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_bound(port: int, seconds: float = 10) -> None:
    """Until SIPp holds its UDP port, as /proc/net/udp shows (binding it to check could race SIPp)."""
    local = f"0100007F:{port:04X}"  # 127.0.0.1, as the kernel writes it
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(line.split()[1] == local for line in Path("/proc/net/udp").read_text().splitlines()[1:]):
            return
        time.sleep(0.05)
    raise AssertionError(f"sipp did not bind 127.0.0.1:{port} in {seconds} s")


@pytest.mark.parametrize("model,call_id,event", [("7960", None, "check-sync"), ("8851", "abc123@10.0.0.5", "service-control"),
                                                 (None, None, "service-control")])
def test_c14_r5_notify_answered_by_sipp(tmp_path, model, call_id, event):
    """R-5: a SIP 7960 gets check-sync; a 88xx (or a phone whose model is unknown) service-control,
    with RegisterCallId={} when its REGISTER's Call-ID is unknown."""
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed (Debian: sip-tester)")
    port = free_udp_port()
    sipp = subprocess.Popen(["sipp", "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin",
                             "-trace_msg", "-message_file", str(tmp_path / "msg.log"), "-timeout", "20s"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_bound(port)
        result = send_restart(f"sip:9000@127.0.0.1:{port};transport=udp", call_id, model=model, timeout=5)
        assert result.sent and result.status == 200, result
        assert sipp.wait(timeout=20) == 0
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
    received = (tmp_path / "msg.log").read_text()
    assert f"Event: {event}" in received
    if event == "service-control":
        assert "action=restart" in received and f"RegisterCallId={{{call_id or ''}}}" in received
        assert "ConfigVersionStamp={0000000000000000}" in received and "Contact: <sip:phone-migration@" in received


def test_c14_nobody_listening_gives_up_in_bounded_time():
    began = time.monotonic()
    result = send_restart(f"sip:9000@127.0.0.1:{free_udp_port()}", timeout=1.5)
    assert not result.sent and time.monotonic() - began < 3


def test_bad_contact_is_not_sent():
    assert not send_restart("mailto:someone").sent
