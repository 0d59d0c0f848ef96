"""T-2 end to end: real TFTP clients against phoneservice.configfiles.tftp in a subprocess.

The server is ``tftp_folder_server.py`` (beside this file) serving a temporary
folder on a free port; the clients are Debian's tftp-hpa ``tftp``, ``atftp``
and ``curl``. Missing clients skip their tests, they never pass silently.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("tftp_folder_server.py")
CLIENT_TIMEOUT = 30

FILES = {
    "empty.bin": b"",
    "block512.bin": bytes(range(256)) * 2,
    "SEP001122334455.cnf.xml": (b"<device><fullConfig>true</fullConfig></device>\n" * 100)[: 1468 * 3],
    "random100k.bin": os.urandom(100_000),
}
assert len(FILES["SEP001122334455.cnf.xml"]) == 1468 * 3


def server_log(folder: Path, interface: str) -> Path:
    return folder.parent / f"server-{interface.replace(':', '_')}.err"


def start_server(folder: Path, interface: str) -> tuple[subprocess.Popen, int]:
    """Start the harness; its stderr (counters, tracebacks) goes to a file beside the folder."""
    log = server_log(folder, interface)
    with open(log, "wb") as errors:
        proc = subprocess.Popen([sys.executable, str(HARNESS), str(folder), "--interface", interface,
                                 "--stop-grace", "2"], stdout=subprocess.PIPE, stderr=errors)
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        stop_server(proc)
        pytest.fail(f"TFTP harness did not start: {log.read_bytes()!r}")
    return proc, int(line)


def stop_server(proc: subprocess.Popen) -> int | None:
    """SIGTERM, then SIGKILL after 10 s; the exit status, None when it had to be killed."""
    proc.terminate()
    try:
        status = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        status = None
    proc.stdout.close()
    return status


def assert_clean_exit(status: int | None, log: Path) -> None:
    text = log.read_text()
    assert status == 0 and "Traceback" not in text, text
    counters = json.loads(text.strip().splitlines()[-1])
    assert counters["active"] == 0, counters


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tftp") / "root"
    root.mkdir()
    for name, data in FILES.items():
        (root / name).write_bytes(data)
    (root / "unix.txt").write_bytes(b"line one\nline two\r\n")
    return root


@pytest.fixture(scope="module")
def server(folder) -> int:
    proc, port = start_server(folder, "127.0.0.1")
    yield port
    assert_clean_exit(stop_server(proc), server_log(folder, "127.0.0.1"))


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} not installed")
    return path


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT, cwd=cwd)


def get_with(client: str, port: int, name: str, dest: Path, host: str = "127.0.0.1") -> subprocess.CompletedProcess:
    if client == "tftp-hpa":
        return run(need("tftp"), "-v", host, str(port), "-m", "binary", "-c", "get", name, str(dest))
    if client == "atftp":
        return run(need("atftp"), "--option", "blksize 1468", "--option", "tsize 0",
                   "-g", "-r", name, "-l", str(dest), host, str(port))
    url = f"tftp://{'[' + host + ']' if ':' in host else host}:{port}/{name}"
    extra = ["--tftp-blksize", "1468"] if client == "curl-1468" else []
    return run(need("curl"), "-sS", "--max-time", str(CLIENT_TIMEOUT), *extra, "-o", str(dest), url)


CLIENTS = ["tftp-hpa", "atftp", "curl", "curl-1468"]


@pytest.mark.parametrize("name", list(FILES))
@pytest.mark.parametrize("client", CLIENTS)
def test_clients_get_the_same_bytes(server, tmp_path, client, name):
    dest = tmp_path / "got"
    done = get_with(client, server, name, dest)
    assert done.returncode == 0, done
    assert b"rror" not in done.stdout + done.stderr, done
    assert dest.read_bytes() == FILES[name]


@pytest.mark.parametrize("client, status", [("tftp-hpa", 0), ("atftp", None), ("curl", 68)])
def test_missing_file_is_reported_not_found(server, tmp_path, client, status):
    done = get_with(client, server, "CTLSEP001122334455.tlv", tmp_path / "got")
    output = (done.stdout + done.stderr).lower()
    if client == "curl":
        assert done.returncode == status  # CURLE_TFTP_NOTFOUND; curl 7.88's message is about getpeername
    else:
        assert b"file not found" in output, done
        if status is None:
            assert done.returncode != 0


def test_tftp_hpa_put_is_refused(server, tmp_path, folder):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"firmware?")
    done = run(need("tftp"), "127.0.0.1", str(server), "-m", "binary", "-c", "put", str(upload), "upload.bin")
    assert b"Error code 2: read-only server" in done.stdout + done.stderr, done
    assert not (folder / "upload.bin").exists()


def test_resolver_refusal_is_an_access_violation(server, tmp_path):
    done = run(need("tftp"), "127.0.0.1", str(server), "-m", "binary", "-c", "get", "../../etc/passwd",
               str(tmp_path / "p"))
    assert b"Error code 2: access violation" in done.stdout + done.stderr, done


def test_tftp_hpa_netascii_round_trip(server, tmp_path):
    done = run(need("tftp"), "127.0.0.1", str(server), "-m", "ascii", "-c", "get", "unix.txt", str(tmp_path / "t"))
    assert done.returncode == 0 and b"rror" not in done.stdout + done.stderr, done
    assert (tmp_path / "t").read_bytes() == b"line one\nline two\r\n"


def test_parallel_clients(server, tmp_path):
    curl = need("curl")
    procs = [subprocess.Popen([curl, "-sS", "--tftp-blksize", "1468", "-o", str(tmp_path / f"r{i}"),
                               f"tftp://127.0.0.1:{server}/random100k.bin"]) for i in range(20)]
    deadline = time.monotonic() + CLIENT_TIMEOUT
    for proc in procs:
        assert proc.wait(max(0.1, deadline - time.monotonic())) == 0
    for i in range(20):
        assert (tmp_path / f"r{i}").read_bytes() == FILES["random100k.bin"]


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="::1 is not available here")
@pytest.mark.parametrize("interface, hosts", [("::1", ["::1"]), ("::", ["::1", "127.0.0.1"])])
def test_curl_over_ipv6(folder, tmp_path, interface, hosts):
    """On "::" Linux listens dual-stack: IPv4 clients arrive as ::ffff:a.b.c.d."""
    proc, port = start_server(folder, interface)
    try:
        for host in hosts:
            for client in ("curl", "curl-1468"):
                dest = tmp_path / f"{client}-{host.replace(':', '_')}"
                done = get_with(client, port, "random100k.bin", dest, host=host)
                assert done.returncode == 0, done
                assert dest.read_bytes() == FILES["random100k.bin"]
    finally:
        status = stop_server(proc)
    assert_clean_exit(status, server_log(folder, interface))
