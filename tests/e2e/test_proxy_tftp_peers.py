"""T-6 end to end: a ``serve`` (A) that doesn't know a phone asks its peers, which are real TFTP servers.

A's peers, in order: a dead one (a loopback socket that records what it gets
and never answers), Debian's tftp-hpa ``in.tftpd`` serving a folder, and a
second ``serve`` (B), whose own peer is A (two clusters naming each other).
A runs with auto-registration off. The tests run in file order: the dead peer
is asked for the first time by the second test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_server import BIN, Server, free_port, tool

pytestmark = pytest.mark.slow

TIMEOUT = 1.5  # A's peer_timeout
HPA_NAME = "SEPCC0000000001.cnf.xml"  # only in tftp-hpa's folder
HPA_FILE = b"<device><fullConfig>true</fullConfig><!-- home: tftp-hpa --></device>\n" * 30
B_NAME = "SEPBB0000000001.cnf.xml"  # only B knows it (it auto-registers it when the phone asks B)
NOBODY = "SEPDD0000000001.cnf.xml"  # no peer knows it


class DeadPeer:
    """A peer that never answers; ``names()`` the file names it was asked for since the last call."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def requests(self) -> list[list[bytes]]:
        got = []
        for _ in range(10_000):
            try:
                packet, _ = self.sock.recvfrom(2048)
            except BlockingIOError:
                return got
            got.append(packet[2:].split(b"\0")[:-1])
        return got


def start_tftp_hpa(folder: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    if not os.path.exists(binary):
        pytest.fail("in.tftpd is not installed (Debian: tftpd-hpa)")
    port = free_port(socket.SOCK_DGRAM)
    argv = [binary, "-L", "-s", str(folder), "-a", f"127.0.0.1:{port}"]
    if os.geteuid() != 0:  # it can only drop to nobody as root
        argv[1:1] = ["-u", os.environ.get("USER", "nobody")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if tool("curl", "-sS", f"tftp://127.0.0.1:{port}/{HPA_NAME}").stdout == HPA_FILE:
            return proc, port
        time.sleep(0.1)
    proc.kill()
    pytest.fail("in.tftpd did not answer")


def events(server: Server, name: str) -> list[dict]:
    lines = (server.dir / "server.log").read_text(errors="replace").splitlines()
    found = []
    for line in lines:
        if f'"{name}"' in line:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return [e for e in found if e.get("event") == name]


def metric(server: Server, pattern: str) -> float:
    status, body = server.get(f"http://127.0.0.1:{server.web}/metrics")
    match = re.search(rf"^{pattern} (\S+)$", body.decode(), re.M)
    return float(match.group(1)) if match else 0.0


def timed(*argv) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = tool(*argv)
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    dead = DeadPeer()
    folder = tmp_path_factory.mktemp("hpa") / "root"
    folder.mkdir()
    folder.chmod(0o755)
    (folder / HPA_NAME).write_bytes(HPA_FILE)
    (folder / HPA_NAME).chmod(0o644)
    hpa, hpa_port = start_tftp_hpa(folder)
    a_tftp = free_port(socket.SOCK_DGRAM)
    b = a = None
    try:
        b = Server(tmp_path_factory.mktemp("b"), env={"PHONE_MIGRATION_TFTP__PEERS": json.dumps([f"127.0.0.1:{a_tftp}"])})
        a = Server(tmp_path_factory.mktemp("a"), tftp_port=a_tftp, env={
            "PHONE_MIGRATION_TFTP__PEERS": json.dumps([f"127.0.0.1:{dead.port}", f"127.0.0.1:{hpa_port}",
                                                       f"127.0.0.1:{b.tftp}"]),
            "PHONE_MIGRATION_TFTP__PEER_TIMEOUT": str(TIMEOUT),
            "PHONE_MIGRATION_TFTP__PEER_NEGATIVE_SECONDS": "120"})
        off = subprocess.run([str(BIN / "phone-migration"), "--database", a.url, "settings", "set",
                              "autoreg_enabled", "false"], capture_output=True, text=True, timeout=60)
        assert off.returncode == 0, off.stderr
        yield a, b, dead, hpa_port
    finally:
        hpa.terminate()
        hpa.wait(10)
        dead.sock.close()
        for server in (a, b):
            if server is not None:
                assert server.stop() == 0
                assert "Traceback" not in (server.dir / "server.log").read_text()


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", f"{HPA_NAME}/../../etc/passwd", "passwd",
                                  f"{HPA_NAME}.sgn", "CC0000000001.lic", f"../{HPA_NAME}"])
