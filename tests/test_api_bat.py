"""E-4: CUCM BAT import and export through the REST API (``phoneservice.web.api.bat``), on the
same service as the CLI (``models.services.bat``): scopes, the CSV download, an import all or
nothing with every bad cell in the problem, a dry run, the body's media type and size, and the
OpenAPI document."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlmodel import func, select

from models.services import bat
from models.services.admins import create_token
from models.tables.devices import Device
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web.api.common import PROBLEM
from phoneservice.web.app import create_app

DATA = Path(__file__).parent / "data" / "bat"
ALL_DETAILS = (DATA / "all_details.csv").read_bytes()
BAT_BOM = (DATA / "bat_default_bom.csv").read_bytes()
BAD_ROWS = (DATA / "bad_rows.csv").read_bytes()


class Api:
    def __init__(self, services, tokens):
        self.services, self.tokens = services, tokens
        self.client = create_app(services).test_client()

    def call(self, method, path, token="rw", **kwargs):
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def upload(self, data: bytes, query: str = "", token="rw", content_type="text/csv"):
        return self.call("POST", f"/bat/import{query}", token=token, data=data, content_type=content_type)

    def phones(self) -> int:
        with self.services.db.read_session() as session:
            return session.exec(select(func.count()).select_from(Device)).one()


def problem_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["code"] == code, body
    return body


@pytest.fixture
def api(demo_db):
    with demo_db.session() as session:
        tokens = {name: create_token(session, f"token-{name}", scopes)[0]
                  for name, scopes in (("rw", ["read", "write"]), ("read", ["read"]), ("write", ["write"]))}
    services = build_services(load_config(database={"url": demo_db.url}))
    yield Api(services, tokens)
    services.db.dispose()


def test_e4_export_is_a_csv_download_of_every_phone(api):
    """E-4: GET /bat/export answers the service's export as an attachment, in either format."""
    response = api.call("GET", "/bat/export", token="read")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="phones-all-details.csv"'
    assert response.get_data(as_text=True) == bat.export_text(api.services.db)
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "Device Name" and len(rows) - 1 == api.phones()
    short = api.call("GET", "/bat/export?format=bat", token="read")
    assert short.get_data(as_text=True).startswith("MAC ADDRESS,")
    assert 'filename="phones-bat.csv"' in short.headers["Content-Disposition"]
    problem_of(api.call("GET", "/bat/export?format=xml"), 422, "invalid")


def test_e4_import_creates_everything_and_answers_the_summary(api):
    """E-4: a good file imports in one go; the answer counts what was created."""
    before = api.phones()
    response = api.upload(ALL_DETAILS)
    assert response.status_code == 200, response.get_data(as_text=True)
    summary = response.get_json()
    assert (summary["format"], summary["devices"], summary["dry_run"]) == ("all-details", 5, False)
    assert summary["summary"].startswith("imported 5 phones (Export Phones – All Details format)")
    assert api.phones() == before + 5
    again = problem_of(api.upload(ALL_DETAILS), 422, "bad_rows")
    assert {(e["row"], e["column"]) for e in again["errors"]} == {(n, "Device Name") for n in range(2, 7)}


def test_e4_bad_rows_import_nothing_and_the_problem_lists_every_cell(api):
    """E-4 (all or nothing): a file with bad rows is a 422 whose errors have row, column and message."""
    before = api.phones()
    body = problem_of(api.upload(BAD_ROWS), 422, "bad_rows")
    assert body["detail"] == "12 bad rows in the file: nothing was imported"
    assert {"field": "file", "row": 7, "column": "Device Name",
            "message": "a phone named SEP001122330001 already exists"} in body["errors"]
    assert [e for e in body["errors"] if e["row"] == 13] == [
        {"field": "file", "row": 13, "column": "Device Name",
         "message": '"XYZ" is not a MAC address (12 hexadecimal digits)'},
        {"field": "file", "row": 13, "column": "Device Type", "message": 'unknown device type "Cisco 9999"'}]
    assert len({e["row"] for e in body["errors"]}) == 12
    assert api.phones() == before


def test_e4_dry_run_counts_and_changes_nothing(api):
    """E-4: dry_run=true checks and counts what would be created, and changes nothing."""
    before = api.phones()
    summary = api.upload(BAT_BOM, "?model=7841&protocol=SIP&dry_run=true").get_json()
    assert (summary["format"], summary["devices"], summary["dry_run"]) == ("bat", 3, True)
    assert summary["summary"].endswith("(dry run: nothing changed)")
    assert api.phones() == before


def test_e4_whole_file_refusals_name_the_field(api):
    """E-4: the service's refusals of the whole file are 422 naming the parameter or the file."""
    assert problem_of(api.upload(BAT_BOM), 422, "needs_model")["errors"][0]["field"] == "model"
    assert problem_of(api.upload(BAT_BOM, "?model=7841&protocol=SCCP"), 422, "bad_protocol")["errors"][0][
        "field"] == "protocol"
    problem_of(api.upload(BAT_BOM, "?model=7841&protocol=sip"), 422, "invalid")
    problem_of(api.upload(b"\xff\xfe not utf-8"), 422, "bad_encoding")
    problem_of(api.upload(b"just,a,table\n1,2,3\n"), 422, "bad_header")
    problem_of(api.upload(b"Device Name\nSEP0A0B0C0D0E09\x01\n"), 422, "invalid")


def test_e4_body_media_type_size_and_scopes(api, monkeypatch):
    """E-4, E-2: import needs the write scope, a text/csv body, at most MAX_FILE_BYTES."""
    problem_of(api.upload(ALL_DETAILS, token=None), 401, "unauthenticated")
    problem_of(api.upload(ALL_DETAILS, token="read"), 403, "insufficient_scope")
    problem_of(api.call("GET", "/bat/export", token="write"), 403, "insufficient_scope")
    problem_of(api.upload(ALL_DETAILS, content_type="application/json"), 415, "unsupported_media_type")
    monkeypatch.setattr("phoneservice.web.api.bat.MAX_FILE_BYTES", 100)
    problem_of(api.upload(ALL_DETAILS), 413, "too_large")
    monkeypatch.undo()
    assert api.upload(ALL_DETAILS, token="write").status_code == 200


def test_e4_the_document_describes_both_operations(api):
    """E-4: the OpenAPI document gives the text/csv body, the query and the answers."""
    document = api.client.get("/api/v1/openapi.json").get_json()
    export, imported = document["paths"]["/bat/export"]["get"], document["paths"]["/bat/import"]["post"]
    assert export["x-scope"] == "read" and "text/csv" in export["responses"]["200"]["content"]
    assert imported["x-scope"] == "write"
    assert imported["requestBody"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    assert {p["name"] for p in imported["parameters"]} == {"model", "protocol", "dry_run"}
    assert {"200", "409", "413", "415", "422"} <= set(imported["responses"])
    error = document["components"]["schemas"]["FieldError"]["properties"]
    assert {"row", "column"} <= set(error)
