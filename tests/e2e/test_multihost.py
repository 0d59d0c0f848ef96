"""H-1, H-2: two hosts of the product on one PostgreSQL, behind HAProxy (web)
and Kamailio (the IVR workers), as docs/deploy/README.md's "Several hosts on
PostgreSQL" sets them up. The hosts are network namespaces this test makes and
removes (``netns.Hosts``); everything it sends stays inside them.

Through the public doors only: the REST API, the phone screens (an emulated
8851), the config files over HTTP and TFTP, SIP calls through Kamailio. Host A
is 10.0.0.5, host B 10.0.0.6; HAProxy and Kamailio 10.0.0.4."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
import netns  # noqa: E402
import pgcluster  # noqa: E402
from multihost import DB, FRONT, HOSTS, Site, pg_hba, wait_until  # noqa: E402
from phone_emulator import Phone  # noqa: E402

pytestmark = pytest.mark.slow
A, B = HOSTS["a"], HOSTS["b"]
SCENARIOS = Path(__file__).parent / "sipp"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    reason = netns.why_not()
    if reason:
        pytest.skip(f"the multi-host test builds its hosts as network namespaces: {reason}")
    for tool, package in (("haproxy", "haproxy"), ("kamailio", "kamailio"), ("kamcmd", "kamailio"),
                          ("psql", "postgresql"), ("sipp", "sip-tester"), ("tftp", "tftp-hpa")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian: {package})")
    workdir = tmp_path_factory.mktemp("multihost")
    net = netns.Hosts(str(os.getpid()), (FRONT, DB), HOSTS)
    try:
        with netns.inside(net.front), pgcluster.throwaway_cluster(listen=DB, hba=pg_hba()) as admin_url:
            started = Site(workdir, net, admin_url)
            try:
                yield started
            finally:
                started.stop()
    finally:
        net.remove()
    assert not net.made


class Steered:
    """An emulated phone whose every request goes to the host ``to`` names, whatever host its links name."""

    def __init__(self, to: str) -> None:
        self.to, self.hosts = to, []
        self.phone = Phone(self.fetch, "CP-8851", base=f"http://{to}:8080")

    def fetch(self, url: str, headers: dict):
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(netloc=f"{self.to}:8080"))
        self.hosts.append(self.to)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)


def lines(cnf: bytes) -> list[str]:
    return [line.findtext("name") for line in etree.fromstring(cnf).iter("line") if line.findtext("featureID") == "9"]


def login(phone: Phone, name: str, ext: str, pin: str):
    return phone.submit(phone.submit(phone.choose(phone.get(f"/screens/?name={name}"), "Replace"), ext=ext), pin=pin)


def migrated_records(site: Site, old: str) -> list[dict]:
    status, page = site.api("GET", FRONT, "/records?outcome=migrated&limit=200")
    assert status == 200, page
    return [r for r in page["items"] if r["old_device"] == old]


def test_h1_a_migration_made_on_a_is_served_by_b_at_once_over_http_and_tftp(site):
    """H-1, C-12, T-1, T-3, T-4: B had the new phone's auto-registered file cached; the 201 from A is enough."""
    new = "SEPAABBCC0A0001"
    before = site.config_file(B, f"{new}.cnf.xml")  # the phone boots against B: auto-registered (T-4)
    assert lines(before) and lines(before)[0].startswith("9"), before[:400]
    status, plan = site.api("POST", A, "/migrate", {"old": "SEP001122330002", "mac": new[3:], "model": "8851"})
    assert status == 201 and plan["applied"], plan
    over_http, over_tftp = site.config_file(B, f"{new}.cnf.xml"), site.tftp(B, f"{new}.cnf.xml")
    assert lines(over_http)[0] == "1002" and over_tftp == over_http == site.config_file(A, f"{new}.cnf.xml")
    # The phone's screens are behind HAProxy (web.public_url), whichever host wrote the file.
    assert etree.fromstring(over_http).findtext(".//servicesURL") == f"http://{FRONT}:8080/screens/?name={new}"
    status, device = site.api("GET", B, f"/devices/{new}")
    assert status == 200 and device["name"] == new, device
    # The shared loads folder: one file, served by both hosts.
    assert site.tftp(B, "sip88xx.14-2-1-0101-26.loads") == site.tftp(A, "sip88xx.14-2-1-0101-26.loads") == site.load


