"""R-1..R-3, R-5 at the product's door to the registrar: the /callcontrol blueprint
(Flask test client, with the forms kamailio.cfg posts), the ul.dump reconciliation
and the restart through Kamailio's JSON-RPC (a fake Kamailio here; the real one in
tests/e2e/test_registrar.py)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from sqlmodel import select

from ivr.restart import UdpRestarts
from models.rules.registration import Register, RestartTarget
from models.tables.devices import Device
from models.tables.registrations import Registration
from phoneservice.callcontrol import wiring
from phoneservice.callcontrol.reconcile import Reconciler
from phoneservice.callcontrol.registers import from_form, location_registers, parse_contact_header
from phoneservice.callcontrol.restart import RegistrarRestarts, notify_request
from phoneservice.callcontrol.rpc import RpcError
from phoneservice.config import load_config
from phoneservice.web.app import create_app

TOKEN = "kamailio-and-product-0123"
HEADERS = {"X-Phone-Migration-Token": TOKEN}
BOB, BOB_MAC = "SEP001122330002", "001122330002"  # bob's 8851: lines 1002 (line 1) and 1001


def contact_header(mac: str, dn: str, port: int = 50057) -> str:
    """A Cisco 88xx Contact as it registers over TCP (docs/protocol.md)."""
    return (f'<sip:{dn}@192.0.2.10:{port};transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-{mac}>"'
            f';+u.sip!devicename.ccm.cisco.com="SEP{mac.upper()}";+u.sip!model.ccm.cisco.com="684"')


def form(mac: str = BOB_MAC, dn: str = "1002", *, event: str = "register", expires: int = 3600,
         call_id: str = "reg-1@192.0.2.10", port: int = 50057) -> dict:
    """What route REG_FORM posts."""
    return {"event": event, "aor": dn, "transport": "tcp", "source": f"127.0.0.1:{port}", "call_id": call_id,
            "expires": str(expires), "contact_header": contact_header(mac, dn, port),
            "user_agent": "Cisco-CP8851/14.2.1", "received": f"sip:127.0.0.1:{port};transport=tcp"}


@pytest.fixture
def services(demo_db):
    from phoneservice.processes.server import build_services

    services = build_services(load_config(database={"url": demo_db.url}, callcontrol={"token": TOKEN}))
    yield services
    services.close()


@pytest.fixture
def client(services):
    return create_app(services).test_client()


def device(db, name: str) -> SimpleNamespace:
    with db.read_session() as session:
        return SimpleNamespace(**session.exec(select(Device).where(Device.name == name)).one().model_dump())


def registrations(db) -> dict:
    with db.read_session() as session:
        return {r.device_name: SimpleNamespace(**r.model_dump()) for r in session.exec(select(Registration))}


# --- the door ---------------------------------------------------------------------------
def test_without_the_token_nothing_is_answered(client, services):
    assert client.post("/callcontrol/register-check", data=form()).status_code == 401
    assert client.post("/callcontrol/register-check", data=form(),
                       headers={"X-Phone-Migration-Token": TOKEN + "x"}).status_code == 401
    services.config.callcontrol.token = None  # no call control configured: not even a 401
    assert client.post("/callcontrol/register-check", data=form(), headers=HEADERS).status_code == 404


def test_r1_r2_a_known_phone_and_its_lines_are_accepted(client):
    r = client.post("/callcontrol/register-check", data=form(), headers=HEADERS)
    assert r.status_code == 200 and r.get_json() == {"device": BOB}
    r = client.post("/callcontrol/register-check", data=form(dn="1001"), headers=HEADERS)  # its shared line 2
    assert r.status_code == 200 and r.get_json() == {"device": BOB}


@pytest.mark.parametrize("changes, code", [
    ({"mac": "00AABBCCDDEE"}, "register_unknown_device"),  # an unknown MAC
    ({"dn": "1003"}, "register_foreign_dn"),  # carol's DN on bob's phone
])
def test_r1_anything_else_gets_403_and_changes_nothing(client, demo_db, changes, code):
    r = client.post("/callcontrol/register-check", data=form(**changes), headers=HEADERS)
    assert r.status_code == 403 and r.get_json()["refused"] == code
    r = client.post("/callcontrol/registration", data=form(event="registered", **changes), headers=HEADERS)
    assert r.status_code == 403
    assert registrations(demo_db) == {}


def test_r3_registered_then_deregistered(client, demo_db):
    r = client.post("/callcontrol/registration", data=form(event="registered"), headers=HEADERS)
    assert r.status_code == 200 and r.get_json()["device"] == BOB
    bob = device(demo_db, BOB)
    assert (bob.registration, bob.sip_contact, bob.register_call_id) == \
        ("registered", "sip:1002@192.0.2.10:50057;transport=tcp", "reg-1@192.0.2.10")
    row = registrations(demo_db)[BOB]
    assert (row.transport, row.source, row.received, row.user_agent) == \
        ("tcp", "127.0.0.1:50057", "sip:127.0.0.1:50057;transport=tcp", "Cisco-CP8851/14.2.1")

    r = client.post("/callcontrol/registration", data=form(event="deregistered", expires=0), headers=HEADERS)
    assert r.status_code == 200 and r.get_json() == {"device": BOB, "ended": True}
    assert device(demo_db, BOB).registration == "unregistered" and registrations(demo_db) == {}


def test_r3_an_expired_contact_as_usrloc_reports_it(client, demo_db):
    client.post("/callcontrol/registration", data=form(event="registered"), headers=HEADERS)
    expired = {"event": "expired", "expires": "0", "aor": "1002", "contact": "sip:1002@192.0.2.10:50057;transport=tcp",
               "socket": "tcp:127.0.0.1:5060", "call_id": "reg-1@192.0.2.10",
               "received": "sip:127.0.0.1:50057;transport=tcp",
               "instance": f"<urn:uuid:00000000-0000-0000-0000-{BOB_MAC}>"}
    stale = dict(expired, call_id="an-older-registration")  # the phone registered again meanwhile
    assert client.post("/callcontrol/registration", data=stale, headers=HEADERS).get_json()["ended"] is False
    assert device(demo_db, BOB).registration == "registered"
    r = client.post("/callcontrol/registration", data=expired, headers=HEADERS)
    assert r.status_code == 200 and r.get_json() == {"device": BOB, "ended": True}
    assert device(demo_db, BOB).registration == "unregistered"


@pytest.mark.parametrize("data", [{}, {"aor": "1002"}, dict(form(), expires="soon"), dict(form(), event="maybe")])
def test_a_form_that_is_no_registration_gets_400(client, data):
    assert client.post("/callcontrol/registration", data=data, headers=HEADERS).status_code == 400


def test_the_callbacks_need_no_csrf_token_and_set_no_cookie(client):
    r = client.post("/callcontrol/register-check", data=form(), headers=HEADERS)
    assert r.status_code == 200 and "Set-Cookie" not in r.headers


# --- what Kamailio sends, as Register values ------------------------------------------
def test_the_contact_header_gives_uri_instance_and_device_name():
    uri, params = parse_contact_header(contact_header("9c57ad12a4e0", "1001"))
    assert uri == "sip:1001@192.0.2.10:50057;transport=tcp"
    assert params["+sip.instance"] == "<urn:uuid:00000000-0000-0000-0000-9c57ad12a4e0>"
    assert params["+u.sip!devicename.ccm.cisco.com"] == "SEP9C57AD12A4E0"
    assert parse_contact_header('"Desk; 1" <sip:1@h>;expires=0, <sip:2@h>') == ("sip:1@h", {"expires": "0"})
    assert parse_contact_header("sip:1@h:5062;transport=tcp") == ("sip:1@h:5062", {"transport": "tcp"})
    assert parse_contact_header("*") == ("*", {})
    reg = from_form(form())
    assert reg == Register(aor="1002", contact="sip:1002@192.0.2.10:50057;transport=tcp", transport="tcp",
                           source="127.0.0.1:50057", call_id="reg-1@192.0.2.10", expires=3600,
                           instance=f"<urn:uuid:00000000-0000-0000-0000-{BOB_MAC}>", device_name=BOB,
                           user_agent="Cisco-CP8851/14.2.1", received="sip:127.0.0.1:50057;transport=tcp")


def ul_dump(*contacts: tuple[str, dict]) -> dict:
    """``ul.dump``'s result as Kamailio 5.6 gives it over JSON-RPC."""
    aors = [{"Info": {"AoR": aor, "HashID": 1, "Contacts": [{"Contact": c}]}} for aor, c in contacts]
    return {"Domains": [{"Domain": {"Domain": "location", "Size": 1024, "AoRs": aors}}]}


