"""R-1..R-6 and C-14 as a phone lives them: a new Cisco 8851 replaces an old phone
through the registrar, by voice and by the screens.

Against ``registrar_site`` (``serve --demo`` and Kamailio with the configuration
``kamailio-config`` wrote), with real clients in other processes: tftp-hpa's
``tftp`` fetches the files a phone fetches at boot, SIPp is the phone on one
TCP connection from an ephemeral port (tests/e2e/sipp/phone_life.xml: REGISTER,
the call to the route point through Kamailio with RFC 4733 keys, then the
restart NOTIFY answered on that same connection), the screens are fetched over
HTTP as a phone fetches them (tests/phone_emulator.py). The migration is then
*applied*; the phone fetches its new file, registers its new line 1, and the
report says *confirmed*. The old phone plugged back in is flagged."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from phone_emulator import Phone as ScreenPhone  # noqa: E402
from registrar_site import OLIVIA, Phone, api_token, registered, registrar_site, registrations, wait_until  # noqa: E402
from test_ivr_sipp import DtmfPcaps  # noqa: E402
from test_ivr_supervised import SCENARIOS, free_port, free_sip_ports, need  # noqa: E402

pytestmark = pytest.mark.slow
ROUTE_POINT = "8000"
VOICE_MAC, SCREENS_MAC, TLS_MAC = "AABBCCDDEE88", "AABBCCDDEE89", "AABBCCDDEE90"
JUDY = "SEP001122330031"  # judy's 8851, line 1010
LOBBY = "SEP001122330040"  # the demo's lobby phone (a 7945), line 2000, no owner: the authentication code replaces it


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with registrar_site(tmp_path_factory.mktemp("phone-life"), tls=True) as started:
        yield started


# --- what the phone does ---------------------------------------------------------------------
def tftp_get(server, workdir: Path, name: str) -> bytes:
    """One file as the phone fetches it at boot (tftp-hpa, octet mode)."""
    need("tftp", "tftp-hpa")
    dest = workdir / f"{name}.{free_port()}"
    done = subprocess.run(["tftp", "-v", "127.0.0.1", str(server.tftp), "-m", "binary", "-c", "get", name, str(dest)],
                          capture_output=True, text=True, timeout=30)
    assert dest.exists() and dest.stat().st_size > 0, f"tftp get {name}: {done.stdout} {done.stderr}"
    return dest.read_bytes()


def lines(config: bytes) -> list[str]:
    """The directory numbers of a SEP<MAC>.cnf.xml, in button order."""
    return [line.findtext("name") for line in etree.fromstring(config).iter("line") if line.findtext("featureID") == "9"]


def boot(server, workdir: Path, mac: str) -> str:
    """T-1, T-4: ``XMLDefault.cnf.xml``, then the phone's own file, which auto-registers it; its temporary DN."""
    assert etree.fromstring(tftp_get(server, workdir, "XMLDefault.cnf.xml")).tag == "Default"
    [temporary] = lines(tftp_get(server, workdir, f"SEP{mac}.cnf.xml"))
    assert re.fullmatch(r"90\d\d", temporary), temporary  # the demo's auto-registration range 9000-9099
    return temporary


