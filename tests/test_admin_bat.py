"""E-4: CUCM BAT files in the admin web UI (``phoneservice.web.admin.bat_files``), through the
Flask test client with CSRF on: the export download, an import run in the background and
followed on its own page until its summary, a dry run, a rejected file's escaped error
table, the form's own refusals, the read-only role, and an import's page served by another
process than the one running it (``phoneservice.web.bat_jobs``, ``models.services.bat_imports``)."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import func, select

from models.rules.clock import utcnow
from models.services.bat import export_text
from models.services.bat_imports import BatImports
from models.services.demo import ADMIN_PASSWORD, ADMIN_USER
from models.tables.devices import Device
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web import bat_jobs
from phoneservice.web.app import create_app
from phoneservice.web.bat_jobs import BackgroundImports

DATA = Path(__file__).parent / "data" / "bat"
ALL_DETAILS = (DATA / "all_details.csv").read_bytes()
BAT_BOM = (DATA / "bat_default_bom.csv").read_bytes()
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def phones(services) -> int:
    with services.db.read_session() as session:
        return session.exec(select(func.count()).select_from(Device)).one()


class Admin:
    def __init__(self, services):
        self.services = services
        self.client = create_app(services).test_client()
        page = self.client.get("/admin/login").get_data(as_text=True)
        assert self.client.post("/admin/login", data={"csrf_token": TOKEN.search(page).group(1),
                                                      "username": ADMIN_USER, "password": ADMIN_PASSWORD}
                                ).status_code == 302

    def token(self) -> str:
        return TOKEN.search(self.client.get("/admin/bat").get_data(as_text=True)).group(1)

    def upload(self, data: bytes, file_name: str = "phones.csv", csrf: bool = True, **fields):
        form = {"file": (io.BytesIO(data), file_name), **fields}
        if csrf:
            form["csrf_token"] = self.token()
        return self.client.post("/admin/bat/import", data=form, content_type="multipart/form-data")

    def finished(self, response, timeout: float = 20) -> str:
        """Follow the import's page (as its refresh does) until it stops refreshing; its HTML."""
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        url, deadline = response.headers["Location"], time.monotonic() + timeout
        while True:
            html = self.client.get(url).get_data(as_text=True)
            if 'http-equiv="refresh"' not in html:
                return html
            assert time.monotonic() < deadline, html
            time.sleep(0.05)


@pytest.fixture
def admin(services):
    yield Admin(services)
    deadline = time.monotonic() + 20
    while services.bat_imports.running_here:  # none left on a database going
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_e4_page_is_in_the_navigation_and_exports_every_phone(admin):
    """E-4: the BAT files page is linked from every page; its export is the service's CSV."""
    assert 'href="/admin/bat"' in admin.client.get("/admin/").get_data(as_text=True)
    page = admin.client.get("/admin/bat").get_data(as_text=True)
    assert "Export phones" in page and "Import phones" in page and 'enctype="multipart/form-data"' in page
    response = admin.client.get("/admin/bat/export.csv?format=all-details")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="phones-all-details-\d{8}-\d{4}\.csv"',
                        response.headers["Content-Disposition"])
    assert response.get_data(as_text=True) == export_text(admin.services.db)
    assert admin.client.get("/admin/bat/export.csv?format=bat").get_data(as_text=True).startswith("MAC ADDRESS,")
    assert admin.client.get("/admin/bat/export.csv?format=xml").status_code == 404


def test_e4_import_needs_a_csrf_token(admin):
    """E-4: the upload is a form like any other: no CSRF token, no import."""
    before = phones(admin.services)
    response = admin.upload(ALL_DETAILS, csrf=False)
    assert response.status_code == 400 and "This form has expired" in response.get_data(as_text=True)
    assert phones(admin.services) == before


def test_e4_import_runs_in_the_background_then_shows_its_summary(admin):
    """E-4: the upload answers at once; the import's page shows progress while it runs, then the summary."""
    before = phones(admin.services)
    html = admin.finished(admin.upload(ALL_DETAILS))
    assert "5 phones imported" in html and "<progress" not in html
    assert re.search(r"Phones created</th><td>5<", html)
    assert phones(admin.services) == before + 5


def test_e4_running_import_page_shows_phone_n_of_m(admin, monkeypatch):
    """E-4: while the import runs its page refreshes itself with a <progress> bar and "Phone N of M"."""
    gate, entered = threading.Event(), threading.Event()
    real = bat_jobs.ImportJob.progress

    def slow(job, done, total):
        real(job, done, total)
        if done == 2:
            entered.set()
            gate.wait(10)

    monkeypatch.setattr(bat_jobs.ImportJob, "progress", slow)
    response = admin.upload(ALL_DETAILS)
    assert entered.wait(10)
    html = admin.client.get(response.headers["Location"]).get_data(as_text=True)
    gate.set()
    assert '<meta http-equiv="refresh" content="1">' in html
    assert '<progress value="2" max="5">' in html and "Phone 2 of 5" in html
    assert "5 phones imported" in admin.finished(response)


def test_e4_a_second_import_while_one_runs_is_refused(admin, monkeypatch):
    """E-4: one import at a time in a process; the second is told why, and nothing of it runs."""
    gate, entered = threading.Event(), threading.Event()

    def waiting(job, done, total):
        entered.set()
        gate.wait(10)

    monkeypatch.setattr(bat_jobs.ImportJob, "progress", waiting)
    first = admin.upload(ALL_DETAILS)
    assert entered.wait(10)
    second = admin.upload(BAT_BOM, model="7841", protocol="SIP")
    gate.set()
    assert second.status_code == 409 and "Another import is running" in second.get_data(as_text=True)
    admin.finished(first)