def location(mac: str, dn: str, *, expires=3599, call_id="reg-1@192.0.2.10", port=50057) -> tuple[str, dict]:
    return dn, {"Address": f"sip:{dn}@192.0.2.10:{port};transport=tcp", "Expires": expires, "Q": -1,
                "Call-ID": call_id, "CSeq": 101, "User-Agent": "Cisco-CP8851/14.2.1",
                "Received": f"sip:127.0.0.1:{port};transport=tcp", "Path": "[not set]", "State": "CS_NEW",
                "Socket": "tcp:127.0.0.1:5060", "Instance": f"<urn:uuid:00000000-0000-0000-0000-{mac}>",
                "Tcpconn-Id": 2}


def test_ul_dump_becomes_the_current_registrations():
    regs = location_registers(ul_dump(location(BOB_MAC, "1002"), location("00AABBCCDDEE", "9000", expires="expired")))
    assert regs == [Register(aor="1002", contact="sip:1002@192.0.2.10:50057;transport=tcp", transport="tcp",
                             source="127.0.0.1:50057", call_id="reg-1@192.0.2.10", expires=3599,
                             instance=f"<urn:uuid:00000000-0000-0000-0000-{BOB_MAC}>",
                             user_agent="Cisco-CP8851/14.2.1", received="sip:127.0.0.1:50057;transport=tcp")]
    assert location_registers({}) == [] and location_registers({"Domains": []}) == []


