"""E-4 and S-3 in the admin UI: an administrator adds an end user from the Users page (user ID, name, a
primary extension chosen from the site's DNs, an optional PIN) through ``Directory.add``, the service the
API's POST /users calls; a taken user ID or another user's primary extension is refused on the form."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from models.rules import auth
from models.services.admin_accounts import add_admin
from models.tables.users import EndUser
from phoneservice.web.app import create_app
from tests.test_admin import Browser, text_of

PAGE = "/admin/new-user"  # the Users page links to it
PIN = "604817"  # not a demo PIN, not trivial


@pytest.fixture
def admin(services) -> Browser:
    browser = Browser(create_app(services).test_client())
    browser.login()
    return browser


def _option(html: str, label: str) -> str:
    """The value of the extension option whose text starts with ``label``."""
    return re.search(rf'<option value="(\d+)"[^>]*>{re.escape(label)}', html)[1]


def _user(services, user_id: str) -> dict | None:
    """The user's row as it is stored (the PIN's hash included), None when there is none."""
    with services.db.read_session() as session:
        row = session.exec(select(EndUser).where(EndUser.user_id == user_id)).first()
        return row.model_dump() if row is not None else None


def test_s3_the_form_offers_the_free_extensions_and_shows_whose_the_others_are(admin):
    """S-3: each DN but intercom and auto-registration ones is offered; another user's primary extension is
    shown with its owner and cannot be chosen; 1010 is offered in the partition where it is free."""
    assert 'href="/admin/new-user">Add a user</a>' in admin.get("/admin/users").get_data(as_text=True)
    form = admin.get(PAGE).get_data(as_text=True).split('id="add"', 1)[1].split("</section>", 1)[0]
    assert 'name="csrf_token"' in form and 'name="pin"' in form and 'name="pin_again"' in form
    assert re.search(r'<option value="\d+" disabled>1001 \(Internal_PT\) – primary extension of alice</option>', form)
    assert re.search(r'<option value="\d+">1010 \(Branch_PT\)</option>', form)
    assert re.search(r'<option value="\d+">1020 \(Internal_PT\)</option>', form)
    assert ">3001" not in form and ">9000" not in form  # the intercom DN; the demo's auto-registration DN


def test_e4_an_administrator_adds_a_user_with_an_extension_and_a_pin(admin, services):
    """E-4 (Directory.add, as POST /users): the user exists with the chosen DN as primary extension and the
    PIN stored hashed (A-6); the user's page says PIN set, never the PIN."""
    extension = _option(admin.get(PAGE).get_data(as_text=True), "1020 (Internal_PT)")
    added = admin.submit(PAGE, PAGE, {"user_id": "mallory", "first_name": "Mallory", "last_name": "Smith",
                                      "primary_extension": extension, "pin": PIN, "pin_again": PIN})
    assert added.headers["Location"].endswith("/admin/users/mallory")
    page = admin.text("/admin/users/mallory")
    assert "User mallory added with a PIN." in page and "Mallory Smith" in page and PIN not in page
    assert "Primary extension 1020 Self-service user ID – PIN set" in page
    user = _user(services, "mallory")
    assert user["pin_hash"] != PIN and auth.verify_secret(user["pin_hash"], PIN)
    assert re.search(r'disabled>1020 \(Internal_PT\) – primary extension of mallory<', admin.get(PAGE).get_data(as_text=True))
    assert "mallory" in admin.text("/admin/users?q=1020")
    admin.submit(PAGE, PAGE, {"user_id": "nopin", "primary_extension": "", "pin": "", "pin_again": ""})
    assert "PIN not set" in admin.text("/admin/users/nopin") and _user(services, "nopin")["pin_hash"] is None