def test_e4_dry_run_shows_what_would_be_created_and_changes_nothing(admin):
    """E-4: a dry run's page counts what would be created; the site is unchanged."""
    before = phones(admin.services)
    html = admin.finished(admin.upload(BAT_BOM, model="7841", protocol="SIP", dry_run="1"))
    assert "Dry run: 3 phones would be imported; nothing changed" in html
    assert re.search(r"Phones that would be created</th><td>3<", html)
    assert phones(admin.services) == before


def test_e4_rejected_file_lists_every_bad_cell_escaped(admin):
    """E-4, M-4 style: every bad row's column and reason in a table, the file's text escaped."""
    before = phones(admin.services)
    evil = b'Device Name,Device Type\nSEP0A0B0C0D0E01,Cisco <script>alert(1)</script>\n<b>bold</b>,Cisco 8851\n'
    html = admin.finished(admin.upload(evil))
    assert "2 bad rows in the file: nothing was imported" in html
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>", html)
    assert rows == [("2", "Device Type"), ("3", "Device Name")]
    assert phones(admin.services) == before


def test_e4_refusals_of_the_whole_file_and_of_the_form(admin):
    """E-4: the service's refusal of the file is shown as its sentence; the form's own checks answer 422."""
    html = admin.finished(admin.upload(BAT_BOM))
    assert "Nothing was imported" in html and "names no device type" in html
    response = admin.client.post("/admin/bat/import", data={"csrf_token": admin.token()},
                                 content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose the CSV file" in response.get_data(as_text=True)
    assert admin.upload(BAT_BOM, protocol="H323").status_code == 422


def test_e4_an_import_page_is_its_administrators_only(admin, services):
    """E-4: an unknown id, or another administrator's, is not found (the id is unguessable too)."""
    url = admin.upload(ALL_DETAILS).headers["Location"]
    unknown = admin.client.get("/admin/bat/import/nosuchimport")
    assert unknown.status_code == 404 and "You started no import with this address" in unknown.get_data(as_text=True)
    job_id = url.rsplit("/", 1)[1]
    assert len(job_id) >= 24
    assert services.bat_imports.find(job_id, "admin:someone-else") is None
    assert services.bat_imports.find(job_id, f"admin:{ADMIN_USER}") is not None


def test_e4_the_bat_page_lists_the_administrators_own_imports_newest_first(admin, services):
    """E-4: the BAT files page links each of this administrator's imports kept (the last hour's) to its page,
    with its outcome; another administrator's are not listed."""
    assert 'id="recent"' not in admin.client.get("/admin/bat").get_data(as_text=True)
    first = admin.upload(ALL_DETAILS)
    admin.finished(first)
    second = admin.upload(BAT_BOM, model="7841", protocol="SIP", dry_run="1")
    admin.finished(second)
    html = admin.client.get("/admin/bat").get_data(as_text=True)
    rows = re.findall(r'<tr><td><a href="([^"]+)">([^<]+)</a>(?: <small>\(dry run\)</small>)?</td><td>[^<]+</td>'
                      r"<td>([^<]+)</td></tr>", html)
    assert rows == [(second.headers["Location"], "phones.csv", "3 phones checked"),
                    (first.headers["Location"], "phones.csv", "5 phones imported")]
    assert services.bat_imports.recent("admin:someone-else") == []


def test_e4_another_process_shows_the_import_running_then_its_summary(admin, services, monkeypatch):
    """E-4: a web process that does not run the import (another app on the same database) shows it
    running without counts, refuses a second import, and shows the summary once it ended."""
    gate, entered = threading.Event(), threading.Event()

    def waiting(job, done, total):
        entered.set()
        gate.wait(10)

    monkeypatch.setattr(bat_jobs.ImportJob, "progress", waiting)
    elsewhere = build_services(load_config(database={"url": services.db.url}))
    elsewhere.bat_imports = BackgroundImports(BatImports(elsewhere.db, pid=1))  # another process's
    other = Admin(elsewhere)
    try:
        response = admin.upload(ALL_DETAILS)
        assert entered.wait(10)
        html = other.client.get(response.headers["Location"]).get_data(as_text=True)
        busy = other.upload(BAT_BOM, model="7841", protocol="SIP")
        gate.set()
        assert '<meta http-equiv="refresh" content="1">' in html and "Running in another of the server" in html
        assert "<progress value=" not in html  # its counts are the running process's
        assert busy.status_code == 409 and "Another import is running on this site" in busy.get_data(as_text=True)
        admin.finished(response)
        assert "5 phones imported" in other.finished(response)
    finally:
        gate.set()
        elsewhere.close()
def test_e2_a_read_only_administrator_cannot_import(admin, services):
    """E-2: the read-only role may download the export but its upload is refused (403)."""
    services.administration.add("viewer", "viewer-password-1", "read_only", utcnow())
    viewer = create_app(services).test_client()
    page = viewer.get("/admin/login").get_data(as_text=True)
    viewer.post("/admin/login", data={"csrf_token": TOKEN.search(page).group(1), "username": "viewer",
                                      "password": "viewer-password-1"})
    assert viewer.get("/admin/bat/export.csv").status_code == 200
    token = TOKEN.search(viewer.get("/admin/bat").get_data(as_text=True)).group(1)
    response = viewer.post("/admin/bat/import", data={"csrf_token": token, "file": (io.BytesIO(
        ALL_DETAILS), "phones.csv")}, content_type="multipart/form-data")
    assert response.status_code == 403
