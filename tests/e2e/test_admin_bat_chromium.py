"""E-4 in a real browser (Chromium through Selenium, as ``test_admin_chromium.py``) against a running
``phone-migration serve --demo``: the BAT files page from the navigation, a 3000-phone file uploaded and
followed on its page (a ``<progress>`` bar and "Phone N of M" that reload themselves) until its
summary, then a rejected file's table of bad cells, escaped. Screenshots go to ``test-artifacts/admin/``."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_admin_chromium import browser, follow, page_text, shot  # noqa: E402,F401
from test_server import Server  # noqa: E402

pytestmark = pytest.mark.slow

PHONES = 3000  # ~6 s to import on SQLite: the page is seen running, and counting the phones


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("admin-bat"))
    yield srv
    assert srv.stop() == 0


def big_file(path: Path) -> Path:
    rows = ["Device Name,Description,Device Type,Owner User ID,Directory Number 1,Route Partition 1,Line Text Label 1"]
    rows += [f"SEP{0xC0000000000 + i:012X},Desk {i},Cisco 8851,bat{i},{700000 + i},Internal_PT,Line {i}"
             for i in range(PHONES)]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    return path


def bad_file(path: Path) -> Path:
    path.write_text("Device Name,Device Type,Directory Number 1\r\n"
                    "SEP0D0E0F000001,Cisco <script>alert(1)</script>,5001\r\n"
                    "<b>not a mac</b>,Cisco 8851,5002\r\n"
                    "SEP0D0E0F000003,Cisco 8851,12a4\r\n", encoding="utf-8")
    return path


def upload(driver, path: Path, dry_run: bool = False) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#import input[type=file]").send_keys(str(path))
    if dry_run:
        driver.find_element(By.NAME, "dry_run").click()
    follow(driver, driver.find_element(By.CSS_SELECTOR, "#import button[type=submit]").click)


def wait_for_headline(driver, timeout: float = 120) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while not driver.find_elements(By.ID, "headline"):
        assert time.monotonic() < deadline, driver.find_element(By.TAG_NAME, "body").text
        time.sleep(0.3)
    return driver.find_element(By.ID, "headline").text


def test_e4_bat_files_page_in_chromium(server, browser, tmp_path):  # noqa: F811
    """E-4: export link, an import followed live to its summary, a rejected file's escaped error table."""
    from selenium.webdriver.common.by import By

    base = f"http://127.0.0.1:{server.web}"
    browser.get(f"{base}/admin/")
    if browser.current_url.startswith(f"{base}/admin/login"):
        browser.find_element(By.NAME, "username").send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys("migrate-demo-2026")
        follow(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click)
    follow(browser, browser.find_element(By.LINK_TEXT, "BAT files").click)
    assert browser.current_url == f"{base}/admin/bat"
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#export a")]
    assert links == [f"{base}/admin/bat/export.csv?format=all-details", f"{base}/admin/bat/export.csv?format=bat"]
    shot(browser, "e4-01-bat-files")

    upload(browser, big_file(tmp_path / "fleet.csv"))
    assert "/admin/bat/import/" in browser.current_url
    bars = browser.find_elements(By.TAG_NAME, "progress")  # the upload answers at once: the import runs
    assert bars and "refreshing every second" in browser.find_element(By.ID, "where").text
    seen = browser.find_element(By.ID, "where").text
    deadline, counted = time.monotonic() + 120, None  # some phones in: a bar partly full
    while counted is None and not browser.find_elements(By.ID, "headline"):
        assert time.monotonic() < deadline, browser.find_element(By.TAG_NAME, "body").text
        counted = next(iter(browser.find_elements(By.CSS_SELECTOR, "progress[max]:not([value='0'])")), None)
        if counted is None:
            time.sleep(0.2)
    if counted is not None:  # not seen when the phones went in between two reloads
        seen = browser.find_element(By.ID, "where").text
        assert re.fullmatch(rf"Phone [1-9]\d* of {PHONES} · refreshing every second", seen), seen
        shot(browser, "e4-02-import-running")
    headline = wait_for_headline(browser)
    assert headline == f"{PHONES} phones imported", headline
    assert not browser.find_elements(By.TAG_NAME, "progress")
    text = page_text(browser)
    assert f"Phones created {PHONES}" in text and f"Users created {PHONES}" in text
    shot(browser, "e4-03-import-done")

    browser.get(f"{base}/admin/bat")
    upload(browser, bad_file(tmp_path / "bad.csv"))
    assert wait_for_headline(browser) == "3 bad rows in the file: nothing was imported"
    cells = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
             for tr in browser.find_elements(By.CSS_SELECTOR, "#errors tbody tr")]
    assert [c[:2] for c in cells] == [["2", "Device Type"], ["3", "Device Name"], ["4", "Directory Number 1"]]
    assert cells[0][2] == 'unknown device type "Cisco <script>alert(1)</script>"'  # shown as text, not run
    assert not browser.find_elements(By.CSS_SELECTOR, "#errors script, #errors b")
    shot(browser, "e4-04-import-rejected")

    browser.get(f"{base}/admin/bat")  # both imports listed, newest first, each linked to its page
    listed = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
              for tr in browser.find_elements(By.CSS_SELECTOR, "#recent tbody tr")]
    assert [row[2] for row in listed] == ["bad rows: nothing imported", f"{PHONES} phones imported"], listed
    shot(browser, "e4-05-your-imports")