# --- reconciliation ------------------------------------------------------------------
class FakeRpc:
    def __init__(self, answers: dict) -> None:
        self.answers, self.calls = answers, []

    def call(self, method, *params, timeout=None):
        self.calls.append((method, params))
        answer = self.answers[method]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_r3_a_lost_event_is_healed_and_a_vanished_phone_ends(services, demo_db, client):
    logged = []
    # Kamailio holds bob's phone though the product never heard of it (its event was lost) ...
    reconciler = Reconciler(services.registrations, FakeRpc({"ul.dump": ul_dump(location(BOB_MAC, "1002"))}),
                            log=lambda event, *a, **f: logged.append((event, f)))
    counts = reconciler.run()
    assert counts == {"registered": 1, "unregistered": 0, "refused": 0, "listed": 1, "expired": 0}
    assert device(demo_db, BOB).registration == "registered"
    # ... and later no longer does (Kamailio restarted, say): the phone counts as unregistered.
    reconciler.rpc = FakeRpc({"ul.dump": ul_dump()})
    assert reconciler.run()["unregistered"] == 1
    assert device(demo_db, BOB).registration == "unregistered"
    assert logged[-1][0] == "registrations_reconciled"


def test_r3_an_unreachable_registrar_unregisters_nobody_but_expiry_still_runs(services, demo_db, client):
    client.post("/callcontrol/registration", data=form(event="registered"), headers=HEADERS)
    logged = []
    reconciler = Reconciler(services.registrations, FakeRpc({"ul.dump": RpcError("ul.dump: timed out")}),
                            log=lambda event, *a, **f: logged.append(event))
    assert reconciler.run() == {"expired": 0}
    assert device(demo_db, BOB).registration == "registered"
    assert logged == ["registrations_reconcile_failed", "registrations_reconciled"]


# --- the restart through the registrar --------------------------------------------
def target(model: str, call_id: str | None = "reg-1@192.0.2.10") -> RestartTarget:
    return RestartTarget(BOB, "sip:1002@192.0.2.10:50057;transport=tcp", "sip:127.0.0.1:50057;transport=tcp",
                         "tcp", call_id, model)


def test_r5_the_notify_kamailio_sends_for_a_78xx_88xx_and_for_a_7960():
    method, ruri, next_hop, socket, headers, body = notify_request(target("8851"), "sip:phone-migration@127.0.0.1")
    assert (method, ruri, next_hop, socket) == ("NOTIFY", "sip:1002@192.0.2.10:50057;transport=tcp",
                                                "sip:127.0.0.1:50057;transport=tcp", "")
    assert ("Event: service-control\r\nSubscription-State: active\r\nContent-Type: text/plain\r\n" in headers
            and headers.endswith("\r\n"))
    assert headers.startswith("From: <sip:phone-migration@127.0.0.1>\r\nTo: <sip:1002@192.0.2.10:50057;")
    assert "\r\nContact: <sip:phone-migration@127.0.0.1>\r\n" in headers
    assert body.startswith("action=restart\r\nRegisterCallId={reg-1@192.0.2.10}\r\nConfigVersionStamp={")
    _, _, _, _, headers, body = notify_request(target("7960"), "sip:phone-migration@127.0.0.1")
    assert "Event: check-sync\r\n" in headers and "Content-Type" not in headers and body == ""


