"""U-1 through the doors that only translate: the REST API (documented in the OpenAPI) and the
admin UI (a preview, then a confirmation with its CSRF token); the refusals keep their reason."""

from __future__ import annotations

import re

from sqlmodel import select

from models.rules.plan import Target
from models.services.admins import create_token
from models.services.bat import export_text
from models.storage.settings import save_settings
from models.tables.devices import Device
from models.tables.records import MigrationRecord
from phoneservice.web.app import create_app
from tests.test_admin import TOKEN, Browser, text_of

ALICE, NEW_MAC, NEW = "SEP001122330001", "00:11:22:33:44:55", "SEP001122334455"


def test_u1_api_preview_undo_and_refusals(services):
    """U-1: GET .../undo previews (nothing changes), POST undoes; the OpenAPI documents both;
    a refusal is 409 problem+json with its reason and code."""
    with services.db.session() as s:
        token, _ = create_token(s, "undo-test", ["read", "write"])
    headers = {"Authorization": f"Bearer {token}"}
    client = create_app(services).test_client()
    before = export_text(services.db)
    assert client.post("/api/v1/migrate", json={"old": ALICE, "mac": NEW_MAC, "model": "8861", "protocol": "SIP"},
                       headers=headers).status_code == 201
    record_id = client.get("/api/v1/records?outcome=migrated", headers=headers).get_json()["items"][0]["id"]
    assert record_id == _record_id(services)  # the API says which record to undo

    preview = client.get(f"/api/v1/records/{record_id}/undo", headers=headers)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    body = preview.get_json()
    assert (body["old"], body["new_name"], body["applied"], body["restarted"]) == (ALICE, NEW, False, None)
    assert body["lines"][0].startswith("1: 1001") and "migrated: True -> False" in body["restored"]

    done = client.post(f"/api/v1/records/{record_id}/undo", headers=headers)
    assert done.status_code == 200 and done.get_json()["applied"] and done.get_json()["undo_record"]
    assert export_text(services.db) == before

    again = client.post(f"/api/v1/records/{record_id}/undo", headers=headers)
    assert again.status_code == 409 and again.get_json()["code"] == "already_undone"
    assert "already been undone" in again.get_json()["detail"]
    assert client.get("/api/v1/records/999999/undo", headers=headers).status_code == 404
    undone = client.get("/api/v1/records?outcome=undone", headers=headers).get_json()["items"]
    assert {r["action"] for r in undone} == {"replace", "undo"}

    doc = client.get("/api/v1/openapi.json").get_json()
    ops = doc["paths"]["/records/{record_id}/undo"]
    assert set(ops) == {"get", "post"} and "UndoPublic" in doc["components"]["schemas"]
    assert {"404", "409"} <= set(ops["post"]["responses"])


def _record_id(services) -> int:
    with services.db.session() as s:
        return s.exec(select(MigrationRecord.id).where(MigrationRecord.outcome == "migrated")).one()


def test_u1_admin_undo_button_preview_and_confirm(services):
    """U-1: the record page has an Undo button; its page previews what comes back; Confirm (CSRF) undoes."""
    browser = Browser(create_app(services).test_client())
    browser.login()
    page = f"/admin/phones/{ALICE}"
    preview = browser.submit(f"{page}/migrate", f"{page}/migrate/preview",
                             {"mac": NEW_MAC, "by": "type", "model": "8861", "protocol": "", "template": "",
                              "description": ""}, status=200)
    token = TOKEN.search(preview.get_data(as_text=True)).group(1)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', preview.get_data(as_text=True)))
    migrated = browser.client.post(f"{page}/migrate", data={**hidden, "csrf_token": token})
    record_page = migrated.headers["Location"]
    record_id = int(record_page.rsplit("/", 1)[1])
    assert f'href="/admin/migrations/{record_id}/undo"' in browser.get(record_page).get_data(as_text=True)
    assert f'href="/admin/migrations/{record_id}"' in browser.get("/admin/report").get_data(as_text=True)

    text = browser.text(f"/admin/migrations/{record_id}/undo")
    assert "Nothing has been changed yet" in text and "1: 1001" in text and f"Confirm: undo migration {record_id}" in text
    with services.db.session() as s:
        assert s.exec(select(Device).where(Device.name == NEW)).first() is not None
    # without the CSRF token nothing happens
    assert browser.client.post(f"/admin/migrations/{record_id}/undo").status_code == 400
    done = browser.submit(f"/admin/migrations/{record_id}/undo", f"/admin/migrations/{record_id}/undo", {})
    result = text_of(browser.get(done.headers["Location"]))
    assert "Undone" in result and f"Migration {record_id} undone" in result
    assert "Open the new phone" not in result  # it is deleted
    with services.db.session() as s:
        assert s.exec(select(Device).where(Device.name == NEW)).first() is None
        assert not s.exec(select(Device).where(Device.name == ALICE)).one().migrated
    refused = browser.get(f"/admin/migrations/{record_id}/undo", status=409)
    assert "already been undone" in text_of(refused)


def test_u1_admin_refusal_shows_its_reason(services):
    """U-1, S-1: under policy delete the record page's undo says why not."""
    with services.db.session() as s:
        save_settings(s, replacement_policy="delete")
    browser = Browser(create_app(services).test_client())
    browser.login()
    result = services.migrator.migrate(ALICE, Target(mac=NEW_MAC, model="8861", protocol="SIP"), door="admin")
    text = text_of(browser.get(f"/admin/migrations/{result.record_id}/undo", status=409))
    assert "was deleted by the migration (replacement policy delete)" in text


def test_u1_cli_undo_previews_then_undoes_with_yes(sqlite_url):
    """U-1: `phone-migration undo ID` shows what comes back and changes nothing; with --yes it undoes;
    a refusal is one line with its reason and a non-zero exit."""
    from click.testing import CliRunner

    from models.storage.database import Database
    from phoneservice.cli import main

    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert run("init-db", "--demo").exit_code == 0
    db = Database(sqlite_url)
    before = export_text(db)
    assert run("migrate", ALICE, "--mac", NEW_MAC, "--model", "8861", "--protocol", "SIP", "--yes").exit_code == 0
    with db.session() as s:
        record_id = s.exec(select(MigrationRecord.id).where(MigrationRecord.outcome == "migrated")).one()
    preview = run("undo", str(record_id))
    assert preview.exit_code == 0 and "line 1: 1001" in preview.output and "nothing changed" in preview.output
    assert f"{NEW} is deleted" in preview.output and export_text(db) != before
    done = run("undo", str(record_id), "--yes")
    assert done.exit_code == 0 and f"undone: migration {record_id}" in done.output
    assert export_text(db) == before
    again = run("undo", str(record_id), "--yes")
    assert again.exit_code != 0 and "already been undone" in again.output
    db.dispose()


def test_u1_c13_a_record_id_no_row_can_have_is_not_found_in_every_door(services):
    """C-13, U-1: an id past what the id column holds (schemathesis sent 19624524104762458112) is 'not
    found', never a 500 from the database's integer overflowing."""
    browser = Browser(create_app(services).test_client())
    browser.login()
    for url in (f"/admin/migrations/{2**64}", f"/admin/migrations/{2**64}/undo"):
        assert browser.client.get(url).status_code == 404, url
