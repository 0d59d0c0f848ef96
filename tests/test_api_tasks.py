"""F-6 bulk tasks through the REST API (``phoneservice.web.api.tasks``): tokens and
scopes, problem+json refusals, create, upload (text/csv and multipart), devices
with filters and pages, start and wait until Complete, pause and resume between
batches, the status report, and the OpenAPI document."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest
from sqlmodel import col, select

from models.services.admins import create_token
from models.services.tasks import BATCH_HOOKS
from models.tables.devices import Device
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web import taskrunner
from phoneservice.web.api.common import PROBLEM
from phoneservice.web.app import create_app

HEADER = "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan"
TASK = "8800-01-01-21"
TASK_PATHS = {"/tasks", "/tasks/{name}", "/tasks/{name}/upload", "/tasks/{name}/devices", "/tasks/{name}/start",
              "/tasks/{name}/pause", "/tasks/{name}/resume", "/tasks/{name}/cancel", "/tasks/{name}/retry",
              "/tasks/{name}/refresh", "/tasks/{name}/report.csv"}


def mac(i: int) -> str:
    return f"00CCFC{i:06X}"


def row(i: int, model: str = "8851") -> str:
    return f"USER,user{i}@example.com,,,IP,{model},{mac(i)},HQ,False"


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


class Api:
    def __init__(self, services, tokens):
        self.services = services
        self.client = create_app(services).test_client()
        self.tokens = tokens

    def call(self, method, path, token="rw", **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def upload(self, text: str, name: str = TASK, file_name: str | None = "devices.csv", **kw):
        query = f"?file_name={file_name}" if file_name else ""
        return self.post(f"/tasks/{name}/upload{query}", data=text.encode(), content_type="text/csv", **kw)

    def wait_for(self, status: str, name: str = TASK, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            progress = ok(self.get(f"/tasks/{name}"))["progress"]
            if progress["status"] == status and not progress["running"]:
                return progress
            assert time.monotonic() < deadline, progress
            time.sleep(0.05)


def ok(response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def problem_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    if code:
        assert body["code"] == code, body
    return body


def add_phones(services, count: int, model: str = "8851", start: int = 0) -> None:
    with services.db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model=model, location="HQ") for i in range(start, start + count))


@pytest.fixture
def api(demo_db):
    with demo_db.session() as session:
        tokens = {scopes: create_token(session, f"token-{scopes}", scopes.split("+"))[0]
                  for scopes in ("read+write", "read", "write")}
    services = build_services(load_config(database={"url": demo_db.url}))
    yield Api(services, {"rw": tokens["read+write"], "read": tokens["read"], "write": tokens["write"]})
    thread = taskrunner.runner(taskrunner.bulk_tasks(services), TASK)
    if thread is not None:
        thread.join(10)
    services.db.dispose()


def test_tokens_and_scopes(api):
    problem_of(api.get("/tasks", token=None), 401, "unauthenticated")
    problem_of(api.post("/tasks", {"name": TASK}, token=None), 401, "unauthenticated")
    problem_of(api.post("/tasks", {"name": TASK}, token="read"), 403, "insufficient_scope")
    problem_of(api.get("/tasks", token="write"), 403, "insufficient_scope")
    ok(api.post("/tasks", {"name": TASK}, token="write"), 201)
    problem_of(api.post(f"/tasks/{TASK}/start", token="read"), 403, "insufficient_scope")
    problem_of(api.upload(csv_text(row(1)), token="read"), 403, "insufficient_scope")
    problem_of(api.get(f"/tasks/{TASK}/report.csv", token="write"), 403, "insufficient_scope")
    assert [t["name"] for t in ok(api.get("/tasks", token="read"))["items"]] == [TASK]


def test_create_and_refusals(api):
    created = api.post("/tasks", {"name": TASK, "kind": "license_only", "direction": "mpp_to_enterprise",
                                  "include_unknown": True})
    body = ok(created, 201)
    assert created.headers["Location"].endswith(f"/api/v1/tasks/{TASK}")
    assert (body["status"], body["kind"], body["direction"], body["include_unknown"]) == (
        "Draft", "license_only", "mpp_to_enterprise", True)
    assert body["progress"] == {"status": "Draft", "paused": False, "total": 0, "done": 0, "percent": 0,
                                "counts": {}, "running": False, "summary": "Draft: upload its devices",
                                "confirmed": 0, "to_confirm": 0, "confirmation": None, "actions": ["upload"],
                                "bar": []}  # F-6b, F-6c: a draft can only be uploaded to
    problem_of(api.post("/tasks", {"name": TASK}), 409, "task_exists")
    assert problem_of(api.post("/tasks", {"name": "has space"}), 422, "bad_task_name")["errors"][0]["field"] == "name"
    problem_of(api.post("/tasks", {"name": "x", "kind": "other"}), 422, "invalid")
    problem_of(api.post("/tasks", {"name": "x", "extra": 1}), 422, "invalid")
    problem_of(api.get("/tasks/no-such-task"), 404, "unknown_task")
    problem_of(api.get("/tasks/no-such-task/devices"), 404, "unknown_task")
    problem_of(api.post("/tasks/no-such-task/pause"), 404, "unknown_task")
    problem_of(api.upload(csv_text(row(1)), name="no-such-task"), 404, "unknown_task")
    problem_of(api.get("/tasks/no-such-task/report.csv"), 404, "unknown_task")
    problem_of(api.post(f"/tasks/{TASK}/start", {"tftp_server": "10.0.0.5"}), 409, "task_not_ready")
    problem_of(api.post(f"/tasks/{TASK}/pause"), 409, "task_not_in_progress")


def test_upload_mixed_csv_then_devices_with_filters_and_pages(api):
    add_phones(api.services, 1, start=1)
    add_phones(api.services, 1, model="8851NR", start=2)
    add_phones(api.services, 1, model="7821", start=3)
    ok(api.post("/tasks", {"name": TASK}), 201)
    bad = "USER,user9@example.com,,,IP,8851,not-a-mac,HQ,False"
    result = ok(api.upload(csv_text(row(1), row(2, "8851NR"), row(3, "7821"), bad)))
    assert (result["added"], result["refused"], result["total"]) == (3, 1, 3)
    assert [(e["row"], e["column"]) for e in result["errors"]] == [(5, "MAC Address")]
    assert "not-a-mac" in result["errors_csv"]
    devices = {d["mac"]: d for d in ok(api.get(f"/tasks/{TASK}/devices"))["items"]}
    assert [(devices[mac(i)]["eligibility"], devices[mac(i)]["state"]) for i in (1, 2, 3)] == [
        ("eligible", "ready"), ("ineligible", "error"), ("unknown", "error")]
    assert devices[mac(2)]["reason"] and "VID" in devices[mac(3)]["reason"]
    assert devices[mac(1)]["target_load"]

    def macs(query: str) -> list[str]:
        return [d["mac"] for d in ok(api.get(f"/tasks/{TASK}/devices?{query}"))["items"]]

    assert macs("eligibility=unknown") == [mac(3)]
    assert macs("state=error") == [mac(2), mac(3)]
    assert macs("q=USER1@") == [mac(1)]
    page = ok(api.get(f"/tasks/{TASK}/devices?limit=2"))
    assert (page["total"], len(page["items"])) == (3, 2) and "offset=2" in page["next"]
    assert [d["mac"] for d in ok(api.get(page["next"].removeprefix("/api/v1")))["items"]] == [mac(3)]
    problem_of(api.get(f"/tasks/{TASK}/devices?eligibility=maybe"), 422, "invalid")
    problem_of(api.get(f"/tasks/{TASK}/devices?limit=0"), 422, "invalid")
    assert ok(api.get(f"/tasks/{TASK}"))["status"] == "Ready with errors"


def test_upload_bodies_and_file_name_rule(api):
    ok(api.post("/tasks", {"name": TASK}), 201)
    multipart = api.post(f"/tasks/{TASK}/upload", data={"file": (io.BytesIO(csv_text(row(1)).encode()), "a.csv")},
                         content_type="multipart/form-data")
    assert ok(multipart)["added"] == 1
    assert ok(api.upload(csv_text(row(2)), file_name=None))["total"] == 2  # a file name is optional for text/csv
    body = problem_of(api.upload(csv_text(row(3)), file_name=".hidden"), 422, "bad_file_name")
    assert body["errors"][0]["field"] == "file_name"
    problem_of(api.post(f"/tasks/{TASK}/upload", {"csv": "x"}), 415, "unsupported_media_type")
    problem_of(api.post(f"/tasks/{TASK}/upload", data={"other": "x"}, content_type="multipart/form-data"), 422)
    problem_of(api.post(f"/tasks/{TASK}/upload", data=b"\xff\xfe", content_type="text/csv"), 422)
    problem_of(api.upload("Model\n8851\n"), 422)  # missing columns: the whole file is refused


def test_start_wait_complete_and_status_report(api):
    add_phones(api.services, 3)
    add_phones(api.services, 1, model="8851NR", start=3)
    ok(api.post("/tasks", {"name": TASK}), 201)
    ok(api.upload(csv_text(row(0), row(1), row(2), row(3, "8851NR"))))
    assert problem_of(api.post(f"/tasks/{TASK}/start", {"tftp_server": "no spaces allowed"}), 422,
                      "bad_tftp_server")["errors"][0]["field"] == "tftp_server"
    started = ok(api.post(f"/tasks/{TASK}/start", {"tftp_server": "10.0.0.5"}))
    assert started["action"] == "start"
    progress = api.wait_for("Complete")
    assert (progress["done"], progress["total"], progress["counts"]) == (3, 3, {"complete": 3, "error": 1})
    report = api.get(f"/tasks/{TASK}/report.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report.get_data(as_text=True))))
    assert sorted((r["MAC Address"], r["State"]) for r in rows) == [
        (mac(0), "complete"), (mac(1), "complete"), (mac(2), "complete"), (mac(3), "error")]
    assert ok(api.post(f"/tasks/{TASK}/refresh"))["count"] == 0
    problem_of(api.post(f"/tasks/{TASK}/cancel"), 409, "task_not_in_progress")  # F-6c
    problem_of(api.post(f"/tasks/{TASK}/start"), 409, "nothing_to_migrate")


def test_one_task_in_progress_pause_resume_cancel_retry(api):
    add_phones(api.services, 250)
    ok(api.post("/tasks", {"name": TASK}), 201)
    ok(api.upload(csv_text(*(row(i) for i in range(250)))))
    ok(api.post("/tasks", {"name": "second"}), 201)
    add_phones(api.services, 2, start=300)
    ok(api.upload(csv_text(row(300), row(301)), name="second"))
    reached, release = threading.Event(), threading.Event()

    def hold_after_batch_1(stage: str, number: int) -> None:
        if stage == "batch_committed" and number == 1:
            reached.set()
            release.wait(10)

    BATCH_HOOKS.append(hold_after_batch_1)
    try:
        ok(api.post(f"/tasks/{TASK}/start", {"tftp_server": "10.0.0.5"}))
        assert reached.wait(10)
        problem_of(api.post("/tasks/second/start", {"tftp_server": "10.0.0.5"}), 409, "task_in_progress")
        problem_of(api.post(f"/tasks/{TASK}/resume"), 409, "task_not_paused")  # F-6c: it runs
        paused = ok(api.post(f"/tasks/{TASK}/pause"))
        assert paused["progress"]["paused"] is True
        assert paused["progress"]["actions"] == ["resume", "cancel"]  # F-6c: what the API offers now
    finally:
        release.set()
        BATCH_HOOKS.remove(hold_after_batch_1)
    thread = taskrunner.runner(taskrunner.bulk_tasks(api.services), TASK)
    if thread is not None:
        thread.join(10)
    progress = ok(api.get(f"/tasks/{TASK}"))["progress"]
    assert (progress["status"], progress["paused"], progress["done"], progress["running"]) == (
        "In progress", True, 200, False)
    ok(api.post(f"/tasks/{TASK}/resume"))
    assert api.wait_for("Complete")["counts"] == {"complete": 250}
    # the second task: its phones were deleted after the upload, so they fail; retry after adding them
    with api.services.db.session() as session:
        for device in session.exec(select(Device).where(col(Device.name).in_(["SEP" + mac(300), "SEP" + mac(301)]))):
            session.delete(device)
    ok(api.post("/tasks/second/start", {"tftp_server": "10.0.0.5"}))
    failed = api.wait_for("Review errors", name="second")
    assert failed["counts"] == {"failed": 2} and failed["summary"] == "Finished with 2 failed (0 pushed)"  # F-6b
    add_phones(api.services, 2, start=300)
    assert ok(api.post("/tasks/second/retry"))["count"] == 2
    ok(api.post("/tasks/second/start"))  # an empty body: the task keeps its TFTP server
    assert api.wait_for("Complete", name="second")["counts"] == {"complete": 2}


def test_cancel_a_paused_task(api):
    add_phones(api.services, 250)
    ok(api.post("/tasks", {"name": TASK}), 201)
    ok(api.upload(csv_text(*(row(i) for i in range(250)))))
    reached, release = threading.Event(), threading.Event()

    def hold(stage: str, number: int) -> None:
        if stage == "batch_committed" and number == 1:
            reached.set()
            release.wait(10)

    BATCH_HOOKS.append(hold)
    try:
        ok(api.post(f"/tasks/{TASK}/start", {"tftp_server": "10.0.0.5"}))
        assert reached.wait(10)
        cancelled = ok(api.post(f"/tasks/{TASK}/cancel"))
        assert cancelled["count"] == 50
    finally:
        release.set()
        BATCH_HOOKS.remove(hold)
    progress = api.wait_for("Complete")
    assert progress["counts"] == {"complete": 200, "cancelled": 50}


def test_openapi_documents_the_task_paths_with_scopes(api):
    doc = api.client.get("/api/v1/openapi.json").get_json()
    assert TASK_PATHS <= set(doc["paths"])
    assert set(doc["paths"]["/tasks"]) == {"get", "post"}
    assert doc["paths"]["/tasks"]["get"]["x-scope"] == "read"
    assert doc["paths"]["/tasks"]["post"]["x-scope"] == "write"
    assert doc["paths"]["/tasks/{name}/start"]["post"]["requestBody"]
    assert "text/csv" in doc["paths"]["/tasks/{name}/report.csv"]["get"]["responses"]["200"]["content"]
    assert {"TaskPublic", "TaskCreate", "TaskDevicePublic", "TaskUploadResult"} <= set(doc["components"]["schemas"])
    for path in TASK_PATHS:
        for op in doc["paths"][path].values():
            assert {"401", "403"} <= set(op["responses"]), path
