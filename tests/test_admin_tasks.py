"""F-6 bulk tasks in the admin web UI (``phoneservice.web.admin.tasks``), through the
Flask test client with CSRF on: login needed, forms refused without a token,
create, upload a mixed CSV, the three eligibilities, start and a live progress
until Complete, pause and resume between batches, the downloads."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
import zipfile

import pytest
from sqlmodel import select

from models.services.demo import ADMIN_PASSWORD, ADMIN_USER
from models.services.tasks import BATCH_HOOKS
from models.tables.devices import Device
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web import taskrunner
from phoneservice.web.app import create_app

HEADER = "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
TASK = "8800-01-01-21"


def mac(i: int) -> str:
    return f"00CCFC{i:06X}"


def row(i: int, model: str = "8851") -> str:
    return f"USER,user{i}@example.com,,,IP,{model},{mac(i)},HQ,False"


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def text_of(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", body.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&"))


class Browser:
    def __init__(self, client):
        self.client = client

    def get(self, url: str, status: int = 200):
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:2000])
        return response

    def token(self, page: str = "/admin/tasks") -> str:
        return TOKEN.search(self.get(page).get_data(as_text=True)).group(1)

    def post(self, action: str, data: dict | None = None, status: int = 302, page: str = "/admin/tasks", **kw):
        response = self.client.post(action, data={**(data or {}), "csrf_token": self.token(page)}, **kw)
        assert response.status_code == status, (action, response.status_code, response.get_data(as_text=True)[:3000])
        return response

    def progress(self, name: str = TASK) -> dict:
        response = self.get(f"/admin/tasks/{name}/progress.json")
        assert response.mimetype == "application/json"
        return response.get_json()

    def wait_for(self, status: str, name: str = TASK, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while (progress := self.progress(name))["status"] != status or progress["running"]:
            assert time.monotonic() < deadline, progress
            time.sleep(0.05)
        return progress


def add_phones(services, count: int, model: str = "8851", start: int = 0) -> None:
    with services.db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model=model, location="HQ") for i in range(start, start + count))


@pytest.fixture
def services(demo_db):
    services = build_services(load_config(database={"url": demo_db.url}))
    services.restart = lambda name, result=None: False
    yield services
    thread = taskrunner.runner(taskrunner.bulk_tasks(services), TASK)
    if thread is not None:  # never leave a runner on a database about to go
        thread.join(10)
    services.db.dispose()


@pytest.fixture
def browser(services):
    return Browser(create_app(services).test_client())


@pytest.fixture
def admin(browser):
    page = browser.get("/admin/login").get_data(as_text=True)
    response = browser.client.post("/admin/login", data={"csrf_token": TOKEN.search(page).group(1),
                                                         "username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert response.status_code == 302
    return browser


def upload(admin: Browser, content: bytes, file_name: str = "devices.csv", status: int = 302, name: str = TASK):
    return admin.post(f"/admin/tasks/{name}/upload", {"file": (io.BytesIO(content), file_name)}, status=status,
                      page=f"/admin/tasks/{name}", content_type="multipart/form-data")


def test_task_pages_need_login_and_posts_need_a_csrf_token(services, browser, admin):
    bulk = taskrunner.bulk_tasks(services)
    bulk.create(TASK)
    anonymous = Browser(create_app(services).test_client())
    for url in ("/admin/tasks", f"/admin/tasks/{TASK}", f"/admin/tasks/{TASK}/progress.json",
                f"/admin/tasks/{TASK}/report.csv", f"/admin/tasks/{TASK}/export.zip"):
        assert anonymous.get(url, status=302).headers["Location"].startswith("/admin/login"), url
    for url in ("/admin/tasks", f"/admin/tasks/{TASK}/upload", f"/admin/tasks/{TASK}/start",
                f"/admin/tasks/{TASK}/pause", f"/admin/tasks/{TASK}/cancel"):
        for data in ({}, {"csrf_token": "forged"}):
            response = admin.client.post(url, data={**data, "name": "csrf-task", "tftp_server": "10.0.0.5"})
            assert response.status_code == 400, url
            assert "expired or did not come from this site" in text_of(response)
    assert [t.name for t in bulk.tasks()] == [TASK]
    assert "Bulk tasks" in text_of(admin.get("/admin/"))  # the nav link


def test_create_task_and_refusals(admin):
    assert "No task yet" in text_of(admin.get("/admin/tasks"))
    response = admin.post("/admin/tasks", {"name": TASK, "kind": "license_and_device",
                                           "direction": "enterprise_to_mpp"})
    assert response.headers["Location"] == f"/admin/tasks/{TASK}"
    page = text_of(admin.get("/admin/tasks"))
    assert TASK in page and "Draft" in page and "Enterprise to MPP" in page and "0/0" in page
    assert "task names are unique" in text_of(admin.post("/admin/tasks", {"name": TASK, "kind": "license_only",
                                                                         "direction": "enterprise_to_mpp"}, 422))
    assert "no spaces" in text_of(admin.post("/admin/tasks", {"name": "has space", "kind": "license_only",
                                                             "direction": "mpp_to_enterprise"}, 422))
    assert "not a direction" in text_of(admin.post("/admin/tasks", {"name": "x", "kind": "license_only",
                                                                   "direction": "sideways"}, 422))
    admin.get("/admin/tasks/no-such-task", status=404)
    admin.get("/admin/tasks/no-such-task/progress.json", status=404)


def test_upload_a_mixed_csv_shows_three_eligibilities_with_reasons(services, admin):
    add_phones(services, 1, start=1)
    add_phones(services, 1, model="8851NR", start=2)
    add_phones(services, 1, model="7821", start=3)
    admin.post("/admin/tasks", {"name": TASK, "kind": "license_and_device", "direction": "enterprise_to_mpp"})
    bad = "USER,user9@example.com,,,IP,8851,not-a-mac,HQ,False"
    response = upload(admin, csv_bytes(row(1, "8851"), row(2, "8851NR"), row(3, "7821"), bad))
    assert response.headers["Location"] == f"/admin/tasks/{TASK}"
    page = text_of(admin.get(f"/admin/tasks/{TASK}"))
    assert "Added Refused rows Total uploaded 3 1 3" in page  # F-6b: a bad row is refused, not an error
    assert "Row 5, MAC Address" in page and "Download the errors CSV" in page
    assert "Ready: 1 device to migrate, 2 devices not eligible" in page  # F-6b
    for eligibility in ("eligible", "ineligible", "unknown"):
        assert re.search(rf'class="badge {eligibility}"', admin.get(f"/admin/tasks/{TASK}").get_data(as_text=True))
    assert "VID" in page  # the reason of the unknown 7821
    errors = list(csv.DictReader(io.StringIO(admin.get(f"/admin/tasks/{TASK}/errors.csv").get_data(as_text=True))))
    assert [(e["Row"], e["Column"], e["MAC Address"]) for e in errors] == [("5", "MAC Address", "not-a-mac")]

    def macs(query: str) -> list[str]:
        html = admin.get(f"/admin/tasks/{TASK}?{query}").get_data(as_text=True)
        return re.findall(r"<td>(00CCFC[0-9A-F]{6})</td>", html)

    assert macs("eligibility=eligible") == [mac(1)]
    assert macs("eligibility=ineligible") == [mac(2)]
    assert macs("eligibility=unknown") == [mac(3)]
    assert macs("state=error") == [mac(2), mac(3)]
    assert macs("q=USER2@EXAMPLE") == [mac(2)]  # case-insensitive
    assert macs("q=00:cc:fc:00:00:03") == [mac(3)]
    assert macs("eligibility=bogus") == [mac(1), mac(2), mac(3)]  # an unknown filter is no filter


def test_upload_file_name_rule_and_missing_file(admin):
    admin.post("/admin/tasks", {"name": TASK, "kind": "license_and_device", "direction": "enterprise_to_mpp"})
    assert "cannot be uploaded" in text_of(upload(admin, csv_bytes(row(1)), ".hidden.csv", 422))
    assert "cannot be uploaded" in text_of(upload(admin, csv_bytes(row(1)), "two.dots.csv", 422))
    response = admin.post(f"/admin/tasks/{TASK}/upload", {}, status=422, page=f"/admin/tasks/{TASK}",
                          content_type="multipart/form-data")
    assert "Choose the CSV file" in text_of(response)
    assert "not UTF-8" in text_of(upload(admin, b"\xff\xfe\x00bad", "devices.csv", 422))
    admin.get(f"/admin/tasks/{TASK}/errors.csv", status=404)  # no upload yet


def test_start_runs_in_the_background_until_complete_then_downloads(services, admin):
    add_phones(services, 3)
    add_phones(services, 1, model="8851NR", start=3)
    admin.post("/admin/tasks", {"name": TASK, "kind": "license_and_device", "direction": "enterprise_to_mpp"})
    upload(admin, csv_bytes(row(0), row(1), row(2), row(3, "8851NR")))
    assert "TFTP server" in text_of(admin.post(f"/admin/tasks/{TASK}/start", {"tftp_server": "bad server!"}, 422,
                                              page=f"/admin/tasks/{TASK}"))
    admin.post(f"/admin/tasks/{TASK}/start", {"tftp_server": "10.0.0.5"}, page=f"/admin/tasks/{TASK}")
    progress = admin.wait_for("Complete")
    assert (progress["done"], progress["total"], progress["percent"]) == (3, 3, 100)
    assert progress["counts"] == {"complete": 3, "error": 1}
    html = admin.get(f"/admin/tasks/{TASK}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html and "<iframe" not in html  # no longer live
    page = text_of(admin.get(f"/admin/tasks/{TASK}"))
    assert "Finished: 3 pushed" in page  # F-6b, F-6d: pushed, and no phone reports the load yet
    assert "0 of 3 pushed devices confirmed by the phone; 3 pushed, waiting for the phone" in page
    assert '<rect class="pushed" x="0.0" y="0" width="100.0"' in html
    report = admin.get(f"/admin/tasks/{TASK}/report.csv")
    assert report.mimetype == "text/csv" and "attachment" in report.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(report.get_data(as_text=True))))
    assert sorted((r["MAC Address"], r["State"]) for r in rows) == [
        (mac(0), "complete"), (mac(1), "complete"), (mac(2), "complete"), (mac(3), "error")]
    assert all(r["License rule"] == f"tftp://10.0.0.5/{r['MAC Address']}.lic" for r in rows if r["State"] == "complete")
    export = admin.get(f"/admin/tasks/{TASK}/export.zip")
    assert export.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.data)) as archive:
        names = archive.namelist()
        assert len(names) == 1 and "sip88xx" in names[0]
        assert mac(0) in archive.read(names[0]).decode()
    page = text_of(admin.post(f"/admin/tasks/{TASK}/pause", {}, 409, page=f"/admin/tasks/{TASK}"))
    assert "not in progress" in page


def test_pause_between_batches_then_resume_until_complete(services, admin):
    add_phones(services, 250)
    admin.post("/admin/tasks", {"name": TASK, "kind": "license_and_device", "direction": "enterprise_to_mpp"})
    upload(admin, csv_bytes(*(row(i) for i in range(250))))
    reached, release = threading.Event(), threading.Event()

    def hold_after_batch_1(stage: str, number: int) -> None:
        if stage == "batch_committed" and number == 1:
            reached.set()
            release.wait(10)

    BATCH_HOOKS.append(hold_after_batch_1)
    try:
        admin.post(f"/admin/tasks/{TASK}/start", {"tftp_server": "10.0.0.5"}, page=f"/admin/tasks/{TASK}")
        assert reached.wait(10)
        response = admin.get(f"/admin/tasks/{TASK}")
        live = response.get_data(as_text=True)  # F-6: the page does not refresh; its summary frame does
        assert '<meta http-equiv="refresh"' not in live and f'src="/admin/tasks/{TASK}/summary"' in live
        assert "frame-src 'self'" in response.headers["Content-Security-Policy"]
        frame = admin.get(f"/admin/tasks/{TASK}/summary")
        summary = frame.get_data(as_text=True)
        assert '<meta http-equiv="refresh" content="2">' in summary and 'width="80.0"' in summary
        assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
        assert frame.headers["X-Frame-Options"] == "SAMEORIGIN" and len(frame.data) < 8000
        assert re.findall(r'action="/admin/tasks/[^/]+/(\w+)"', summary) == ["pause", "cancel"]  # F-6c
        assert admin.progress()["running"] is True
        admin.post(f"/admin/tasks/{TASK}/start", {}, page=f"/admin/tasks/{TASK}")  # in progress: a no-op, one runner
        admin.post(f"/admin/tasks/{TASK}/pause", {}, page=f"/admin/tasks/{TASK}")
    finally:
        release.set()
        BATCH_HOOKS.remove(hold_after_batch_1)
    thread = taskrunner.runner(taskrunner.bulk_tasks(services), TASK)
    if thread is not None:
        thread.join(10)
    progress = admin.progress()
    assert (progress["status"], progress["paused"], progress["done"], progress["total"], progress["running"]) == (
        "In progress", True, 200, 250, False)
    paused = admin.get(f"/admin/tasks/{TASK}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in paused and "<iframe" not in paused  # paused
    assert re.findall(r'action="/admin/tasks/[^/]+/(\w+)"', paused) == ["resume", "cancel"]  # F-6c
    admin.post(f"/admin/tasks/{TASK}/resume", {}, page=f"/admin/tasks/{TASK}")
    progress = admin.wait_for("Complete")
    assert (progress["done"], progress["counts"]) == (250, {"complete": 250})
    batches = {r["Batch"] for r in csv.DictReader(io.StringIO(
        admin.get(f"/admin/tasks/{TASK}/report.csv").get_data(as_text=True)))}
    assert batches == {"1", "2"}


def test_cancel_retry_and_refresh(services, admin):
    add_phones(services, 2)
    admin.post("/admin/tasks", {"name": TASK, "kind": "license_and_device", "direction": "enterprise_to_mpp"})
    upload(admin, csv_bytes(row(0), row(1)))
    with services.db.session() as session:  # mac(1)'s phone is deleted after the upload: its push fails
        session.delete(session.exec(select(Device).where(Device.name == "SEP" + mac(1))).one())
    admin.post(f"/admin/tasks/{TASK}/start", {"tftp_server": "10.0.0.5"}, page=f"/admin/tasks/{TASK}")
    assert admin.wait_for("Complete")["counts"] == {"complete": 1, "failed": 1}
    html = admin.get(f"/admin/tasks/{TASK}").get_data(as_text=True)
    assert "Finished with 1 failed (1 pushed)" in text_of(admin.get(f"/admin/tasks/{TASK}"))  # F-6b
    assert '<rect class="failed" x="50.0" y="0" width="50.0"' in html  # F-6b: the bar shows the failed apart
    assert re.findall(r'action="/admin/tasks/[^/]+/(\w+)"', html) == ["retry", "refresh"]  # F-6c
    add_phones(services, 1, start=1)
    response = admin.post(f"/admin/tasks/{TASK}/retry", {}, page=f"/admin/tasks/{TASK}")
    assert "1 device ready for migration again" in text_of(admin.get(response.headers["Location"]))
    admin.post(f"/admin/tasks/{TASK}/refresh", {}, page=f"/admin/tasks/{TASK}")
    admin.post(f"/admin/tasks/{TASK}/start", {}, page=f"/admin/tasks/{TASK}")  # the task keeps its TFTP server
    assert admin.wait_for("Complete")["counts"] == {"complete": 2}
    assert "not in progress" in text_of(admin.post(f"/admin/tasks/{TASK}/cancel", {}, 409, page=f"/admin/tasks/{TASK}"))
    admin.post("/admin/tasks/no-such-task/pause", {}, 404)


def test_devices_are_paged_and_unknown_macs_are_said_at_upload(services, admin):
    """F-6, F-6b: 50 devices a page, the filter kept from page to page; a MAC the site does not know
    is an *Unknown device* from the upload on, not *Ready*."""
    add_phones(services, 120)
    admin.post("/admin/tasks", {"name": TASK, "kind": "license_and_device", "direction": "enterprise_to_mpp"})
    upload(admin, csv_bytes(*(row(i) for i in range(122))))  # the last two are unknown here

    def macs(query: str = "") -> list[str]:
        html = admin.get(f"/admin/tasks/{TASK}?{query}").get_data(as_text=True)
        return re.findall(r"<td>(00CCFC[0-9A-F]{6})</td>", html)

    html = admin.get(f"/admin/tasks/{TASK}").get_data(as_text=True)
    assert macs() == [mac(i) for i in range(50)] and f'href="/admin/tasks/{TASK}?page=2">next' in html
    assert macs("page=3") == [mac(i) for i in range(100, 122)]
    assert macs("page=9") == [] and macs("page=x") == macs()  # past the end; a bad number is page 1
    assert macs("state=unknown_device") == [mac(120), mac(121)]
    unknown = text_of(admin.get(f"/admin/tasks/{TASK}?state=unknown_device"))
    assert "Devices 2 match" in unknown and "Unknown device" in unknown
    assert "Ready: 120 devices to migrate, 2 devices unknown to the site" in unknown
    ready = admin.get(f"/admin/tasks/{TASK}?state=ready&page=2").get_data(as_text=True)
    assert f'href="/admin/tasks/{TASK}?page=3&amp;state=ready">next' in ready
    assert len(ready) < 100_000