def test_h1_a_screen_flow_started_on_a_finishes_on_b(site):
    """H-1, M-3, A-3: the screen session (signed, in the database) goes on on the other host."""
    mac = "AABBCC0A0002"
    steered = Steered(A)
    phone = steered.phone
    screen = phone.submit(phone.choose(phone.get(f"/screens/?name=SEP{mac}"), "Replace"), ext="1012")
    assert screen.kind == "CiscoIPPhoneInput", screen.body
    steered.to = B
    preview = phone.submit(screen, pin="1739")
    done = phone.press(preview, "Confirm")
    assert done.doc.findtext("Prompt") == "Success", done.body
    assert lines(site.config_file(A, f"SEP{mac}.cnf.xml")) == ["1012"]
    assert steered.hosts == [A, A, A, B, B]


def test_h1_a_pin_lockout_earned_on_a_holds_on_b(site):
    """H-1, A-4: failed PINs are counted per user whatever host took them; the lock holds everywhere."""
    for attempt in range(3):  # three sessions on A, one wrong PIN each: the third locks alice
        phone = Steered(A).phone
        wrong = login(phone, "SEPAABBCC0A0003", "1001", "2580")
        assert ("locked" in wrong.text) == (attempt == 2), wrong.text
    answer = login(Steered(B).phone, "SEPAABBCC0A0004", "1001", "7314")  # the right PIN, on B
    assert "locked" in answer.text and answer.doc.findtext("Prompt") != "Success", answer.body
    assert not [r for r in migrated_records(site, "SEP001122330001")], "a locked user's phone was migrated"


