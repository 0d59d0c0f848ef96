"""E-1..E-3 and C-13's report filter in a real browser (Chromium, as ``test_admin_chromium``):
an administrator adds a read-only administrator and an API token on the Administrators page,
filters the report by door and day; the read-only administrator then sees the pages and is
refused a change. Screenshots go to test-artifacts/admin-accounts/."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_admin_chromium import browser, follow, page_text, server, shot  # noqa: E402,F401  (the fixtures)

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "admin-accounts"


def api_status(url: str, token: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def login(driver, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/admin/login")
    driver.delete_all_cookies()  # a fresh session, whoever was logged in
    driver.get(f"{base}/admin/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    follow(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click)


def test_e1_e3_administrators_page_and_c13_report_filter_in_chromium(server, browser):  # noqa: F811
    """E-1, E-2, E-3, C-13 through the pages an administrator clicks."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = f"http://127.0.0.1:{server.web}"
    login(browser, base, "admin", "migrate-demo-2026")
    follow(browser, browser.find_element(By.LINK_TEXT, "Administrators").click)
    add = browser.find_element(By.XPATH, "//h2[text()='Add an administrator']/following-sibling::form")
    add.find_element(By.NAME, "username").send_keys("viewer")
    add.find_element(By.NAME, "password").send_keys("viewer-pass-2026")
    add.find_element(By.NAME, "password_again").send_keys("viewer-pass-2026")
    Select(add.find_element(By.NAME, "role")).select_by_value("read_only")
    follow(browser, add.find_element(By.TAG_NAME, "button").click)
    text = page_text(browser)
    assert "Administrator viewer added." in text and "viewer read-only" in text

    make = browser.find_element(By.XPATH, "//h2[text()='Create an API token']/following-sibling::form")
    make.find_element(By.NAME, "name").send_keys("monitoring")
    follow(browser, make.find_element(By.TAG_NAME, "button").click)
    text = page_text(browser)
    token = re.search(r"pm_[A-Za-z0-9_-]{43}", text).group(0)
    assert "shown only once" in text and "monitoring read" in text
    shot(browser, "01-administrators-and-new-token", ARTIFACTS)
    assert api_status(f"{base}/api/v1/devices?limit=1", token) == 200
    follow(browser, browser.find_element(By.XPATH, "//tr[td[text()='monitoring']]//button[text()='Revoke']").click)
    assert "revoked" in page_text(browser)
    assert api_status(f"{base}/api/v1/devices?limit=1", token) == 401

    follow(browser, browser.find_element(By.LINK_TEXT, "Refusals").click)
    Select(browser.find_element(By.NAME, "door")).select_by_value("ivr")
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Filter']").click)
    assert "door=ivr" in browser.current_url and "outcome=refused" in browser.current_url
    assert "Clear filters" in page_text(browser)
    shot(browser, "02-report-filtered", ARTIFACTS)

    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.logout button").click)
    login(browser, base, "viewer", "viewer-pass-2026")
    follow(browser, browser.find_element(By.LINK_TEXT, "Administrators").click)
    assert "viewer (read-only)" in page_text(browser)
    follow(browser, browser.find_element(By.XPATH, "//tr[td[starts-with(text(),'admin')]]//button[text()='Make read-only']").click)
    assert "Your administrator account is read-only" in page_text(browser)
    shot(browser, "03-read-only-refused", ARTIFACTS)


def test_c13_phones_list_sorts_searches_by_field_and_a_phone_is_edited_in_chromium(server, browser):  # noqa: F811
    """C-13, C-14, C-3: the list's real count, a sorted column, a field's search; Edit, Restart and Delete
    on a phone's page; the Security profiles tab."""
    from selenium.webdriver.common.by import By

    base = f"http://127.0.0.1:{server.web}"
    login(browser, base, "admin", "migrate-demo-2026")
    browser.get(f"{base}/admin/phones")
    assert re.search(r"\b\d+ phones\.", page_text(browser)) and "+" not in page_text(browser).split("phones.")[0]
    follow(browser, browser.find_element(By.LINK_TEXT, "Model").click)
    assert "sort=model" in browser.current_url
    owner = browser.find_element(By.NAME, "owner")
    owner.send_keys("bob")
    follow(browser, owner.submit)
    assert "owner=bob" in browser.current_url and "Model ▲" in page_text(browser)
    shot(browser, "04-phones-sorted-by-model-owner-bob", ARTIFACTS)

    follow(browser, browser.find_element(By.LINK_TEXT, "SEP001122330002").click)
    follow(browser, browser.find_element(By.LINK_TEXT, "Edit").click)
    description = browser.find_element(By.NAME, "description")
    description.clear()
    description.send_keys("Bob's desk, edited in Chromium")
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Save']").click)
    assert "Bob's desk, edited in Chromium" in page_text(browser)
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Restart']").click)
    assert "SEP001122330002" in page_text(browser) and "restart" in page_text(browser)
    shot(browser, "05-phone-edited-and-restarted", ARTIFACTS)
    browser.find_element(By.XPATH, "//summary[text()='Delete…']").click()
    follow(browser, browser.find_element(By.XPATH, "//button[starts-with(text(),'Delete SEP001122330002')]").click)
    assert "SEP001122330002 deleted." in page_text(browser)

    browser.get(f"{base}/admin/security-profiles")
    assert "Corp Encrypted TFTP EC SIP" in page_text(browser) and "Encrypted - Device_TFTP" in page_text(browser)
    shot(browser, "06-security-profiles", ARTIFACTS)
