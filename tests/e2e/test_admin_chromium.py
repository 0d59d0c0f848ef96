"""End to end in a real browser: Debian's Chromium, driven by Selenium, against a
running ``phone-migration serve --demo``. An administrator logs in, finds the
demo 7965, migrates it to an 8861 through the preview (C-15), finds it in the
migration report and downloads the CSV (C-13). Screenshots of every step go to
``test-artifacts/admin/`` (git-ignored)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import select

from models.storage.database import Database
from models.tables.devices import Device

sys.path.insert(0, str(Path(__file__).parent))
from test_server import Server, logged_secrets  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "admin"
OLD, NEW_MAC, NEW = "SEP001122330001", "00:11:22:33:44:55", "SEP001122334455"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("admin"))
    yield srv
    assert srv.stop() == 0
    log = (srv.dir / "server.log").read_text()
    assert not logged_secrets(log, ("7314", "951413", "migrate-demo-2026")), "a secret in the server log"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium is not installed (Debian: apt-get install -y chromium chromium-driver)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False,
                                              "safebrowsing.enabled": False})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def shot(driver, name: str, folder: Path = ARTIFACTS) -> Path:
    """A full-page screenshot into ``folder`` (test-artifacts/): the window is made as tall as the page first."""
    folder.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(800, height + 160), 6000))
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    driver.set_window_size(1400, 1000)
    return path


def device_exists(server, name: str) -> bool:
    db = Database(server.url)
    try:
        with db.read_session() as session:
            return session.exec(select(Device).where(Device.name == name)).first() is not None
    finally:
        db.dispose()


def follow(driver, act) -> None:
    """Run ``act`` (a click or a submit) and wait until the next page has replaced this one.

    Asked in the middle of the navigation, chromedriver may answer "Node with given id does
    not belong to the document" (an unknown error, not a stale element): the old page is gone."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")

    def replaced(_driver) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            return True
        return False

    act()
    WebDriverWait(driver, 15).until(replaced)


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    text = driver.find_element(By.TAG_NAME, "body").text
    assert "argon2" not in driver.page_source and "7314" not in text
    return text


def test_admin_migrates_the_demo_7965_to_an_8861_in_chromium(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = f"http://127.0.0.1:{server.web}"
    began = time.monotonic()
    browser.get(f"{base}/admin/")
    assert browser.current_url.startswith(f"{base}/admin/login")
    shot(browser, "01-login")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("migrate-demo-2026")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click)
    assert "Administration" in page_text(browser)
    cookie = browser.get_cookie("pm_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    follow(browser, browser.find_element(By.LINK_TEXT, "Phones").click)
    search = browser.find_element(By.NAME, "q")
    search.send_keys("7965")
    follow(browser, search.submit)
    assert "1 phone matching “7965”" in page_text(browser)
    shot(browser, "02-find-phones")
    follow(browser, browser.find_element(By.LINK_TEXT, OLD).click)
    text = page_text(browser)
    assert "Custom 7965 SCCP" in text and "on KEM" in text
    shot(browser, "03-phone")

    follow(browser, browser.find_element(By.LINK_TEXT, "Migrate Phone").click)
    browser.find_element(By.NAME, "mac").send_keys(NEW_MAC)
    browser.find_element(By.CSS_SELECTOR, "input[name=by][value=type]").click()
    Select(browser.find_element(By.NAME, "model")).select_by_value("8861")
    shot(browser, "04-migrate-form")
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Preview']").click)
    text = page_text(browser)
    assert "What the Cisco 8861 will lose" in text and "intercom line 3001 stays on the old phone" in text
    assert "lines 6 and 7 will move to the KEM" in text
    shot(browser, "05-preview")
    assert not device_exists(server, NEW)  # the preview saved nothing

    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.confirm button").click)
    text = page_text(browser)
    assert f"Migrated: {OLD} → {NEW}" in text
    shot(browser, "06-result")
    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, f"Open the new phone {NEW}").click)
    assert "Cisco 8861 SIP" in page_text(browser)
    shot(browser, "07-new-phone")

    status, body = server.get(f"http://127.0.0.1:{server.cfg}/{NEW}.cnf.xml")  # C-14: its config file now exists
    assert status == 200
    assert etree.fromstring(body).findtext("sipProfile/sipLines/line/name") == "1001"

    follow(browser, browser.find_element(By.LINK_TEXT, "Migration report").click)
    text = page_text(browser)
    assert f"{OLD} Alice's desk (old 7965) 7965 SCCP alice {NEW}" in text
    shot(browser, "08-report")
    browser.find_element(By.LINK_TEXT, "Download CSV").click()
    deadline = time.monotonic() + 20
    files: list[Path] = []
    while time.monotonic() < deadline:
        files = [p for p in browser.downloads.glob("migration-report*.csv")]
        if files and not list(browser.downloads.glob("*.crdownload")):
            break
        time.sleep(0.2)
    assert files, f"no CSV downloaded: {list(browser.downloads.iterdir())}"
    content = files[0].read_text()
    assert content.splitlines()[0].startswith("at,door,action,actor,old_device")
    assert f",admin,replace,admin:admin,{OLD},7965,{NEW},8861,migrated," in content
    shutil.copy(files[0], ARTIFACTS / "migration-report.csv")

    follow(browser, browser.find_element(By.LINK_TEXT, "Settings").click)
    text = page_text(browser)
    assert "Enterprise parameters (S-1 to S-3)" in text and "Currently: set" in text
    shot(browser, "09-settings")

    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.logout button").click)
    assert browser.current_url.startswith(f"{base}/admin/login") and "You are logged out" in page_text(browser)
    browser.get(f"{base}/admin/report")
    assert browser.current_url.startswith(f"{base}/admin/login")
    print(f"browser walk: {time.monotonic() - began:.1f} s")