def test_c12_one_old_phone_migrated_from_a_and_b_at_once_succeeds_exactly_once(site):
    """C-12, H-1: two hosts, two connections, one row lock: one 201, one refusal, one record."""
    for round_, old in enumerate(("SEP001122330011", "SEP001122330014", "SEP00112233001A")):
        barrier, answers = threading.Barrier(2), {}

        def migrate(host: str, mac: str) -> None:
            barrier.wait(timeout=10)
            answers[host] = site.api("POST", host, "/migrate", {"old": old, "mac": mac, "model": "8851"})

        threads = [threading.Thread(target=migrate, args=(h, f"AABBCC0B{round_:02d}{i:02d}"))
                   for i, h in enumerate((A, B))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        statuses = sorted(status for status, _ in answers.values())
        assert len(answers) == 2 and statuses == [201, 409], answers
        assert len(migrated_records(site, old)) == 1


def sipp_call(site: Site, calls: int, hold_ms: int) -> subprocess.Popen:
    """SIPp in ``front`` calling the route point through Kamailio (10.0.0.4:5060)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((FRONT, 0))
        port = s.getsockname()[1]
    argv = ["sipp", f"{FRONT}:5060", "-sf", str(SCENARIOS / "ivr_call.xml"), "-i", FRONT, "-mi", FRONT,
            "-p", str(port), "-mp", str(port + 2 if port < 60000 else 40000), "-m", str(calls), "-l", str(calls),
            "-d", str(hold_ms), "-nostdin", "-timeout", "60s"]
    out = open(site.dir / "sipp.out", "ab")
    try:
        return subprocess.Popen(argv, cwd=site.dir, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def register(site: Site, dn: str, mac: str) -> str:
    """SIPp in ``front`` as a Cisco phone registering over TCP with Kamailio; its message log."""
    messages = site.dir / f"register-{mac}.log"
    r = subprocess.run(["sipp", f"{FRONT}:5060", "-sf", str(SCENARIOS / "phone_register.xml"), "-t", "t1",
                        "-i", FRONT, "-p", "25000", "-m", "1", "-nostdin", "-key", "dn", dn, "-key", "mac", mac,
                        "-key", "expires", "600", "-key", "contact_port", "25001", "-d", "0", "-trace_msg",
                        "-message_file", str(messages), "-timeout", "20s"],
                       cwd=site.dir, capture_output=True, timeout=40)
    text = messages.read_text(errors="replace") if messages.exists() else ""
    assert r.returncode == 0, f"the REGISTER failed: {text[-2000:]}"
    return text


def test_r4_kamailio_spreads_ivr_calls_over_both_hosts(site):
    """R-4, H-1: two calls at once through Kamailio, one answered by each host's worker."""
    before = {h: len(site.events(h, "ivr_call_answering")) for h in HOSTS}
    calls = sipp_call(site, 2, 3000)
    assert calls.wait(timeout=90) == 0, (site.dir / "sipp.out").read_text(errors="replace")[-3000:]
    after = {h: len(site.events(h, "ivr_call_answering")) for h in HOSTS}
    assert after == {h: n + 1 for h, n in before.items()}, (before, after)


def test_h2_host_a_killed_mid_flow_loses_nothing_and_the_flow_finishes_on_b(site):
    """H-2, C-12, C-13, D-3: SIGKILL to every process of host A between two screens of a flow, just after
    an API migration on A returned 201; HAProxy and Kamailio carry on with B (R-1: registrations too)."""
    steered = Steered(A)
    phone = steered.phone
    menu = phone.submit(phone.submit(phone.choose(phone.get("/screens/?name=SEPAABBCC0A0005"), "Replace"),
                                     ext="1008"), pin="2975")
    assert menu.kind == "CiscoIPPhoneMenu", menu.body
    status, plan = site.api("POST", A, "/migrate", {"old": "SEP001122330040", "mac": "AABBCC0A0006",
                                                     "model": "8851"})
    assert status == 201, plan
    status, page = site.api("GET", FRONT, "/records?limit=200")
    assert status == 200
    records_before = page["total"]
    site.kill_host("a")
    # From here on through HAProxy, as a phone whose screens are at web.public_url: B answers.
    steered.to = FRONT
    preview = phone.choose(menu, "#2")
    done = phone.press(preview, "Confirm")
    assert done.doc.findtext("Prompt") == "Success", done.body
    assert lines(site.config_file(B, "SEPAABBCC0A0005.cnf.xml")) == ["1008"]
    assert lines(site.config_file(B, "SEPAABBCC0A0006.cnf.xml")) == ["2000"]
    assert site.tftp(B, "SEPAABBCC0A0001.cnf.xml") == site.config_file(B, "SEPAABBCC0A0001.cnf.xml")
    status, page = site.api("GET", FRONT, "/records?limit=200")
    assert status == 200 and page["total"] == records_before + 1, page["total"]
    # The IVR: Kamailio skips A's dead worker; a call is answered on B.
    before = len(site.events("b", "ivr_call_answering"))
    calls = sipp_call(site, 1, 1000)
    assert calls.wait(timeout=90) == 0, (site.dir / "sipp.out").read_text(errors="replace")[-3000:]
    assert len(site.events("b", "ivr_call_answering")) == before + 1
    wait_until(lambda: site.kamcmd("dispatcher.list").count("FLAGS: AP") == 1, 30, "A's worker out of the rotation")
    # Registrations: Kamailio's callbacks go through HAProxy, so a new phone known only to B registers.
    dn = lines(site.config_file(B, "SEPAABBCC0A0007.cnf.xml"))[0]
    assert "SIP/2.0 200 OK" in register(site, dn, "AABBCC0A0007")
    status, device = site.api("GET", FRONT, "/devices/SEPAABBCC0A0007")
    assert status == 200 and device["registration"] == "registered", device