def test_r5_the_phones_answer_is_logged(caplog):
    regs = SimpleNamespace(restart_target=lambda name: target("8851") if name == BOB else None)
    rpc = FakeRpc({"tm.t_uac_wait_block": {"code": 200, "text": "OK"}})
    sender = RegistrarRestarts(regs, rpc, from_uri="sip:phone-migration@127.0.0.1")
    with caplog.at_level(logging.INFO, logger="phone_migration"):
        assert sender.restart(BOB) is True
        assert sender.restart("SEP00AABBCCDDEE") is False  # not registered: nothing sent
    assert rpc.calls == [("tm.t_uac_wait_block", notify_request(target("8851"), "sip:phone-migration@127.0.0.1"))]
    sent = [r for r in caplog.records if r.getMessage() == "restart_sent"]
    assert sent and sent[0].fields["status"] == 200 and sent[0].fields["via"] == "registrar"
    assert any(r.getMessage() == "restart_skipped" for r in caplog.records)

    silent = RegistrarRestarts(regs, FakeRpc({"tm.t_uac_wait_block": {"code": 408, "text": "Request Timeout"}}))
    assert silent.restart(BOB) is False
    down = RegistrarRestarts(regs, FakeRpc({"tm.t_uac_wait_block": RpcError("refused")}))
    assert down.restart(BOB) is False


def test_r5_without_a_registrar_plain_udp_goes_to_udp_contacts_only(demo_db):
    result = SimpleNamespace(sip_contact="sip:9000@127.0.0.1:5999;transport=tcp", register_call_id="x")
    assert UdpRestarts(demo_db).target("SEP00AABBCCDDEE", result) is None  # TCP: only the registrar reaches it
    udp = SimpleNamespace(sip_contact="sip:9000@127.0.0.1:5999", register_call_id="x",
                          plan=SimpleNamespace(new_model="CP-7960G"))
    # The model's catalogue key, which picks the request: check-sync for a SIP 7960.
    assert UdpRestarts(demo_db).target("SEP00AABBCCDDEE", udp) == ("sip:9000@127.0.0.1:5999", "x", "7960")


def test_the_composition_chooses_the_sender_from_the_settings(demo_db):
    plain = load_config(database={"url": demo_db.url}).callcontrol
    regs = wiring.registrations(plain, demo_db)
    assert isinstance(wiring.restarts(plain, demo_db, regs), UdpRestarts)
    assert wiring.reconcile_service(plain, regs, reactor=None) is None and wiring.restarts_factory(plain) is None
    config = load_config(database={"url": demo_db.url},
                         callcontrol={"token": TOKEN, "kamailio_rpc_url": "http://127.0.0.1:5081/RPC"})
    sender = wiring.restarts(config.callcontrol, demo_db, regs)
    assert isinstance(sender, RegistrarRestarts) and sender.from_uri == "sip:phone-migration@127.0.0.1"
    env = wiring.worker_environment(config, {"PATH": "/bin", "PHONE_MIGRATION_CALLCONTROL__TOKEN": "stale-token-xxxxxx"})
    assert env["PHONE_MIGRATION_CALLCONTROL__TOKEN"] == TOKEN and env["PATH"] == "/bin"
    assert env["PHONE_MIGRATION_CALLCONTROL__KAMAILIO_RPC_URL"] == "http://127.0.0.1:5081/RPC"


def test_r5_a_phone_whose_registered_dn_the_migration_took_away_is_still_restarted():
    """Between the migration and its restart a reconciliation may stop counting the new phone as
    registered (its temporary DN is no line of it any more): Kamailio's binding still reaches it."""
    contact = "sip:9000@192.0.2.10:50057;transport=tcp"
    regs = SimpleNamespace(restart_target=lambda name: None)
    _, found = location("AABBCCDDEE88", "9000")
    rpc = FakeRpc({"ul.lookup": {"AoR": "9000", "Contacts": [{"Contact": dict(found, Address=contact)}]},
                   "tm.t_uac_wait_block": {"code": 200, "text": "OK"}})
    result = SimpleNamespace(sip_contact=contact, register_call_id="reg-1@192.0.2.10",
                             plan=SimpleNamespace(new_model="8851"))
    sender = RegistrarRestarts(regs, rpc)
    assert sender.target("SEPAABBCCDDEE88", result) == RestartTarget(
        "SEPAABBCCDDEE88", contact, "sip:127.0.0.1:50057;transport=tcp", "tcp", "reg-1@192.0.2.10", "8851")
    assert rpc.calls[0] == ("ul.lookup", ("location", "9000"))
    assert sender.restart("SEPAABBCCDDEE88", result) is True
    gone = RegistrarRestarts(regs, FakeRpc({"ul.lookup": RpcError("500 AOR not found in location table")}))
    assert gone.target("SEPAABBCCDDEE88", result) is None
