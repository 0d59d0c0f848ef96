"""E-1..E-3: administrator accounts and API tokens through the API and the CLI,
on one service (``models.services.admin_accounts``). The admin UI's pages are in
``tests/test_admin.py``."""

from __future__ import annotations

import re
from datetime import timedelta

from models.rules.clock import utcnow
from models.services.admins import admin_login
from models.services.demo import ADMIN_PASSWORD, ADMIN_USER
from models.storage.database import Database
from tests.test_api import api, failing_field, problem_of  # noqa: F401  (the API fixture)

NEW_PASSWORD = "a-new-password-19"


def test_e1_admins_list_add_role_password_unlock_remove_through_the_api(api):  # noqa: F811
    """E-1, E-2: every step of an administrator's life through the API, and the last full admin stays."""
    assert [a["username"] for a in api.get("/admins").get_json()["items"]] == [ADMIN_USER]
    created = api.post("/admins", {"username": "viewer", "password": "viewer-pass-2026", "role": "read_only"})
    assert created.status_code == 201 and created.get_json()["role"] == "read_only"
    assert "password" not in created.get_data(as_text=True)
    problem_of(api.post("/admins", {"username": "viewer", "password": "viewer-pass-2026"}), 409, "admin_exists")
    assert failing_field(api.post("/admins", {"username": "x", "password": "short"})) == ["password"]
    problem_of(api.post("/admins", {"username": "y", "password": "0123456789"}, token="read"), 403)

    problem_of(api.patch(f"/admins/{ADMIN_USER}", {"role": "read_only"}), 409, "last_full_admin")
    problem_of(api.delete(f"/admins/{ADMIN_USER}"), 409, "last_full_admin")
    problem_of(api.delete("/admins/nobody"), 404, "unknown_admin")

    now = utcnow()
    for _ in range(5):  # five bad logins block the user name
        admin_login(api.services.db, "viewer", "wrong-password", now)
    assert api.get("/admins").get_json()["items"][1]["locked"] is True
    assert api.post("/admins/viewer/unlock").status_code == 204
    assert api.get("/admins").get_json()["items"][1]["locked"] is False
    assert admin_login(api.services.db, "viewer", "viewer-pass-2026", now).username == "viewer"

    assert api.put("/admins/viewer/password", {"password": NEW_PASSWORD}).status_code == 204
    assert admin_login(api.services.db, "viewer", NEW_PASSWORD, now + timedelta(seconds=1)).username == "viewer"
    assert api.patch("/admins/viewer", {"role": "full"}).get_json()["role"] == "full"
    assert api.patch(f"/admins/{ADMIN_USER}", {"role": "read_only"}).status_code == 200  # viewer is full now
    assert api.delete(f"/admins/{ADMIN_USER}").status_code == 204
    assert [a["username"] for a in api.get("/admins").get_json()["items"]] == ["viewer"]
    assert all(NEW_PASSWORD not in b and "argon2" not in b for b in api.bodies)


def test_e3_tokens_are_created_listed_and_revoked_through_the_api(api):  # noqa: F811
    """E-3: a token made by the API works, is shown once, and is refused once revoked."""
    made = api.post("/tokens", {"name": "monitoring", "scopes": ["read"]})
    assert made.status_code == 201
    token, token_id = made.get_json()["token"], made.get_json()["id"]
    assert token.startswith("pm_") and made.get_json()["scopes"] == ["read"]
    listed = api.get("/tokens")
    assert token not in listed.get_data(as_text=True)
    assert {"monitoring", "token-read"} <= {t["name"] for t in listed.get_json()["items"]}
    assert api.get("/admins", token=token).status_code == 200
    problem_of(api.post("/tokens", {"name": "x", "scopes": ["read"]}, token=token), 403)
    assert failing_field(api.post("/tokens", {"name": "x", "scopes": ["root"]})) == ["scopes.0"]
    assert api.delete(f"/tokens/{token_id}").status_code == 204
    problem_of(api.get("/admins", token=token), 401)
    problem_of(api.delete("/tokens/99999"), 404, "unknown_token")
    problem_of(api.delete(f"/tokens/{2**64}"), 404, "unknown_token")  # past what the id column holds: not a 500