def test_t6_traversal_and_other_names_are_refused_before_any_peer_is_asked(cluster, tmp_path, name):
    """T-6 with T-2: only an unknown phone's SEP<MAC>.cnf.xml is proxied; nothing else reaches a peer."""
    a, _, dead, _ = cluster
    out = tmp_path / "out"
    tool("tftp", "127.0.0.1", str(a.tftp), "-m", "binary", "-c", "get", name, str(out))
    assert not out.exists() or out.read_bytes() not in (HPA_FILE, Path("/etc/passwd").read_bytes())
    status, body = a.get(f"http://127.0.0.1:{a.cfg}/{name.replace('/', '%2F')}")
    assert status in (403, 404) and body != HPA_FILE
    assert dead.requests() == []
    assert metric(a, r'pm_tftp_peer_requests_total\{[^}]*\}') == 0


def test_t6_a_write_is_refused_and_asks_no_peer(cluster, tmp_path):
    """T-6 with T-2: read-only, a write request for a config file's name is refused."""
    a, _, dead, _ = cluster
    upload = tmp_path / HPA_NAME
    upload.write_bytes(b"<device>mine</device>")
    r = tool("tftp", "127.0.0.1", str(a.tftp), "-m", "binary", "-c", "put", str(upload), HPA_NAME)
    assert b"error code 2" in (r.stdout + r.stderr).lower(), r
    assert dead.requests() == []


def test_t6_dead_peer_times_out_then_tftp_hpa_answers_logged_with_its_peer(cluster, tmp_path):
    """T-6: the dead first peer costs its timeout, tftp-hpa has the file; the answer is logged with the peer."""
    a, _, dead, hpa_port = cluster
    out = tmp_path / "hpa.xml"
    r, took = timed("tftp", "127.0.0.1", str(a.tftp), "-m", "binary", "-c", "get", HPA_NAME.lower(), str(out))
    assert out.read_bytes() == HPA_FILE, r
    assert TIMEOUT <= took < TIMEOUT + 4
    asked = dead.requests()
    assert asked and {fields[0] for fields in asked} == {HPA_NAME.encode()}  # the canonical spelling
    assert b"pm-forwarded" in asked[0]
    proxied = events(a, "config_file_proxied")
    assert [(e["file"], e["peer"]) for e in proxied] == [(HPA_NAME, f"127.0.0.1:{hpa_port}")]
    assert [e["peer"] for e in events(a, "peer_timeout")] == [f"127.0.0.1:{dead.port}"]


def test_t6_second_serve_answers_and_the_dead_peer_is_not_waited_for_again(cluster):
    """T-6: a peer of this product answers its own phone's file, by TFTP and through the HTTP door; the
    negative cache skips the dead peer."""
    a, b, dead, _ = cluster
    home = tool("curl", "-sS", f"tftp://127.0.0.1:{b.tftp}/{B_NAME}").stdout  # the phone at home: B registers it
    assert b"<device" in home
    r, took = timed("curl", "-sS", f"tftp://127.0.0.1:{a.tftp}/{B_NAME}")
    assert r.stdout == home
    assert took < TIMEOUT
    assert dead.requests() == []
    assert events(a, "config_file_proxied")[-1]["peer"] == f"127.0.0.1:{b.tftp}"
    assert a.get(f"http://127.0.0.1:{a.cfg}/{B_NAME}") == (200, home)


def test_t6_a_mac_no_peer_knows_is_file_not_found_without_a_loop(cluster):
    """T-6: error 1 when no peer has it; B, whose peer is A, neither asks A back nor registers it; the
    second request is answered from the negative cache."""
    a, b, _, _ = cluster
    r = tool("tftp", "127.0.0.1", str(a.tftp), "-m", "binary", "-c", "get", NOBODY, "/dev/null")
    assert b"error code 1" in (r.stdout + r.stderr).lower(), r
    assert [e["file"] for e in events(a, "config_file_not_at_peers")] == [NOBODY]
    assert events(b, "config_file_not_at_peers") == [] and events(b, "config_file_proxied") == []
    assert metric(b, r'pm_tftp_peer_requests_total\{[^}]*\}') == 0
    show = subprocess.run([str(BIN / "phone-migration"), "--database", b.url, "show", NOBODY.split(".")[0]],
                          capture_output=True, text=True, timeout=60)
    assert show.returncode != 0  # not auto-registered at B by A's forwarded request
    r, took = timed("curl", "-sS", f"tftp://127.0.0.1:{a.tftp}/{NOBODY}")
    assert r.returncode == 68 and took < TIMEOUT  # curl's CURLE_TFTP_NOTFOUND
    assert a.get(f"http://127.0.0.1:{a.cfg}/{NOBODY}")[0] == 404
    assert metric(a, r'pm_tftp_proxy_answers_total\{result="cached"\}') == 2
    assert len(events(a, "config_file_not_at_peers")) == 1
