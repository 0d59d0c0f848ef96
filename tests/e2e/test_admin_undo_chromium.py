"""U-1 in a real browser (Chromium through Selenium, as ``test_admin_chromium.py``) against a running
``phone-migration serve --demo``: a migration's record page has an Undo button, its page previews
what comes back, Confirm undoes, the new MAC's config file is gone (the phone takes XMLDefault.cnf.xml)
and the old phone is no longer marked migrated. Screenshots go to ``test-artifacts/admin/``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlmodel import select

from models.rules.plan import Target
from models.services.migration import Migrator
from models.storage.database import Database
from models.storage.settings import save_settings
from models.tables.devices import Device

sys.path.insert(0, str(Path(__file__).parent))
from test_admin_chromium import browser, device_exists, follow, page_text, server, shot  # noqa: E402,F401

pytestmark = pytest.mark.slow

LOBBY, NEW_MAC, NEW = "SEP001122330040", "00:11:22:33:44:66", "SEP001122334466"


def test_u1_admin_undoes_a_migration_in_chromium(server, browser):  # noqa: F811
    """U-1: Undo button on the record page, a preview, a confirmation (CSRF as every form), undone."""
    from selenium.webdriver.common.by import By

    db = Database(server.url)
    try:
        with db.session() as session:
            save_settings(session, autoreg_enabled=False)  # an unknown MAC then gets no file of its own
        record_id = Migrator(db).migrate(LOBBY, Target(mac=NEW_MAC, model="8841", protocol="SIP"),
                                         door="cli", actor="cli").record_id
    finally:
        db.dispose()
    base = f"http://127.0.0.1:{server.web}"
    assert server.get(f"http://127.0.0.1:{server.cfg}/{NEW}.cnf.xml")[0] == 200

    browser.get(f"{base}/admin/migrations/{record_id}")
    if browser.current_url.startswith(f"{base}/admin/login"):
        browser.find_element(By.NAME, "username").send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys("migrate-demo-2026")
        follow(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click)
    assert f"Migrated: {LOBBY} → {NEW}" in page_text(browser)
    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "Undo this migration").click)
    text = page_text(browser)
    assert "Nothing has been changed yet" in text and "1: 2000" in text and "migrated: True -> False" in text
    assert f"Confirm: undo migration {record_id}" in text
    shot(browser, "u1-01-undo-preview")
    assert device_exists(server, NEW)  # the preview changed nothing
    assert browser.find_element(By.CSS_SELECTOR, "form.confirm input[name=csrf_token]").get_attribute("value")

    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.confirm button").click)
    text = page_text(browser)
    assert f"Undone: {LOBBY} → {NEW}" in text and f"Migration {record_id} undone" in text
    shot(browser, "u1-02-undone")
    assert not device_exists(server, NEW)
    assert server.get(f"http://127.0.0.1:{server.cfg}/{NEW}.cnf.xml")[0] == 404  # so it takes XMLDefault
    status, body = server.get(f"http://127.0.0.1:{server.cfg}/XMLDefault.cnf.xml")
    assert status == 200 and b"<Default>" in body
    db = Database(server.url)
    try:
        with db.read_session() as session:
            assert not session.exec(select(Device).where(Device.name == LOBBY)).one().migrated
    finally:
        db.dispose()

    browser.get(f"{base}/admin/migrations/{record_id}/undo")
    assert "already been undone" in page_text(browser)
    shot(browser, "u1-03-refused")