class VoicePhone:
    """SIPp running phone_life.xml: register, call the IVR, key ``steps``, answer the restart."""

    def __init__(self, registrar, workdir: Path, dn: str, mac: str, steps: list[str]) -> None:
        need("sipp", "sip-tester")
        pcaps = DtmfPcaps(workdir)
        for number, keys in enumerate(steps, 1):
            pcaps.write(f"step{number}.pcap", keys)
        self.local_port = free_port()
        self.messages, self.errors = workdir / "life.messages.log", workdir / "life.errors.log"
        self.out = open(workdir / "life.out", "wb")
        self.proc = subprocess.Popen(
            ["sipp", f"127.0.0.1:{registrar.port}", "-sf", str(SCENARIOS / "phone_life.xml"),
             "-oocsf", str(SCENARIOS / "phone_answers.xml"), "-t", "t1", "-i", "127.0.0.1",
             "-p", str(self.local_port), "-mi", "127.0.0.1", "-mp", str(free_sip_ports(4)), "-m", "1", "-nostdin",
             "-key", "dn", dn, "-key", "mac", mac, "-key", "route_point", ROUTE_POINT, "-key", "expires", "300",
             "-d", "60000", "-timeout", "120s", "-trace_msg", "-message_file", str(self.messages),
             "-trace_err", "-error_file", str(self.errors)],
            cwd=workdir, stdout=self.out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""

    def alive(self) -> bool:
        errors = self.errors.read_text(errors="replace") if self.errors.exists() else ""
        assert self.proc.poll() is None, f"the phone's SIPp ended ({self.proc.returncode}): {errors[-2000:]}"
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def api_get(server, path: str, token: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{server.web}/api/v1{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def record_of(server, token: str, new: str) -> dict:
    [found] = [r for r in api_get(server, "/records?limit=200", token)["items"] if r["new_device"] == new]
    return found


def notify_of(text: str) -> str:
    return text[text.index("NOTIFY sip:"):]


def restart_sent(server, name: str) -> dict | None:
    """The one ``restart_sent`` line for ``name`` (None before it is logged)."""
    sent = [e for e in server.events("restart_sent") if e.get("device") == name]
    assert len(sent) <= 1, sent
    return sent[0] if sent else None


def comes_back(server, registrar, workdir: Path, mac: str, temporary: str, line1: str) -> None:
    """After the restart: the phone fetches its new file, its temporary DN is refused (no longer its line),
    and it registers its new line 1, which confirms the migration (R-6)."""
    assert lines(tftp_get(server, workdir, f"SEP{mac}.cnf.xml"))[0] == line1
    refused = Phone(registrar, workdir, temporary, mac, refused=True)
    assert refused.finish() == 0, refused.text()[-2000:]
    again = Phone(registrar, workdir, line1, mac)
    assert again.finish() == 0, again.text()[-2000:]
    wait_until(lambda: any(e.get("device") == f"SEP{mac}" and e.get("confirmed")
                           for e in server.events("registered")), 10, "the migration confirmed")


# --- the lives -----------------------------------------------------------------------------------
def test_r1_r6_c14_a_new_phone_replaces_olivias_by_voice_through_the_registrar(site, tmp_path):
    """Boot by TFTP, REGISTER over TCP, dial the route point through Kamailio, key 2, 1012#, 1739#, 1
    (RFC 4733): the migration commits, the restart arrives over the phone's own TCP connection and is
    answered 200; the new file carries 1012; registering 1012 confirms it; olivia's old phone plugged
    back in is flagged. The report (API) shows each step."""
    server, registrar = site
    token = api_token(server)
    temporary = boot(server, tmp_path, VOICE_MAC)
    phone = VoicePhone(registrar, tmp_path, temporary, VOICE_MAC, ["2", "1012#", "1739#", "1"])
    try:
        text = wait_until(lambda: phone.alive() and "NOTIFY sip:" in phone.text() and phone.text(), 90,
                          "the restart NOTIFY")
        register_call_id = re.search(r"^Call-ID: *(\S+)", text, re.M)[1]
        assert "DS-ANSWERED" in registrar.log()  # the call went through Kamailio to the IVR worker
        assert "BYE sip:" in text  # the IVR hung up after "done"
        notify = notify_of(phone.text())
        assert notify.startswith(f"NOTIFY sip:{temporary}@127.0.0.1:{phone.local_port};transport=tcp SIP/2.0")
        assert "Event: service-control" in notify and "action=restart" in notify
        assert f"RegisterCallId={{{register_call_id}}}" in notify
        sent = wait_until(lambda: restart_sent(server, f"SEP{VOICE_MAC}"), 10, "restart_sent")
        assert (sent["via"], sent["transport"], sent["status"], sent["ok"]) == ("registrar", "tcp", 200, True)
        record = record_of(server, token, f"SEP{VOICE_MAC}")
        assert (record["door"], record["outcome"], record["old_device"]) == ("ivr", "migrated", OLIVIA)
        assert record["confirmation"] == "applied" and record["confirmed_at"] is None
    finally:
        phone.kill()
    comes_back(server, registrar, tmp_path, VOICE_MAC, temporary, "1012")
    record = record_of(server, token, f"SEP{VOICE_MAC}")
    assert record["confirmation"] == "confirmed" and record["confirmed_at"] >= record["at"]
    assert record["old_returned_at"] is None
    # Someone plugs olivia's old 7841 back in: it registers (its lines were retained) and is flagged.
    old = Phone(registrar, tmp_path, "1012", OLIVIA.removeprefix("SEP"))
    assert old.finish() == 0, old.text()[-2000:]
    flagged = wait_until(lambda: record_of(server, token, f"SEP{VOICE_MAC}")["old_returned_at"], 10,
                         "the old phone flagged")
    assert flagged >= record["confirmed_at"]


def test_r1_r6_c14_the_same_life_by_the_screens(site, tmp_path):
    """The lobby phone (2000, no owner) replaced from the new phone's screens with the authentication
    code while the new phone is registered over TCP: the restart reaches it through the registrar,
    the new file carries 2000, and registering 2000 confirms the migration."""
    server, registrar = site
    token = api_token(server)
    temporary = boot(server, tmp_path, SCREENS_MAC)
    phone = Phone(registrar, tmp_path, temporary, SCREENS_MAC, hold_ms=60000, answers=True)
    try:
        wait_until(lambda: registered(phone) and f"SEP{SCREENS_MAC}" in registrations(server), 10, "registered")

        def fetch(url, headers):
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=20) as response:
                return response.status, response.read(), dict(response.headers)

        screens = ScreenPhone(fetch, "CP-8851", base=f"http://127.0.0.1:{server.web}")
        first = screens.get(f"/screens/?name=SEP{SCREENS_MAC}")
        preview = screens.submit(screens.submit(screens.choose(first, "Replace"), ext="2000"), pin="951413")
        assert screens.press(preview, "Confirm").doc.findtext("Prompt") == "Success"
        wait_until(lambda: "NOTIFY sip:" in phone.text(), 20, "the restart NOTIFY")
        notify = notify_of(phone.text())
        assert notify.startswith(f"NOTIFY sip:{temporary}@127.0.0.1:{phone.contact_port};transport=tcp SIP/2.0")
        assert "Event: service-control" in notify and f"RegisterCallId={{{phone.call_id()}}}" in notify
        sent = wait_until(lambda: restart_sent(server, f"SEP{SCREENS_MAC}"), 10, "restart_sent")
        assert (sent["via"], sent["status"], sent["ok"]) == ("registrar", 200, True)
    finally:
        phone.kill()
    record = record_of(server, token, f"SEP{SCREENS_MAC}")
    assert (record["door"], record["old_device"], record["confirmation"]) == ("screen", LOBBY, "applied")
    comes_back(server, registrar, tmp_path, SCREENS_MAC, temporary, "2000")
    assert record_of(server, token, f"SEP{SCREENS_MAC}")["confirmation"] == "confirmed"


def test_r1_r5_a_phone_registered_over_tls_gets_its_restart_over_that_tls_connection(site, tmp_path):
    """R-1 over TLS (Kamailio's certificate, verified by the phone): the registration is stored with
    transport tls; after a migration through the API onto it, the restart reaches the phone over its
    own TLS connection and is answered 200 (tests/e2e/tls_phone.py, Python's ssl in its own process)."""
    server, registrar = site
    temporary = boot(server, tmp_path, TLS_MAC)
    phone = subprocess.Popen([sys.executable, str(Path(__file__).parent / "tls_phone.py"), "--port",
                              str(registrar.tls_port), "--ca", str(registrar.ca), "--dn", temporary, "--mac", TLS_MAC,
                              "--wait", "40"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        row = wait_until(lambda: phone.poll() is None and registrations(server).get(f"SEP{TLS_MAC}"), 15,
                         "the TLS registration stored")
        assert row["transport"] == "tls" and row["contact"].endswith(";transport=tls")
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.web}/api/v1/migrate", method="POST",
            data=json.dumps({"old": JUDY, "mac": TLS_MAC, "model": "8851"}).encode(),
            headers={"Authorization": f"Bearer {api_token(server)}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                result = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(exc.read().decode()) from None
        assert result["applied"] is True and result["restarted"] is True, result
        out, err = phone.communicate(timeout=60)
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.communicate()
    seen = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    assert seen.get("register_status") == 200 and seen.get("notify"), (out, err)
    assert seen["notify"].startswith(f"NOTIFY sip:{temporary}@127.0.0.1:{seen['local_port']};transport=tls SIP/2.0")
    assert f"RegisterCallId={{{seen['call_id']}}}" in seen["notify"]
    sent = restart_sent(server, f"SEP{TLS_MAC}")
    assert (sent["via"], sent["transport"], sent["status"], sent["ok"]) == ("registrar", "tls", 200, True)
