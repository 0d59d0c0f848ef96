"""The registrar site the R tests share: ``phone-migration serve --demo`` (one IVR
worker) as the product, Kamailio started with the file ``phone-migration
kamailio-config`` writes for it, SIPp as Cisco phones registering over TCP
from their own ephemeral ports, and what the tests read back (the product's
registration rows, Kamailio's location table). Everything on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_ivr_supervised import BIN, SCENARIOS, IvrServer, finish, free_port, free_sip_ports, need  # noqa: E402

TOKEN = "e2e-registrar-token-0123456"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
BOB, JUDY, KEN = ("001122330002", "1002"), ("001122330031", "1010"), ("001122330032", "1011")  # demo SIP phones
OLIVIA = "SEP001122330033"  # olivia's 7841, line 1012


def wait_until(predicate, timeout: float, what: str, every: float = 0.2):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Registrar:
    """Kamailio started with the file kamailio-config wrote for the running product."""

    def __init__(self, workdir: Path, server: IvrServer, tls: bool = False) -> None:
        """``tls``: also listen on TLS (``tls_port``) with a certificate for 127.0.0.1 made here (``ca``)."""
        if shutil.which("kamailio") is None:
            pytest.skip("kamailio is not installed (Debian: kamailio, kamailio-utils-modules)")
        need("kamcmd", "kamailio")
        assert (MODULES / "http_client.so").exists(), "Kamailio's http_client is missing (Debian: kamailio-utils-modules)"
        self.dir, self.port, self.rpc_port = workdir, free_sip_ports(1), server.rpc_port
        self.tls_port, self.ca, tls_args = None, None, []
        if tls:
            self.tls_port, self.ca = free_port(), workdir / "kamailio-cert.pem"
            key = workdir / "kamailio-key.pem"
            made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                   "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                   "-keyout", str(key), "-out", str(self.ca)], capture_output=True, text=True, timeout=60)
            assert made.returncode == 0, made.stderr
            tls_args = ["--tls-port", str(self.tls_port), "--tls-certificate", str(self.ca), "--tls-private-key", str(key)]
        run = workdir / "run"
        run.mkdir()
        self.ctl = f"unix:{run}/kamailio_ctl"
        self.cfg = workdir / "kamailio.cfg"
        generated = subprocess.run(
            [str(BIN / "phone-migration"), "--database", server.url, "kamailio-config", "--listen", "127.0.0.1",
             "--sip-port", str(self.port), "--rpc", f"127.0.0.1:{self.rpc_port}",
             "--callback-url", f"http://127.0.0.1:{server.web}/callcontrol", "--workers-port", str(server.ivr_port),
             "--workers", "1", "--min-expires", "2", "--expiry-check", "1", "--ctl-socket", self.ctl,
             "--dispatcher-list", str(workdir / "ivr-workers.list"), *tls_args, "-o", str(self.cfg)],
            env=dict(os.environ, PHONE_MIGRATION_CALLCONTROL__TOKEN=TOKEN), cwd=workdir, capture_output=True, text=True, timeout=60)
        assert generated.returncode == 0, generated.stderr
        self.log_path = workdir / "kamailio.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["kamailio", "-f", str(self.cfg), "-DD", "-E", "-m", "64", "-M", "8", "-w", str(workdir),
                 "-Y", str(run), "-P", str(run / "kamailio.pid")], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.alive() and self.rpc("core.version"), 20, "Kamailio's JSON-RPC")
            wait_until(lambda: "FLAGS: AP" in self.kamcmd("dispatcher.list"), 20, "the IVR worker active")
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        assert self.proc.poll() is None, self.log()[-3000:]
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rpc(self, method: str, *params):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.rpc_port}/RPC", data=body,
                                         headers={"X-Phone-Migration-Token": TOKEN})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read()).get("result")
        except OSError:
            return None

    def kamcmd(self, *args: str) -> str:
        return subprocess.run(["kamcmd", "-s", self.ctl, *args], capture_output=True, text=True, timeout=10).stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the phones ---------------------------------------------------------------------------
class Phone:
    """SIPp as a Cisco phone: one TCP connection to Kamailio from its own port (``-t t1``)."""

    def __init__(self, registrar: Registrar, workdir: Path, dn: str, mac: str, *, expires: int = 300,
                 hold_ms: int = 0, refused: bool = False, answers: bool = False) -> None:
        need("sipp", "sip-tester")
        self.name = f"{mac}-{dn}-{time.monotonic_ns()}"
        self.messages = workdir / f"{self.name}.messages.log"
        self.contact_port = free_port()  # in the Contact only: nothing listens there
        argv = ["sipp", f"127.0.0.1:{registrar.port}", "-sf",
                str(SCENARIOS / ("phone_register_refused.xml" if refused else "phone_register.xml")),
                "-t", "t1", "-i", "127.0.0.1", "-p", str(free_port()), "-m", "1", "-nostdin",
                "-key", "dn", dn, "-key", "mac", mac, "-key", "expires", str(expires),
                "-key", "contact_port", str(self.contact_port), "-d", str(hold_ms),
                "-trace_msg", "-message_file", str(self.messages), "-trace_err",
                "-error_file", str(workdir / f"{self.name}.errors.log"), "-timeout", f"{hold_ms // 1000 + 20}s"]
        if answers:
            argv += ["-oocsf", str(SCENARIOS / "phone_answers.xml")]
        self.out = open(workdir / f"{self.name}.out", "wb")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""

    def call_id(self) -> str:
        return re.search(r"^Call-ID: *(\S+)", self.text(), re.M)[1]

    def finish(self, timeout: float = 40) -> int:
        try:
            return finish(self.proc, timeout)
        finally:
            self.out.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def registered(phone: Phone) -> bool:
    return "SIP/2.0 200 OK" in phone.text()


def registrations(server: IvrServer) -> dict[str, dict]:
    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        return {r["device_name"]: dict(r) for r in conn.execute("SELECT * FROM registration")}
    finally:
        conn.close()


def device_state(server: IvrServer, name: str) -> tuple:
    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT registration, sip_contact, register_call_id FROM device WHERE name = ?",
                            (name,)).fetchone()
    finally:
        conn.close()


def location(registrar: Registrar) -> dict[str, list[dict]]:
    """AOR -> its contacts, as ``ul.dump`` shows them."""
    found: dict[str, list[dict]] = {}
    for domain in (registrar.rpc("ul.dump") or {}).get("Domains", []):
        for record in domain["Domain"]["AoRs"]:
            found[record["Info"]["AoR"]] = [c["Contact"] for c in record["Info"]["Contacts"]]
    return found


def api_token(server: IvrServer) -> str:
    r = subprocess.run([str(BIN / "phone-migration"), "--database", server.url, "tokens", "create", "e2e-registrar",
                        "--scope", "read", "--scope", "write"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().rsplit(" ", 1)[-1]


@contextmanager
def registrar_site(workdir: Path, tls: bool = False):
    """The product and Kamailio in front of it, stopped (the product must exit 0) on the way out."""
    rpc_port = free_port()
    server = IvrServer(workdir, workers=1, PHONE_MIGRATION_CALLCONTROL__TOKEN=TOKEN,
                       PHONE_MIGRATION_CALLCONTROL__KAMAILIO_RPC_URL=f"http://127.0.0.1:{rpc_port}/RPC",
                       PHONE_MIGRATION_CALLCONTROL__RECONCILE_SECONDS="2",
                       PHONE_MIGRATION_CALLCONTROL__GRACE_SECONDS="1")
    server.rpc_port = rpc_port
    registrar = None
    try:
        registrar = Registrar(workdir, server, tls)
        yield server, registrar
    finally:
        if registrar is not None:
            registrar.stop()
        assert server.stop() == 0, server.log_text()[-3000:]