def test_e1_admins_through_the_cli(cli):
    """E-1, E-2, A-4: list (with a header), add with a role, lock and unlock, reset, remove."""
    assert cli("admins", "add", "viewer", "--role", "read_only", input="viewer-pass-2026\nviewer-pass-2026\n").exit_code == 0
    listed = cli("admins", "list").output.splitlines()
    assert listed[0].split() == ["USERNAME", "ROLE", "ADDED", "LOCKED"]
    assert listed[2].split()[:2] == ["viewer", "read_only"] and listed[2].endswith("no")
    db = Database(cli.url)
    for _ in range(5):
        admin_login(db, "viewer", "wrong-password", utcnow())
    assert cli("admins", "list").output.splitlines()[2].endswith("yes")
    assert cli("admins", "unlock", "viewer").exit_code == 0
    assert cli("admins", "list").output.splitlines()[2].endswith("no")
    assert cli("admins", "set-password", "viewer", "--password", NEW_PASSWORD).exit_code == 0
    assert admin_login(db, "viewer", NEW_PASSWORD, utcnow()).username == "viewer"
    last = cli("admins", "remove", ADMIN_USER)
    assert last.exit_code == 1 and "last administrator with full rights" in last.output
    assert cli("admins", "set-role", "viewer", "full").exit_code == 0
    assert cli("admins", "remove", ADMIN_USER).exit_code == 0
    assert cli("admins", "unlock", "nobody").exit_code == 1
    assert [line.split()[0] for line in cli("admins", "list").output.splitlines()[1:]] == ["viewer"]
    assert admin_login(db, ADMIN_USER, ADMIN_PASSWORD, utcnow()).code == "bad_login"
    db.dispose()


def test_a4_set_pin_for_an_unknown_user_says_so_before_asking_for_the_pin(cli):
    """A-4 (CLI): no PIN is asked for a user that does not exist."""
    result = cli("users", "set-pin", "nobody", input="")
    assert result.exit_code == 1 and result.output.strip() == 'error: no user "nobody"'
    assert cli("users", "set-pin", "alice", input="846195\n846195\n").exit_code == 0


# --- the admin UI (E-1..E-3) -----------------------------------------------------------


def test_e1_e3_the_administrators_page_adds_locks_unlocks_resets_and_makes_tokens(services):
    """E-1, E-3, A-4: through the admin UI's forms (CSRF on), nothing secret shown back but the new token once."""
    from phoneservice.web.app import create_app
    from tests.test_admin import Browser, text_of

    admin = Browser(create_app(services).test_client())
    admin.login()
    page = "/admin/admins"
    form = {"username": "viewer", "password": "viewer-pass-2026", "password_again": "viewer-pass-2026",
            "role": "read_only"}
    admin.submit(page, page, form)
    text = admin.text(page)
    assert "viewer read-only" in text and "admin (you) full" in text
    assert "already exists" in text_of(admin.submit(page, page, form, status=409))
    for _ in range(5):
        admin_login(services.db, "viewer", "wrong-password", utcnow())
    assert "viewer read-only" in admin.text(page) and "locked Unlock" in admin.text(page)
    admin.submit(page, "/admin/admins/viewer/unlock", {})
    assert "locked Unlock" not in admin.text(page)
    mismatch = admin.submit(page, "/admin/admins/viewer/password", {"password": NEW_PASSWORD, "password_again": "x"},
                            status=422)
    assert "not the same" in text_of(mismatch)
    admin.submit(page, "/admin/admins/viewer/password", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert "last administrator with full rights" in text_of(
        admin.submit(page, "/admin/admins/admin/role", {"role": "read_only"}, status=409))
    assert "your own account" in text_of(admin.submit(page, "/admin/admins/admin/remove", {}, status=409))

    made = admin.submit(page, "/admin/tokens", {"name": "monitoring", "scope": ["read", "write"]}, status=201)
    token = re.search(r"pm_[A-Za-z0-9_-]{43}", made.get_data(as_text=True)).group(0)
    assert token not in admin.get(page).get_data(as_text=True)  # shown once
    assert services.tokens.scopes(token, utcnow()) == ["read", "write"]
    token_id = services.administration.tokens()[-1].id
    admin.submit(page, f"/admin/tokens/{token_id}/revoke", {})
    assert services.tokens.scopes(token, utcnow()) is None


def test_e2_a_read_only_administrator_sees_every_page_and_changes_nothing(services):
    """E-2: a read-only account's every POST but logout is refused 403; its GETs work."""
    from phoneservice.web.app import create_app
    from tests.test_admin import ALICE_7965, Browser, admin_rules, text_of

    services.administration.add("viewer", "viewer-pass-2026", "read_only", utcnow())
    app = create_app(services)
    viewer = Browser(app.test_client())
    viewer.login("viewer", "viewer-pass-2026")
    assert "viewer (read-only)" in viewer.text("/admin/phones")
    refused = viewer.submit(f"/admin/phones/{ALICE_7965}/migrate", f"/admin/phones/{ALICE_7965}/migrate",
                            {"mac": "001122334455", "by": "type", "model": "8861"}, status=403)
    assert "read-only" in text_of(refused)
    for url in admin_rules(app, "POST"):
        if url != "/admin/logout":
            response = viewer.client.post(url, data={"csrf_token": "x"})
            assert response.status_code in (400, 403), url  # CSRF first, then the role
    viewer.submit("/admin/admins", "/admin/admins/admin/unlock", {}, status=403)
    viewer.submit("/admin/admins", "/admin/logout", {})
