"""E-4 and S-3 in a real browser (Chromium, as ``test_admin_chromium``): an administrator adds an end user
from the Users page's "Add a user" form, with a free extension and a PIN, then is refused a second user
with a taken user ID. Screenshots go to test-artifacts/admin-users/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_admin_accounts_chromium import login  # noqa: E402
from test_admin_chromium import browser, follow, page_text, server, shot  # noqa: E402,F401  (the fixtures)

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "admin-users"
PIN = "604817"



def test_e4_s3_an_administrator_adds_a_user_in_chromium(server, browser):  # noqa: F811
    """E-4 (Directory.add from the admin UI), S-3 (a taken extension cannot be chosen; a taken user ID is
    refused on the form, what was typed kept but the PIN), A-6 (the PIN never shown back)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = f"http://127.0.0.1:{server.web}"
    login(browser, base, "admin", "migrate-demo-2026")
    follow(browser, browser.find_element(By.LINK_TEXT, "Users").click)
    follow(browser, browser.find_element(By.LINK_TEXT, "Add a user").click)
    assert browser.current_url.endswith("/admin/new-user")
    extension = Select(browser.find_element(By.NAME, "primary_extension"))
    alices = [o for o in extension.options if o.text.startswith("1001 ")]
    assert len(alices) == 1 and not alices[0].is_enabled() and "primary extension of alice" in alices[0].text
    browser.find_element(By.NAME, "user_id").send_keys("mallory")
    browser.find_element(By.NAME, "first_name").send_keys("Mallory")
    browser.find_element(By.NAME, "last_name").send_keys("Smith")
    extension.select_by_visible_text("1020 (Internal_PT)")
    browser.find_element(By.NAME, "pin").send_keys(PIN)
    browser.find_element(By.NAME, "pin_again").send_keys(PIN)
    shot(browser, "01-add-user-form", ARTIFACTS)
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Add user']").click)
    text = page_text(browser)
    assert browser.current_url.endswith("/admin/users/mallory")
    assert "User mallory added with a PIN." in text and "Mallory Smith" in text and PIN not in browser.page_source
    assert "1020" in text
    shot(browser, "02-user-added", ARTIFACTS)

    browser.get(f"{base}/admin/new-user")
    browser.find_element(By.NAME, "user_id").send_keys("alice")
    browser.find_element(By.NAME, "first_name").send_keys("Another Alice")
    Select(browser.find_element(By.NAME, "primary_extension")).select_by_visible_text("1021 (Internal_PT)")
    browser.find_element(By.NAME, "pin").send_keys(PIN)
    browser.find_element(By.NAME, "pin_again").send_keys(PIN)
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Add user']").click)
    text = page_text(browser)
    assert 'user "alice" already exists.' in text
    assert browser.find_element(By.NAME, "first_name").get_attribute("value") == "Another Alice"
    assert browser.find_element(By.NAME, "pin").get_attribute("value") == "" and PIN not in browser.page_source
    assert Select(browser.find_element(By.NAME, "primary_extension")).first_selected_option.text == "1021 (Internal_PT)"
    assert "invalid" in browser.find_element(By.XPATH, "//label[starts-with(normalize-space(), 'User ID')]").get_attribute("class")
    taken = [o for o in Select(browser.find_element(By.NAME, "primary_extension")).options if o.text.startswith("1020 ")]
    assert not taken[0].is_enabled() and "primary extension of mallory" in taken[0].text
    shot(browser, "03-user-id-taken", ARTIFACTS)
