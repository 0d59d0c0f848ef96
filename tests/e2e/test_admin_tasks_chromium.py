"""F-6, F-6b..F-6d in a real browser (Chromium through Selenium, as ``test_admin_chromium.py``) against a
running ``phone-migration serve --demo``: a 200-device task whose runner died shows its summary in a frame
that reloads itself with only Pause and Cancel; the server takes the task over (F-6a) and the frame
offers the final page, which says how it ended (failed apart, pushed vs confirmed) with only the
actions left; the devices are paged 50 at a time and unknown MACs are filtered as such.
Screenshots go to ``test-artifacts/admin/``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlmodel import col, delete, update

from models.services.tasks import BulkTasks
from models.storage.database import Database
from models.tables.devices import Device

sys.path.insert(0, str(Path(__file__).parent))
from test_admin_chromium import ARTIFACTS, browser, follow, page_text, shot  # noqa: E402,F401
from test_server import Server  # noqa: E402

pytestmark = pytest.mark.slow

TASK, TARGET = "fleet-200", "sip88xx.12-0-3MPP0001-87"
HEADER = "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan"


def mac(i: int) -> str:
    return f"00CCFE{i:06X}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The server looks for a task to take over every second (F-6a), so the test waits little."""
    srv = Server(tmp_path_factory.mktemp("admin-tasks"), env={"PHONE_MIGRATION_TASKS__RESUME_EVERY": "1"})
    yield srv
    assert srv.stop() == 0


def build(url: str) -> None:
    """200 known 8851s and 3 MACs the site does not know; 10 phones deleted after the upload (their
    push fails), 150 reporting the target load; started by a runner that dies at once: its 8 s lease
    leaves the browser time to see the task In progress before the server takes it over."""
    db = Database(url)
    try:
        with db.session() as session:
            session.add_all(Device(name="SEP" + mac(i), model="8851", location="HQ") for i in range(200))
        bulk = BulkTasks(db, lease_seconds=8)
        bulk.create(TASK)
        rows = [f"USER,user{i}@example.com,,,IP,8851,{mac(i)},HQ,False" for i in range(203)]
        assert bulk.upload(TASK, "\n".join([HEADER, *rows]) + "\n").added == 203
        with db.session() as session:
            session.exec(delete(Device).where(col(Device.name).in_(["SEP" + mac(i) for i in range(190, 200)])))
            session.exec(update(Device).where(col(Device.name).in_(["SEP" + mac(i) for i in range(150)]))
                         .values(reported_load=TARGET))
        bulk.start(TASK, "192.0.2.10")
    finally:
        db.dispose()


def top(driver, name: str) -> None:
    """The window as a user first sees it (1400 x 1000), beside the full-page shot."""
    path = ARTIFACTS / f"{name}.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), path


def actions(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#actions button")]


def test_f6_bulk_task_page_in_chromium(server, browser):  # noqa: F811
    """F-6b, F-6c, F-6d: the live frame, the final headline and bar, the allowed buttons, the pages."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base = f"http://127.0.0.1:{server.web}"
    browser.get(f"{base}/admin/tasks")
    if browser.current_url.startswith(f"{base}/admin/login"):  # logged in first: the task runs on its own
        browser.find_element(By.NAME, "username").send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys("migrate-demo-2026")
        follow(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click)
    build(server.url)
    browser.get(f"{base}/admin/tasks/{TASK}")
    text = page_text(browser)
    assert "Devices 203: 1 to 50" in text and "refresh" not in browser.find_element(By.TAG_NAME, "head") \
        .get_attribute("innerHTML")  # the page itself does not reload
    frame = browser.find_element(By.CSS_SELECTOR, "iframe.summary")
    top(browser, "f6-01-task-running-top")
    shot(browser, "f6-01-task-running")
    browser.switch_to.frame(frame)
    try:
        assert browser.find_element(By.ID, "headline").text == "In progress: 0 of 200 devices processed"
        assert actions(browser) == ["Pause", "Cancel", "Retry devices left out or failed"]  # F-6c: while it runs
        deadline = time.monotonic() + 60  # the server takes the task over (F-6a) and runs its one batch
        while not browser.find_elements(By.PARTIAL_LINK_TEXT, "final states"):
            assert time.monotonic() < deadline, browser.find_element(By.TAG_NAME, "body").text
            time.sleep(0.5)
        assert browser.find_element(By.ID, "headline").text == "Finished with 10 failed (190 pushed)"
        browser.find_element(By.PARTIAL_LINK_TEXT, "final states").click()  # target="_top": the whole page
    finally:
        browser.switch_to.default_content()
    WebDriverWait(browser, 15).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "iframe")
                                     and d.find_elements(By.ID, "headline"))

    assert not browser.find_elements(By.CSS_SELECTOR, "iframe")
    text = page_text(browser)
    assert browser.find_element(By.ID, "headline").text == "Finished with 10 failed (190 pushed)"  # F-6b
    assert "150 of 190 pushed devices confirmed by the phone; 40 pushed, waiting for the phone" in text  # F-6d
    assert "Not eligible" not in text.split("Devices")[0] and " error" not in text.lower().split("devices")[0]
    bar = {r.get_attribute("class"): float(r.get_attribute("width"))
           for r in browser.find_elements(By.CSS_SELECTOR, "svg.bar rect")}
    assert bar == {"todo": 100.0, "confirmed": 75.0, "pushed": 20.0, "failed": 5.0}  # F-6b: failed apart
    assert actions(browser) == ["Retry devices left out or failed", "Check eligibility again"]  # F-6c
    assert not browser.find_elements(By.CSS_SELECTOR, "#upload form")  # a started task takes no upload
    cells = browser.find_elements(By.CSS_SELECTOR, "#devices tbody tr")
    assert len(cells) == 50 and "Confirmed by the phone" in cells[0].text
    top(browser, "f6-02-task-finished-top")
    shot(browser, "f6-02-task-finished")

    follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "next →").click)
    rows = browser.find_elements(By.CSS_SELECTOR, "#devices tbody tr")
    assert len(rows) == 50 and mac(50) in rows[0].text and mac(99) in rows[-1].text

    Select(browser.find_element(By.NAME, "state")).select_by_visible_text("Pushed, waiting for the phone")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.search button").click)
    assert "Devices 40 match" in page_text(browser)  # F-6d: pushed, their phones not on the new load yet

    Select(browser.find_element(By.NAME, "state")).select_by_visible_text("Unknown device")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.search button").click)
    rows = browser.find_elements(By.CSS_SELECTOR, "#devices tbody tr")
    assert [r.text.split()[0] for r in rows] == [mac(200), mac(201), mac(202)]
    assert all("Unknown device" in r.text for r in rows) and "Devices 3 match" in page_text(browser)  # F-6b
    assert f"no phone SEP{mac(200)} in this site: add it" in rows[0].text  # and what to do about it
    shot(browser, "f6-03-unknown-devices")
