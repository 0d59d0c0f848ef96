"""The Phone Migration Service screens through the Flask test client (M-1..M-5,
with the A, D and C rules behind them)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from phone_emulator import Phone
from sqlalchemy import event
from sqlmodel import select

from models.rules.attempt import Attempt
from models.rules.plan import Target
from models.rules.refusals import SAYS, Refused
from models.services.activation import issue
from models.services.demo import AUTH_CODE
from models.storage.settings import save_settings
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.settings import DeviceDefaults
from phoneservice.observe import scrub_query
from phoneservice.web.app import create_app

XSD = etree.XMLSchema(etree.parse(str(Path(__file__).parents[1] / "phoneservice" / "web" / "screens" / "schemas" / "CiscoIPPhone.xsd")))
NEW = "SEP00AA11BB22CC"  # the demo's auto-registered 8851 (8851: onboarding by activation code)
FRESH = "SEPAABBCCDD0001"  # a phone the site has never seen


@pytest.fixture
def phone(services):
    client = create_app(services).test_client()

    def fetch(url, headers):
        parts = urlsplit(url)
        response = client.get(parts.path + ("?" + parts.query if parts.query else ""), headers=headers)
        body = response.data
        assert response.headers["Content-Type"] == "text/xml; charset=UTF-8"
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        doc = etree.fromstring(body)
        assert XSD.validate(doc), (url, XSD.error_log.last_error, body)
        return response.status_code, body, dict(response.headers)

    def make(model="CP-8851"):
        return Phone(fetch, model)

    return make


def start(phone, name=NEW, model="CP-8851"):
    p = phone(model)
    return p, p.get(f"/screens/?name={name}")


def login(p, first, ext, pin):
    identify = p.choose(first, "Replace") if first.kind == "CiscoIPPhoneMenu" else first
    return p.submit(p.submit(identify, ext=ext), pin=pin)


def lines_of(services, name):
    with services.db.session() as s:
        device = s.exec(select(Device).where(Device.name == name)).one()
        rows = s.exec(select(LineAppearance).where(LineAppearance.device_id == device.id).order_by(LineAppearance.position))
        return [s.get(DirectoryNumber, r.dn_id).pattern for r in rows]


# --- M-1 ---------------------------------------------------------------------------


def set_site(services, autoreg: bool, method: str | None, model="8851"):
    with services.db.session() as s:
        save_settings(s, autoreg_enabled=autoreg)
        row = s.get(DeviceDefaults, model)
        if method is None and row is not None:
            s.delete(row)
        elif method is not None:
            s.merge(DeviceDefaults(model=model, onboarding_method=method))


@pytest.mark.parametrize("autoreg,method,expected", [
    (True, None, "registers by itself"),            # row 2
    (False, None, "CiscoIPPhoneInput"),              # row 3: extension and PIN
    (True, "activation_code", "both"),               # row 4
    (False, "auto_registration", "replace only"),   # row 5
    (False, "activation_code", "both"),              # row 6
])
def test_m1_first_screen_per_table4(services, phone, autoreg, method, expected):
    """M-1: each row of source Table 4; row 5 offers "Replace an existing phone" only."""
    set_site(services, autoreg, method)
    p, first = start(phone, FRESH)
    if expected == "both":
        assert [name for name, _ in first.menu()] == ["Provision a new phone", "Replace an existing phone"]
    elif expected == "replace only":
        assert [name for name, _ in first.menu()] == ["Replace an existing phone"]
        assert p.choose(first, "Replace").doc.findtext("InputItem/QueryStringParam") == "ext"
    elif expected == "CiscoIPPhoneInput":
        assert first.kind == expected and first.doc.findtext("InputItem/QueryStringParam") == "ext"
    else:
        assert expected in first.text


def test_m1_preconfigured_phone_gets_nothing_to_do(phone):
    _, first = start(phone, "SEP001122330002")
    assert "already set up" in first.text


@pytest.mark.parametrize("model,why", [("CP-7965", "not supported"), ("CP-8865", "video endpoint"), (None, "did not say")])
def test_m2_unsupported_models_and_video_refused(phone, model, why):
    first = phone(model).get(f"/screens/?name={FRESH}")
    assert why in first.text


def test_m2_old_load_refused(services, phone):
    with services.db.session() as s:
        new = s.exec(select(Device).where(Device.name == NEW)).one()
        new.load_override = "sip88xx.12-5-1SR3-74"
        s.add(new)
    _, first = start(phone)
    assert "12.8.1" in first.text


@pytest.mark.parametrize("name", ["SEP00aa11bb22cc", "SEPXYZ", "SEP00AA11BB22CC<x>", ""])
def test_device_name_validated(phone, name):
    first = phone().get(f"/screens/?name={name}")
    assert "could not be identified" in first.text


# --- the replace flow (A, D, C-15) --------------------------------------------------


def test_replace_one_phone_end_to_end(services, phone):
    p, first = start(phone)
    preview = login(p, first, "1012", "1739")  # olivia: one unregistered phone -> no question (D-3)
    assert preview.title == "Phone Migration" and "SEP001122330033" in preview.text
    done = p.press(preview, "Confirm")
    assert "takes over the settings of SEP001122330033" in done.text and "unplug" in done.text
    assert lines_of(services, NEW) == ["1012"]
    for url in p.urls_seen()[2:]:
        assert "1739" not in url or "pin=1739" in url  # the PIN travels once, in its own submit
    assert sum("pin=" in u for u in p.urls_seen()) == 1
    assert all(b"1739" not in s.body for s in p.screens)


def test_each_screen_reads_in_one_transaction(services, phone):
    """The blueprint's ``shared_reads`` scope: at most one read transaction a screen, given back after it."""
    seen: list[str] = []
    for name in ("begin", "commit", "rollback"):  # reads roll back; on PostgreSQL writes share the engine
        event.listen(services.db.read_engine, name, lambda _c, name=name: seen.append(name))
    p, first = start(phone)
    screen = login(p, first, "1012", "1739")
    p.press(screen, "Confirm")
    assert len(p.screens) == 5 and seen.count("begin") - seen.count("commit") <= 5
    assert services.db.read_engine.pool.checkedout() == 0


