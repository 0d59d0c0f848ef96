"""The IVR worker called by baresip (Debian, 1.0.0), a third SIP stack: the lobby phone.

baresip runs with its ``ctrl_tcp`` module (netstring JSON commands and events),
``net_interface 127.0.0.1``, an ``aufile`` source of silence and an
``aubridge`` player (no sound card); keys go by ``sndcode`` as RFC 4733
(docs/pjsua2.md "Testing recipes").
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import wave
from pathlib import Path

import pytest
from test_ivr_sipp import NEW, Site, demo_database, free_port, running_worker

pytestmark = pytest.mark.slow


class Baresip:
    def __init__(self, directory: Path) -> None:
        if shutil.which("baresip") is None:
            pytest.fail("baresip is not installed (Debian: baresip)")
        self.control = free_port()
        silence = directory / "silence.wav"
        with wave.open(str(silence), "wb") as out:  # aufile ends the call at the end of its file
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\0" * 8000 * 90)
        (directory / "config").write_text(
            "poll_method\t\tpoll\n"
            f"sip_listen\t\t127.0.0.1:{free_port()}\n"
            "net_interface\t\t127.0.0.1\n"
            f"audio_source\t\taufile,{silence}\n"
            "audio_player\t\taubridge,ivr\n"
            "audio_alert\t\taubridge,ivr\n"
            "module_path\t\t/usr/lib/baresip/modules\n"
            "module\t\t\tg711.so\nmodule\t\t\taufile.so\nmodule\t\t\taubridge.so\n"
            "module_app\t\taccount.so\nmodule_app\t\tmenu.so\nmodule_app\t\tctrl_tcp.so\n"
            f"ctrl_tcp_listen\t\t127.0.0.1:{self.control}\n")
        (directory / "accounts").write_text("<sip:9000@127.0.0.1>;regint=0\n")  # the demo's new phone, DN 9000
        (directory / "contacts").write_text("")
        self.log = open(directory / "baresip.log", "wb")
        self.proc = subprocess.Popen(["baresip", "-f", str(directory)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.sock = self._connect(timeout=10)
        self.buffer = b""
        self.events: list[dict] = []

    def _connect(self, timeout: float) -> socket.socket:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", self.control), timeout=1)
                sock.settimeout(0.1)
                return sock
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def command(self, name: str, params: str = "") -> None:
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait_for(self, event_type: str, timeout: float) -> dict | None:
        """Read netstrings until an event of this type (or the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self._read():
                self.events.append(message)
                if message.get("type") == event_type:
                    return message
        return None

    def _read(self) -> list[dict]:
        try:
            self.buffer += self.sock.recv(65536)
        except socket.timeout:
            pass
        messages = []
        while b":" in self.buffer:
            size, _, rest = self.buffer.partition(b":")
            if len(rest) < int(size) + 1:
                break
            messages.append(json.loads(rest[: int(size)]))
            self.buffer = rest[int(size) + 1 :]
        return messages

    def close(self) -> None:
        try:
            self.command("quit")
        except OSError:
            pass
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def test_lobby_phone_from_baresip(tmp_path):
    url = demo_database(tmp_path)
    phone = Baresip(tmp_path)
    try:
        with running_worker(tmp_path, url=url) as worker:
            phone.command("dial", f"sip:8000@127.0.0.1:{worker.port}")
            assert phone.wait_for("CALL_ESTABLISHED", timeout=10), (phone.events, worker.log())
            for delay, keys in ((1.0, "2"), (1.0, "2000#"), (3.0, "951413#"), (5.0, "1")):
                phone.wait_for("never", timeout=delay)  # keep reading events while waiting
                phone.command("sndcode", keys)
            closed = phone.wait_for("CALL_CLOSED", timeout=30)
            assert closed, (phone.events[-5:], worker.log()[-3000:])
            log = worker.log()
    finally:
        phone.close()
    assert '"phase": "done"' in log  # the IVR ended the call after its last prompt
    site = Site(url)
    try:
        assert site.device("SEP001122330040").migrated and site.line1(NEW) == "2000"
    finally:
        site.close()