def test_s3_a_taken_user_id_or_extension_is_refused_on_the_form(admin, services):
    """S-3 (``extension_in_use``, through every door) and a taken user ID (``user_exists``): the form comes
    back with the service's sentence, the field marked, what was typed kept but the PIN, nothing created."""
    html = admin.get(PAGE).get_data(as_text=True)
    alices = re.search(r'<option value="(\d+)" disabled>1001 ', html)[1]
    free = _option(html, "1021 (Internal_PT)")
    taken = admin.submit(PAGE, PAGE, {"user_id": "trent", "first_name": "Trent", "primary_extension": alices,
                                      "pin": PIN, "pin_again": PIN}, status=409)
    body = taken.get_data(as_text=True)
    assert ('extension 1001 in partition Internal_PT is already the primary extension of user "alice"'
            in text_of(taken))
    assert re.search(r'<label class="invalid">Primary extension', body) and 'value="Trent"' in body
    assert PIN not in body and _user(services, "trent") is None
    duplicate = admin.submit(PAGE, PAGE, {"user_id": "alice", "primary_extension": free, "pin": "", "pin_again": ""},
                             status=409)
    assert 'user "alice" already exists.' in text_of(duplicate)
    assert re.search(r'<label class="invalid">User ID', duplicate.get_data(as_text=True))
    with services.db.read_session() as session:  # alice keeps hers; 1021 stays free
        assert len(session.exec(select(EndUser).where(EndUser.primary_extension_id == int(free))).all()) == 0


@pytest.mark.parametrize("form,message", [
    ({"user_id": "peggy", "pin": PIN, "pin_again": PIN[::-1]}, "The two PINs are not the same"),
    ({"user_id": "peggy", "pin": "1111", "pin_again": "1111"}, "too easy"),
    ({"user_id": "peggy", "primary_extension": "999999"}, "Choose the primary extension from the list."),
    ({"user_id": "  "}, '"user_id": 1 to 128 characters'),
])
def test_a4_a_bad_pin_or_input_is_refused_and_creates_nobody(admin, services, form, message):
    """A-4 (a trivial PIN is refused by the service that hashes it), and the form's own checks: 422, the
    sentence on the form, no user created (the PIN's refusal undoes the whole add)."""
    refused = admin.submit(PAGE, PAGE, {"first_name": "Peggy", "pin": "", "pin_again": "", **form}, status=422)
    assert message in text_of(refused)
    assert _user(services, "peggy") is None


def test_e2_a_read_only_administrator_cannot_add_a_user(services):
    """E-2: the form's POST is refused (403) for a read-only account, as every change is."""
    with services.db.session() as session:
        add_admin(session, "viewer", "viewer-pass-2026", "read_only")
    viewer = Browser(create_app(services).test_client())
    viewer.login("viewer", "viewer-pass-2026")
    viewer.submit(PAGE, PAGE, {"user_id": "walter", "pin": "", "pin_again": ""}, status=403)
    assert _user(services, "walter") is None


def test_e4_s3_the_cli_adds_a_user_through_the_same_service(sqlite_url):
    """E-4 (``users add``: Directory.add, as the admin UI and the API): a user with an extension and an asked PIN;
    S-3: another user's primary extension is refused in one line, exit 1; a partition needs its extension."""
    from click.testing import CliRunner

    from phoneservice.cli import main

    runner = CliRunner()

    def cli(*args, input=None):
        return runner.invoke(main, ["--database", sqlite_url, *args], input=input, catch_exceptions=False)

    assert cli("init-db", "--demo").exit_code == 0
    added = cli("users", "add", "mallory", "--first-name", "Mallory", "--extension", "1010", "--partition",
                "Branch_PT", "--ask-pin", input=f"{PIN}\n{PIN}\n")
    assert added.exit_code == 0 and "user mallory added (extension 1010, PIN set)" in added.output, added.output
    shown = cli("users", "show", "mallory").output
    assert "extension: 1010 (Branch_PT)" in shown and "PIN set: yes" in shown and PIN not in shown
    taken = cli("users", "add", "trent", "--extension", "1001")
    assert taken.exit_code == 1 and 'already the primary extension of user "alice"' in taken.output
    assert cli("users", "show", "trent").exit_code == 1
    again = cli("users", "add", "mallory", "--ask-pin", input=f"{PIN}\n{PIN}\n")
    assert again.exit_code == 1 and 'user "mallory" already exists' in again.output and "Pin" not in again.output
    assert cli("users", "add", "peggy", "--partition", "Branch_PT").exit_code == 2
