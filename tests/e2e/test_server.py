"""End to end against a running ``phone-migration serve --demo`` with real clients:
tftp-hpa, atftp, curl (TFTP and HTTP). T-1..T-4, C-14."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from models.rules.catalog import default_catalog
from models.services.provisioning import device_config
from models.storage.database import Database
from phoneservice.configfiles.cnf import ServerInfo, render_device

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def logged_secrets(log: str, secrets) -> list[str]:
    """The secrets that stand in ``log`` as themselves, not inside a longer number:
    the demo PIN 5093 is in no log, though a random port 50938 may be."""
    return [s for s in secrets if re.search(rf"(?<![0-9]){re.escape(s)}(?![0-9])", log)]


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, workdir: Path, ivr_args: tuple[str, ...] = ("--ivr-workers", "0"),
                 env: dict[str, str] | None = None, tftp_port: int | None = None):
        self.dir = workdir
        self.web, self.cfg, self.tftp = free_port(), free_port(), tftp_port or free_port(socket.SOCK_DGRAM)
        self.url = f"sqlite:///{workdir / 'pm.db'}"
        (workdir / "loads").mkdir()
        (workdir / "licenses").mkdir()
        (workdir / "loads" / "sip88xx.14-2-1-0101-26.loads").write_bytes(os.urandom(3000))
        (workdir / "secret.txt").write_text("secret")
        env = dict(os.environ, PHONE_MIGRATION_FILES__LOADS_DIR=str(workdir / "loads"),
                   PHONE_MIGRATION_FILES__LICENSES_DIR=str(workdir / "licenses"),
                   PHONE_MIGRATION_TFTP__RATE_PER_SOURCE="0", **(env or {}))
        self.log = open(workdir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "phone-migration"), "--database", self.url, "serve", "--demo", "--web-port", str(self.web),
             "--config-port", str(self.cfg), "--tftp-port", str(self.tftp), *ivr_args],
            cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.get(f"http://127.0.0.1:{self.web}/healthz")[0] == 200:
                    assert self.proc.poll() is None, "another server answered on our port"
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start: " + (workdir / "server.log").read_text())

    def wait_web_workers(self, processes: int, seconds: float = 60) -> None:
        """Until ``processes - 1`` web workers accept beside the main process (``web.processes``)."""
        deadline = time.monotonic() + seconds
        while processes > 1 and time.monotonic() < deadline:
            status, body = self.get(f"http://127.0.0.1:{self.web}/metrics")
            up = re.search(rb"^pm_web_workers_up (\S+)", body, re.M) if status == 200 else None
            if up and float(up.group(1)) >= processes - 1:
                return
            time.sleep(0.2)
        assert processes == 1, "the web workers did not come up: " + (self.dir / "server.log").read_text()[-3000:]

    def get(self, url: str):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def rendered(self, name: str) -> bytes:
        db = Database(self.url)
        try:
            with db.session() as s:
                server = ServerInfo(services_base=f"http://127.0.0.1:{self.web}")
                return render_device(device_config(s, name, default_catalog()), server)
        finally:
            db.dispose()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("serve"))
    yield srv
    assert srv.stop() == 0
    log = (srv.dir / "server.log").read_text()
    assert "server_stopped" in log
    assert not logged_secrets(log, ("7314", "5093", "951413"))


def tool(*argv, timeout=20) -> subprocess.CompletedProcess:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed (Debian: tftp-hpa, atftp, curl)")
    return subprocess.run(argv, capture_output=True, timeout=timeout)


DEMO_PHONES = sorted(p.stem.replace(".cnf", "") for p in (Path(__file__).parents[1] / "golden").glob("SEP*.cnf.xml"))


@pytest.mark.parametrize("name", DEMO_PHONES)
def test_t1_t2_t3_every_client_gets_the_rendered_bytes(server, tmp_path, name):
    expected = server.rendered(name)
    out = tmp_path / "hpa.xml"
    r = tool("tftp", "127.0.0.1", str(server.tftp), "-m", "binary", "-c", "get", f"{name}.cnf.xml", str(out))
    assert out.read_bytes() == expected, r.stderr
    out = tmp_path / "atftp.xml"
    r = tool("atftp", "--option", "blksize 1468", "--option", "tsize 0", "-g", "-r", f"{name.lower()}.cnf.xml",
             "-l", str(out), "127.0.0.1", str(server.tftp))
    assert out.read_bytes() == expected, r.stderr
    r = tool("curl", "-sS", "--tftp-blksize", "1024", f"tftp://127.0.0.1:{server.tftp}/{name}.cnf.xml")
    assert r.stdout == expected
    r = tool("curl", "-sS", "-f", f"http://127.0.0.1:{server.cfg}/{name}.cnf.xml")
    assert r.stdout == expected


def test_t1_security_files_not_found_and_xmldefault(server):
    r = tool("curl", "-sS", f"tftp://127.0.0.1:{server.tftp}/CTLSEP001122330002.tlv")
    assert r.returncode == 68  # curl's CURLE_TFTP_NOTFOUND
    status, _ = server.get(f"http://127.0.0.1:{server.cfg}/ITLSEP001122330002.tlv")
    assert status == 404
    r = tool("curl", "-sS", f"tftp://127.0.0.1:{server.tftp}/XMLDefault.cnf.xml")
    assert etree.fromstring(r.stdout).find("loadInformation684").get("model") == "Cisco 8851"


def test_t2_write_refused_and_traversal_refused(server, tmp_path):
    upload = tmp_path / "evil.txt"
    upload.write_text("x")
    r = tool("tftp", "127.0.0.1", str(server.tftp), "-m", "binary", "-c", "put", str(upload), "evil.txt")
    assert b"read-only" in (r.stdout + r.stderr).lower() or b"error" in (r.stdout + r.stderr).lower()
    assert not (server.dir / "evil.txt").exists() and not (server.dir / "loads" / "evil.txt").exists()
    out = tmp_path / "x"
    r = tool("tftp", "127.0.0.1", str(server.tftp), "-m", "binary", "-c", "get", "../secret.txt", str(out))
    assert not out.exists() or out.read_bytes() != b"secret"
    status, body = server.get(f"http://127.0.0.1:{server.cfg}/..%2Fsecret.txt")
    assert status in (403, 404) and b"secret" != body


def test_t5_loads_folder_over_both(server):
    expected = (server.dir / "loads" / "sip88xx.14-2-1-0101-26.loads").read_bytes()
    r = tool("curl", "-sS", f"tftp://127.0.0.1:{server.tftp}/sip88xx.14-2-1-0101-26.loads")
    assert r.stdout == expected
    assert server.get(f"http://127.0.0.1:{server.cfg}/sip88xx.14-2-1-0101-26.loads") == (200, expected)


def test_t4_unknown_phone_auto_registers_then_cli_migration_reaches_its_file(server, tmp_path):
    r = tool("curl", "-sS", f"tftp://127.0.0.1:{server.tftp}/SEPAABBCCDDEE77.cnf.xml")
    first = etree.fromstring(r.stdout)
    assert first.findtext("sipProfile/sipLines/line/name").startswith("90")
    cli = subprocess.run([str(BIN / "phone-migration"), "--database", server.url, "migrate", "SEP001122330033",
                          "--mac", "aa:bb:cc:dd:ee:77", "--model", "8851"], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    out = tmp_path / "after.xml"
    tool("tftp", "127.0.0.1", str(server.tftp), "-m", "binary", "-c", "get", "SEPAABBCCDDEE77.cnf.xml", str(out))
    after = etree.fromstring(out.read_bytes())
    assert after.findtext("sipProfile/sipLines/line/name") == "1012"  # olivia's line, C-14


def test_health_and_metrics(server):
    status, body = server.get(f"http://127.0.0.1:{server.web}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = server.get(f"http://127.0.0.1:{server.web}/metrics")
    assert status == 200 and b"pm_tftp_transfers_total" in body and b"pm_config_requests_total" in body


def test_bad_setting_names_the_key(tmp_path):
    env = dict(os.environ, PHONE_MIGRATION_TFTP__PORT="not-a-port")
    r = subprocess.run([str(BIN / "phone-migration"), "--database", f"sqlite:///{tmp_path / 'x.db'}", "serve"],
                       capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)
    assert r.returncode == 1 and "tftp.port" in r.stderr
