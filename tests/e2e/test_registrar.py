"""R-1..R-6 end to end: Kamailio as the phones' registrar and proxy with the
configuration ``phone-migration kamailio-config`` writes, ``phone-migration serve
--demo`` (one IVR worker) as the product, SIPp as Cisco phones registering over
TCP from their own ephemeral ports. Everything on 127.0.0.1.

A REGISTER is accepted and stored, or refused with 403; a registration never
refreshed expires; a lost event is healed by reconciliation; calls go to the
IVR, to a registered phone, or get 404; after a migration through the API the
restart NOTIFY reaches the new phone over its own TCP connection and the phone
answers 200."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_ivr_supervised import BIN, SCENARIOS, IvrServer, finish, free_port, free_sip_ports, need  # noqa: E402

pytestmark = pytest.mark.slow
TOKEN = "e2e-registrar-token-0123456"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
BOB, JUDY, KEN = ("001122330002", "1002"), ("001122330031", "1010"), ("001122330032", "1011")  # demo SIP phones
OLIVIA = "SEP001122330033"  # olivia's 7841, line 1012
NEW_MAC = "AABBCCDDEE88"


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

    def __init__(self, workdir: Path, server: IvrServer) -> None:
        if shutil.which("kamailio") is None:
            pytest.skip("kamailio is not installed (Debian: kamailio, kamailio-utils-modules)")
        need("kamcmd", "kamailio")
        assert (MODULES / "http_client.so").exists(), "Kamailio's http_client is missing (Debian: kamailio-utils-modules)"
        self.dir, self.port, self.rpc_port = workdir, free_sip_ports(1), server.rpc_port
        run = workdir / "run"
        run.mkdir()
        self.ctl = f"unix:{run}/kamailio_ctl"
        self.cfg = workdir / "kamailio.cfg"
        generated = subprocess.run(
            [str(BIN / "phone-migration"), "--database", server.url, "kamailio-config", "--listen", "127.0.0.1",
             "--sip-port", str(self.port), "--rpc", f"127.0.0.1:{self.rpc_port}",
             "--callback-url", f"http://127.0.0.1:{server.web}/callcontrol", "--workers-port", str(server.ivr_port),
             "--workers", "1", "--min-expires", "2", "--expiry-check", "1", "--ctl-socket", self.ctl,
             "--dispatcher-list", str(workdir / "ivr-workers.list"), "-o", str(self.cfg)],
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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("registrar")
    rpc_port = free_port()
    server = IvrServer(workdir, workers=1, PHONE_MIGRATION_CALLCONTROL__TOKEN=TOKEN,
                       PHONE_MIGRATION_CALLCONTROL__KAMAILIO_RPC_URL=f"http://127.0.0.1:{rpc_port}/RPC",
                       PHONE_MIGRATION_CALLCONTROL__RECONCILE_SECONDS="2",
                       PHONE_MIGRATION_CALLCONTROL__GRACE_SECONDS="1")
    server.rpc_port = rpc_port
    registrar = None
    try:
        registrar = Registrar(workdir, server)
        yield server, registrar
    finally:
        if registrar is not None:
            registrar.stop()
        assert server.stop() == 0, server.log_text()[-3000:]


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


# --- R-3 ----------------------------------------------------------------------
def test_r1_r3_a_cisco_phone_registers_over_tcp_and_the_product_stores_it(site, tmp_path):
    server, registrar = site
    mac, dn = BOB
    phone = Phone(registrar, tmp_path, dn, mac, hold_ms=500)
    assert phone.finish() == 0, phone.text()[-2000:]
    source = re.search(r"^Via: SIP/2.0/TCP 127\.0\.0\.1:(\d+)", phone.text(), re.M)[1]
    row = wait_until(lambda: registrations(server).get(f"SEP{mac}"), 10, "the registration stored")
    assert (row["aor"], row["transport"], row["source"]) == (dn, "tcp", f"127.0.0.1:{source}")
    assert row["received"] == f"sip:127.0.0.1:{source};transport=tcp"  # the phone's own connection
    assert row["contact"] == f"sip:{dn}@127.0.0.1:{phone.contact_port};transport=tcp"
    assert row["call_id"] == phone.call_id() and row["user_agent"] == "Cisco-CP8851/14.2.1"
    assert device_state(server, f"SEP{mac}") == ("registered", row["contact"], phone.call_id())
    [contact] = location(registrar)[dn]
    assert contact["Received"] == row["received"] and contact["Instance"].endswith(f"{mac}>")
    # what a restart asks when the product no longer counts the phone registered (RegistrarRestarts._bound)
    lookup = registrar.rpc("ul.lookup", "location", dn)
    assert lookup["AoR"] == dn and [c["Contact"]["Address"] for c in lookup["Contacts"]] == [row["contact"]]
    assert any(e.get("device") == f"SEP{mac}" for e in server.events("registered"))


@pytest.mark.parametrize("mac, dn, code", [("00AABBCCDD01", "1002", "register_unknown_device"),
                                           (BOB[0], "1003", "register_foreign_dn")])
def test_r1_an_unknown_mac_or_a_dn_not_on_the_phone_gets_403_and_nothing_is_saved(site, tmp_path, mac, dn, code):
    server, registrar = site
    def bindings():
        return [(c["Address"], c["Call-ID"]) for c in location(registrar).get(dn, [])]

    before = bindings()
    phone = Phone(registrar, tmp_path, dn, mac, refused=True)
    assert phone.finish() == 0, phone.text()[-2000:]
    assert bindings() == before
    assert f"SEP{mac}" not in registrations(server) or mac == BOB[0]
    assert any(e.get("refusal") == code and e.get("aor") == dn for e in server.events("register_refused"))
    assert f"REG-REFUSED aor={dn}" in registrar.log()


def test_r3_a_registration_never_refreshed_expires(site, tmp_path):
    server, registrar = site
    mac, dn = JUDY
    phone = Phone(registrar, tmp_path, dn, mac, expires=3)
    assert phone.finish() == 0, phone.text()[-2000:]
    assert wait_until(lambda: f"SEP{mac}" in registrations(server), 10, "registered")
    # Whichever comes first ends it: Kamailio's expiry run (every second here) telling the product
    # (event_route[usrloc:contact-expired]), the product's own expiry (3 s + 1 s grace), or ul.dump
    # no longer listing it.
    wait_until(lambda: f"SEP{mac}" not in registrations(server), 20, "the registration expired")
    assert device_state(server, f"SEP{mac}")[0] == "unregistered"
    wait_until(lambda: f"REG-EXPIRED aor={dn}" in registrar.log(), 20, "Kamailio's expiry event")
    wait_until(lambda: dn not in location(registrar), 10, "the contact gone from Kamailio's table")
    wait_until(lambda: any(e.get("device") == f"SEP{mac}" and e.get("reason") == "expired"
                           for e in server.events("unregistered")), 10, "the product told of the expiry")


def test_r3_lost_events_are_healed_by_reconciliation(site, tmp_path):
    server, registrar = site
    mac, dn = KEN
    phone = Phone(registrar, tmp_path, dn, mac)
    assert phone.finish() == 0, phone.text()[-2000:]
    wait_until(lambda: f"SEP{mac}" in registrations(server), 10, "registered")
    # The product loses the event (as if Kamailio could not reach it): the next ul.dump brings it back.
    conn = sqlite3.connect(server.db_path, timeout=30)
    with conn:
        conn.execute("DELETE FROM registration WHERE device_name = ?", (f"SEP{mac}",))
        conn.execute("UPDATE device SET registration = 'unregistered' WHERE name = ?", (f"SEP{mac}",))
    conn.close()
    row = wait_until(lambda: registrations(server).get(f"SEP{mac}"), 15, "reconciliation to restore it")
    assert row["call_id"] == phone.call_id() and device_state(server, f"SEP{mac}")[0] == "registered"
    # Kamailio forgets the contact without telling (ul.rm sends no event): the next ul.dump ends it.
    registrar.rpc("ul.rm", "location", dn)
    assert dn not in location(registrar)
    wait_until(lambda: f"SEP{mac}" not in registrations(server), 15, "reconciliation to end it")
    assert device_state(server, f"SEP{mac}")[0] == "unregistered"


# --- R-4 -------------------------------------------------------------------------------------
def caller(registrar: Registrar, workdir: Path, scenario: str, dn: str) -> subprocess.Popen:
    out = open(workdir / f"{scenario}.{dn}.out", "wb")
    try:
        return subprocess.Popen(
            ["sipp", f"127.0.0.1:{registrar.port}", "-sf", str(SCENARIOS / scenario), "-s", dn, "-i", "127.0.0.1",
             "-p", str(free_port(socket.SOCK_DGRAM)), "-mi", "127.0.0.1", "-mp", str(free_sip_ports(4)), "-m", "1",
             "-nostdin", "-d", "1000", "-timeout", "30s", "-trace_err",
             "-error_file", str(workdir / f"{scenario}.{dn}.errors.log")],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def test_r4_a_call_reaches_the_registered_phone_the_ivr_or_gets_404(site, tmp_path):
    server, registrar = site
    mac, dn = BOB
    phone = Phone(registrar, tmp_path, dn, mac, hold_ms=15000, answers=True)
    try:
        wait_until(lambda: registered(phone), 10, "the phone registered")
        call = caller(registrar, tmp_path, "phone_call.xml", dn)
        assert finish(call, 40) == 0, (tmp_path / f"phone_call.xml.{dn}.errors.log").read_text(errors="replace")
        assert "INVITE sip:" in phone.text() and "BYE sip:" in phone.text()  # over the phone's TCP connection
        assert "CALL-LOCAL" in registrar.log()
        missing = caller(registrar, tmp_path, "phone_call_not_found.xml", "1099")
        assert finish(missing, 40) == 0
        assert "CALL-NOTFOUND" in registrar.log() and "to 1099 -> 404" in registrar.log()
        ivr = caller(registrar, tmp_path, "ivr_call.xml", "8000")
        assert finish(ivr, 60) == 0, (tmp_path / "ivr_call.xml.8000.errors.log").read_text(errors="replace")
        assert "DS-ANSWERED" in registrar.log()
    finally:
        phone.kill()


# --- R-5, R-6 --------------------------------------------------------------------------------
def api_token(server: IvrServer) -> str:
    r = subprocess.run([str(BIN / "phone-migration"), "--database", server.url, "tokens", "create", "e2e-registrar",
                        "--scope", "read", "--scope", "write"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().rsplit(" ", 1)[-1]


def test_r5_the_restart_after_a_migration_reaches_the_phone_over_its_tcp_connection(site, tmp_path):
    server, registrar = site
    # A new phone boots: its config file request auto-registers it with a temporary DN (T-4) ...
    with urllib.request.urlopen(f"http://127.0.0.1:{server.cfg}/SEP{NEW_MAC}.cnf.xml", timeout=10) as response:
        temporary = re.search(rb"<name>(9\d{3})</name>", response.read())[1].decode()
    # ... and registers that line over TCP, then waits.
    phone = Phone(registrar, tmp_path, temporary, NEW_MAC, hold_ms=30000, answers=True)
    try:
        wait_until(lambda: f"SEP{NEW_MAC}" in registrations(server), 10, "the new phone registered")
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.web}/api/v1/migrate", method="POST",
            data=json.dumps({"old": OLIVIA, "mac": NEW_MAC, "model": "8851"}).encode(),
            headers={"Authorization": f"Bearer {api_token(server)}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, result = response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(exc.read().decode()) from None
        assert status == 201 and result["applied"] is True and result["restarted"] is True, result
        text = wait_until(lambda: "NOTIFY sip:" in phone.text() and phone.text(), 10, "the NOTIFY")
        notify = text[text.index("NOTIFY sip:"):]
        assert notify.startswith(f"NOTIFY sip:{temporary}@127.0.0.1:{phone.contact_port};transport=tcp SIP/2.0")
        assert "Event: service-control" in notify and "action=restart" in notify
        assert f"RegisterCallId={{{phone.call_id()}}}" in notify
        [sent] = [e for e in server.events("restart_sent") if e.get("device") == f"SEP{NEW_MAC}"]
        assert (sent["status"], sent["ok"], sent["via"]) == (200, True, "registrar")
    finally:
        phone.kill()
    # The phone comes back with its new line 1: accepted; its temporary DN is not its line any more.
    refused = Phone(registrar, tmp_path, temporary, NEW_MAC, refused=True)
    assert refused.finish() == 0, refused.text()[-2000:]
    again = Phone(registrar, tmp_path, "1012", NEW_MAC)
    assert again.finish() == 0, again.text()[-2000:]
    wait_until(lambda: any(e.get("device") == f"SEP{NEW_MAC}" and e.get("confirmed")
                           for e in server.events("registered")), 10, "the migration confirmed")
