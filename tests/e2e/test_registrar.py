"""R-1..R-4 end to end against Kamailio and the product (``registrar_site``): a
REGISTER is accepted and stored, or refused with 403; a registration never
refreshed expires; a lost event is healed by reconciliation; calls go to the
IVR, to a registered phone, or get 404. The whole life of a replaced phone
(R-5, R-6) is in test_phone_life.py."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from registrar_site import (  # noqa: E402
    BOB,
    JUDY,
    KEN,
    Phone,
    Registrar,
    device_state,
    location,
    registered,
    registrar_site,
    registrations,
    wait_until,
)
from test_ivr_supervised import SCENARIOS, finish, free_port, free_sip_ports  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with registrar_site(tmp_path_factory.mktemp("registrar")) as started:
        yield started


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