def test_c15_preview_lists_losses_before_confirm(services, phone):
    p, first = start(phone)
    preview = login(p, first, "1001", "7314")  # alice's 7965 with 7 lines onto an 8851
    assert "lines 6 and 7 will move to the KEM" in preview.text
    assert "intercom line 3001" in preview.text
    assert set(preview.softkeys()) == {"Confirm", "Exit"}


@pytest.mark.parametrize("ext,pin,count", [("1005", "3851", 3), ("1006", "6207", 3), ("1007", "9436", 3), ("1008", "2975", 4)])
def test_d3_d4_device_list_shows_description_model_mac(services, phone, ext, pin, count):
    p, first = start(phone)
    listing = login(p, first, ext, pin)
    assert listing.kind == "CiscoIPPhoneMenu" and len(listing.menu()) == count
    name, url = listing.menu()[0]
    assert "#1" in name and "0011223300" in name  # description ... MAC
    preview = p.get(url)
    assert p.press(preview, "Confirm").doc.findtext("Prompt") == "Success"


@pytest.mark.parametrize("ext,pin", [("1003", "8162"), ("1004", "4729")])
def test_d3_single_unregistered_goes_straight_to_preview(phone, ext, pin):
    p, first = start(phone)
    assert login(p, first, ext, pin).doc.findtext("Prompt") == "Confirm the replacement"


def test_d3_list_pages(services, phone):
    from models.services.site import LineSpec, create_device
    with services.db.session() as s:
        for i in range(12):
            create_device(s, f"0011AA0000{i:02X}", "8841", owner="heidi", lines=[LineSpec("1008", "Internal_PT")],
                          description=f"Extra {i}")
    p, first = start(phone)
    listing = login(p, first, "1008", "2975")
    assert len(listing.menu()) == 10 and "(1/2)" in listing.doc.findtext("Prompt")
    second = p.press(listing, "Next")
    assert len(second.menu()) == 6 and "(2/2)" in second.doc.findtext("Prompt")


