"""End to end over real HTTP: an emulated new 8851 walks the screens of a
running ``phone-migration serve --demo`` for each kind of demo user, and the
new MAC's config file then carries the old phone's lines (issue: screens).

Each screen is fetched on a new connection, and every test runs against one
web process and against two (``--web-processes 2``), where the screens of one
flow land on either process (the session is in the database)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).parents[1]))
from phone_emulator import Phone  # noqa: E402
from test_server import Server, logged_secrets  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=[1, 2], ids=["1-process", "2-processes"])
def server(tmp_path_factory, request):
    srv = Server(tmp_path_factory.mktemp("screens"), ("--ivr-workers", "0", "--web-processes", str(request.param)))
    srv.wait_web_workers(request.param)
    yield srv
    assert srv.stop() == 0
    log = (srv.dir / "server.log").read_text()
    assert not logged_secrets(log, ("pin=1739", "pin=951413", "7314", "1739", "951413")), "a secret in the server log"
    assert "pin=***" in log, "no scrubbed access-log line: " + log[-3000:]


def http_phone(server, model="CP-8851"):
    def fetch(url, headers):
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    return Phone(fetch, model, base=f"http://127.0.0.1:{server.web}")


def config_lines(server, mac):
    status, body = server.get(f"http://127.0.0.1:{server.cfg}/SEP{mac}.cnf.xml")
    assert status == 200
    return [line.findtext("name") for line in etree.fromstring(body).iter("line") if line.findtext("featureID") == "9"]


def walk(server, mac, ext, secret, pick=None):
    phone = http_phone(server)
    first = phone.get(f"/screens/?name=SEP{mac}")
    screen = phone.submit(phone.submit(phone.choose(first, "Replace"), ext=ext), pin=secret)
    if pick is not None:
        assert screen.kind == "CiscoIPPhoneMenu"
        screen = phone.choose(screen, pick)
    return phone, screen


def test_one_phone_user(server):
    phone, preview = walk(server, "AABBCC000101", "1012", "1739")
    done = phone.press(preview, "Confirm")
    assert done.doc.findtext("Prompt") == "Success"
    assert config_lines(server, "AABBCC000101") == ["1012"]


def test_several_phones_user_chooses_from_the_list(server):
    phone, preview = walk(server, "AABBCC000102", "1006", "6207", pick="#2")
    phone.press(preview, "Confirm")
    assert config_lines(server, "AABBCC000102") == ["1006"]


def test_locked_user(server):
    _, screen = walk(server, "AABBCC000103", "1011", "8349")
    assert "locked" in screen.text
    status, _ = server.get(f"http://127.0.0.1:{server.cfg}/SEPAABBCC000103.cnf.xml")
    assert status in (200, 404)  # nothing was migrated onto it: at most an auto-registration


def test_lobby_phone_with_the_authentication_code(server):
    phone, preview = walk(server, "AABBCC000104", "2000", "951413")
    phone.press(preview, "Confirm")
    assert config_lines(server, "AABBCC000104") == ["2000"]