def test_a3_lobby_phone_with_the_authentication_code(services, phone):
    p, first = start(phone)
    preview = login(p, first, "2000", AUTH_CODE)
    p.press(preview, "Confirm")
    assert lines_of(services, NEW) == ["2000"]


def test_a5_wrong_pin_and_unknown_extension_same_screen(phone):
    p, first = start(phone)
    wrong = login(p, first, "1001", "0000")
    p2, first2 = start(phone)
    unknown = login(p2, first2, "7777", "0000")
    assert wrong.text == unknown.text and "not valid" in wrong.text
    assert "Back" in wrong.softkeys()


def test_a4_three_wrong_pins_on_screens_lock_for_the_ivr_and_cli(services, phone, sqlite_url):
    for _ in range(3):
        p, first = start(phone)
        last = login(p, first, "1001", "0000")
    assert "locked" in last.text and "self-care portal" in last.text
    attempt = Attempt(door="ivr", new_device=NEW)
    services.selfservice.identify(attempt, "1001")
    with pytest.raises(Refused) as exc:
        services.selfservice.authenticate(attempt, "7314")
    assert exc.value.code == "locked"
    from click.testing import CliRunner

    from phoneservice.cli import main
    out = CliRunner().invoke(main, ["--database", services.db.url, "users", "show", "alice"])
    assert "locked: yes" in out.output


def test_a4_session_ends_after_three_wrong_entries(phone):
    p, first = start(phone)
    identify = p.choose(first, "Replace")
    for pin in ("0001", "0002"):
        screen = p.submit(p.submit(identify, ext="7777"), pin=pin)
        assert "try again" in screen.text
    last = p.submit(p.submit(identify, ext="7777"), pin="0003")
    assert "goodbye" in last.text.lower()
    again = p.submit(identify, ext="7777")  # the session is gone: the phone starts over (M-3)
    assert again.doc.findtext("Prompt") == "Start again: choose an option" and again.kind == "CiscoIPPhoneMenu"


def test_m3_error_back_and_exit_return_to_the_first_screen(phone):
    p, first = start(phone)
    error = p.submit(p.choose(first, "Replace"), ext="1010")  # S-3: two partitions
    assert "exists more than once" in error.text
    for key in ("Back", "Exit"):
        assert urlsplit(error.softkeys()[key]).path == "/screens/"


def test_session_tied_to_the_device_and_unguessable(phone):
    p, first = start(phone)
    url = p.choose(first, "Replace").doc.findtext("URL")
    sid = parse_qs(urlsplit(url).query)["s"][0]
    assert len(sid) >= 20
    other = phone().get(f"/screens/identified?name=SEP001122334455&s={sid}&ext=1001")
    assert other.doc.findtext("Prompt") == "Start again: choose an option"  # that phone's own first screen
    assert sid not in other.body.decode()


# --- M-4: injection -----------------------------------------------------------------


def test_m4_hostile_descriptions_stay_text(services, phone):
    with services.db.session() as s:
        for d in s.exec(select(Device).where(Device.description.like("Erin%"))):
            d.description = "<Menu>&\"'" + "ë" * 40 + "]]>"
            s.add(d)
    p, first = start(phone)
    listing = login(p, first, "1005", "3851")
    names = [n for n, _ in listing.menu()]
    assert all(n.startswith("<Menu>&\"'") and len(n) <= 64 for n in names)
    assert b"<Menu>&" not in listing.body


def test_m4_hostile_input_never_becomes_markup(phone):
    p, first = start(phone)
    identify = p.choose(first, "Replace")
    screen = p.submit(identify, ext="<b>&'\"")
    assert screen.kind == "CiscoIPPhoneInput"  # the entry is just an unknown extension


# --- M-5 ----------------------------------------------------------------------------


def test_m5_activation_code_binds_the_phone(services, phone):
    with services.db.session() as s:
        code, _ = issue(s, "bob", "8851", services.catalog)
    p, first = start(phone, FRESH)
    entry = p.choose(first, "Provision")
    assert entry.doc.findtext("InputItem/InputFlags") == "NP"
    bad = p.submit(entry, code="1234567890123456")
    assert "not valid" in bad.text
    p, first = start(phone, FRESH)
    done = p.submit(p.choose(first, "Provision"), code=code)
    assert "set up for you" in done.text
    assert lines_of(services, FRESH) == ["1002"]
    p, first = start(phone, "SEPAABBCCDD0002")
    assert "not valid" in p.submit(p.choose(first, "Provision"), code=code).text  # used once


def test_access_log_scrubs_query_values():
    assert scrub_query("/screens/authenticated?name=SEP001122334455&s=abc&pin=7314") == \
        "/screens/authenticated?name=SEP001122334455&s=***&pin=***"


def test_c14_restart_is_sent_after_the_page_not_before(services, phone):
    """The new phone is waiting for the Success page: the NOTIFY goes out after it
    (a phone that never answers would otherwise hold a screen thread for 4 s)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the new phone's SIP UA, which never answers
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    with services.db.session() as s:
        device = s.exec(select(Device).where(Device.name == NEW)).one()
        device.sip_contact = f"sip:9000@127.0.0.1:{port}"
        s.add(device)
    with sock:
        p, first = start(phone)
        preview = login(p, first, "1012", "1739")
        began = time.monotonic()
        done = p.press(preview, "Confirm")
        assert time.monotonic() - began < 2.0, "the page waited for the phone's answer"
        assert "It restarts in a moment" in done.text and "unplug" in done.text
        notify = sock.recv(65535).decode()
    assert notify.startswith(f"NOTIFY sip:9000@127.0.0.1:{port} SIP/2.0")


# --- M-3: Back, Exit and the phone's own keys ------------------------------------------


def test_m3_back_on_a_wrong_pin_returns_to_the_first_screen_in_the_same_session(phone):
    """M-3: Back on an error screen goes to the first screen, not the extension entry;
    A-4: the session goes on there, so its third wrong entry still ends it."""
    p, screen = start(phone)
    for _ in range(2):
        wrong = login(p, screen, "7777", "0000")
        assert "not valid" in wrong.text and "Press Back to try again" in wrong.text
        screen = p.press(wrong, "Back")
        assert urlsplit(screen.url).path == "/screens/" and screen.kind == "CiscoIPPhoneMenu"
        assert screen.doc.findtext("Prompt") == "Choose an option"
    assert "goodbye" in login(p, screen, "7777", "0000").text.lower()


def test_m3_exit_ends_the_session_and_its_confirm_starts_over(services, phone):
    """M-3: Exit ends the screen session; its Confirm URL, used later, migrates nothing
    and shows the first screen."""
    p, first = start(phone)
    preview = login(p, first, "1012", "1739")
    confirm = preview.softkeys()["Confirm"]
    out = p.press(preview, "Exit")
    assert out.kind == "CiscoIPPhoneMenu" and out.doc.findtext("Prompt") == "Choose an option"
    later = p.get(confirm)
    assert later.kind == "CiscoIPPhoneMenu" and later.doc.findtext("Prompt") == "Start again: choose an option"
    assert lines_of(services, NEW) != ["1012"]
    with services.db.session() as s:
        assert not s.exec(select(Device).where(Device.name == "SEP001122330033")).one().migrated


@pytest.mark.parametrize("model", ["CP-8851", "CP-7841"])
def test_m3_input_screens_keep_the_backspace_key(services, phone, model):
    """M-3: an input screen that names its soft keys loses the phone's defaults, so each
    names "<<" (``SoftKey:<<``, Cisco's Application Development Notes) where Update
    would be; Submit, Back and Exit keep their places."""
    with services.db.session() as s:
        code, _ = issue(s, "bob", "8851", services.catalog)
    p, first = start(phone, model=model)
    inputs = [p.choose(first, "Replace"), p.choose(first, "Provision")]
    inputs.append(p.submit(inputs[0], ext="1001"))
    assert [i.kind for i in inputs] == ["CiscoIPPhoneInput"] * 3
    for screen in inputs:
        keys = {k.findtext("Name"): (k.findtext("URL"), k.findtext("Position")) for k in screen.doc.findall("SoftKeyItem")}
        assert keys["<<"] == ("SoftKey:<<", "3") and keys["Submit"] == ("SoftKey:Submit", "2")
    assert b"<URL>SoftKey:&lt;&lt;</URL>" in inputs[0].body


# --- M-2: the model header ------------------------------------------------------------


@pytest.mark.parametrize("header", ["CP-8851", "Cisco 8851"])
def test_m2_model_header_in_either_spelling(services, phone, header):
    """M-2: ``x-CiscoIPPhoneModelName`` is the manufacturing model name, which "varies
    between different models" (Cisco's Application Development Notes, "Identifying the
    Capabilities of IP Phone Clients"): ``CP-8851`` and ``Cisco 8851`` are one model,
    through replace (a phone with no record: its model comes from the header) and M-5."""
    set_site(services, False, None)
    p, first = start(phone, FRESH, model=header)
    preview = login(p, first, "1012", "1739")
    assert preview.doc.findtext("Prompt") == "Confirm the replacement", preview.text
    assert p.press(preview, "Confirm").doc.findtext("Prompt") == "Success"
    with services.db.session() as s:
        assert s.exec(select(Device).where(Device.name == FRESH)).one().model == "8851"
        code, _ = issue(s, "bob", "8851", services.catalog)
    set_site(services, False, "activation_code")
    p, first = start(phone, "SEPAABBCCDD0002", model=header)
    assert "set up for you" in p.submit(p.choose(first, "Provision"), code=code).text


@pytest.mark.parametrize("header", ["Cisco 9999", "CP-88XX", "<b>"])
def test_m2_unknown_model_header_clearly_refused(phone, header):
    """M-2: a model name the catalogue does not know is refused by name, as text."""
    first = phone(header).get(f"/screens/?name={FRESH}")
    assert f"{header} is not supported here" in first.text and "administrator" in first.text


def test_a4_lockout_of_one_minute_is_worded_in_the_singular(services, phone):
    """A-4: a locked user is told when to try again: "1 minute", never "1 minutes"."""
    with services.db.session() as s:
        save_settings(s, lockout_minutes=1)
    for _ in range(3):
        p, first = start(phone)
        last = login(p, first, "1001", "0000")
    assert "Try again in 1 minute, or ask your administrator" in last.text


# --- C-12 -----------------------------------------------------------------------------


def test_c12_the_loser_of_a_race_is_told_what_every_door_says(services, phone):
    """C-12: two new phones preview the same old phone; the second Confirm is refused
    as already migrated, in the words of ``models.rules.refusals.SAYS`` that the API, the
    admin UI, the CLI and the IVR's prompt use too (not "not a phone you can replace")."""
    p1, first1 = start(phone)
    p2, first2 = start(phone, FRESH)
    preview1, preview2 = login(p1, first1, "1012", "1739"), login(p2, first2, "1012", "1739")
    assert p1.press(preview1, "Confirm").doc.findtext("Prompt") == "Success"
    lost = p2.press(preview2, "Confirm")
    assert lost.text == SAYS["already_migrated"] + "."
    with pytest.raises(Refused) as admin:  # what the API and the admin UI are told for that phone
        services.migrator.migrate("SEP001122330033", Target(mac="AABBCCDDEE09", model="8851"), door="admin")
    assert admin.value.code == "already_migrated" and admin.value.message + "." == lost.text
    with services.db.session() as s:
        codes = s.exec(select(MigrationRecord.code).where(MigrationRecord.outcome == "refused")).all()
    assert codes.count("already_migrated") == 2


@pytest.mark.parametrize("ext", ["", "1" * 49])
def test_a2_an_empty_or_overlong_extension_says_what_to_do_in_words_a_screen_can_follow(phone, ext):
    """A-2, C-12: the engine's bad-entry sentence is the same for every door, so it names no key only the
    IVR has (no "pound key" on a screen, whose input has a Submit soft key)."""
    p, first = start(phone)
    screen = p.submit(p.choose(first, "Replace"), ext=ext)
    assert "That entry is not valid. Enter your extension." in screen.text
    assert "pound" not in screen.text
