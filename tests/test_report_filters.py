"""C-13: the migration report filtered by outcome, door, actor and UTC days, alike in the API,
the admin UI and the CLI (``models.rules.record_filter``, ``models.services.reports.filtered``)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from models.rules.record_filter import record_filter
from models.rules.refusals import Refused
from models.tables.records import MigrationRecord
from phoneservice.cli import main
from tests.test_api import api, failing_field  # noqa: F401  (the API fixture)

RECORDS = [  # at, door, actor, outcome
    (datetime(2026, 11, 30, 23, 59, tzinfo=timezone.utc), "ivr", "ivr:alice", "migrated"),
    (datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc), "admin", "admin:admin", "refused"),
    (datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc), "admin", "admin:Viewer", "migrated"),
    (datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc), "api", "token-rw", "refused"),
    (datetime(2026, 12, 3, 0, 0, tzinfo=timezone.utc), "screen", "screen:bob", "provisioned"),
]


def _seed(db) -> None:
    with db.session() as session:
        for at, door, actor, outcome in RECORDS:
            session.add(MigrationRecord(at=at, door=door, actor=actor, outcome=outcome, old_device="SEP001122330099",
                                        message=f"{door} {outcome}"))


def test_c13_a_filter_is_checked_once_for_every_door():
    """C-13: bad values are refused naming the field; days are both included."""
    assert record_filter(since="2026-12-01", until="2026-12-01").end == datetime(2026, 12, 2, tzinfo=timezone.utc)
    for fields, field in (({"door": "fax"}, "door"), ({"outcome": "x"}, "outcome"), ({"since": "12/01/2026"}, "since"),
                          ({"since": "2026-12-02", "until": "2026-12-01"}, "since"), ({"until": "2026-13-01"}, "until")):
        with pytest.raises(Refused) as refused:
            record_filter(**fields)
        assert refused.value.code == "bad_filter" and refused.value.field == field


def test_c13_api_records_filter_by_door_actor_outcome_and_days(api):  # noqa: F811
    """C-13: /records and /records.csv take door, actor, since and until beside outcome."""
    _seed(api.services.db)

    def doors(query):
        return [(r["door"], r["outcome"]) for r in api.get(f"/records?{query}").get_json()["items"]]

    assert doors("since=2026-12-01&until=2026-12-01") == [("admin", "migrated"), ("admin", "refused")]
    assert doors("door=admin&outcome=refused") == [("admin", "refused")]
    assert doors("actor=VIEWER") == [("admin", "migrated")]
    assert doors("until=2026-11-30") == [("ivr", "migrated")]
    assert api.get("/records?door=api&limit=1").get_json()["total"] == 1
    csv_text = api.get("/records.csv?door=screen").get_data(as_text=True)
    assert csv_text.count("\n") == 2 and "screen:bob" in csv_text
    assert failing_field(api.get("/records?since=yesterday")) == ["since"]
    assert failing_field(api.get("/records?door=fax")) == ["door"]
    spec = api.get("/openapi.json", token=None).get_json()
    params = {p["name"] for p in spec["paths"]["/records"]["get"]["parameters"]}
    assert {"outcome", "door", "actor", "since", "until"} <= params


def test_c13_admin_report_page_filters_and_its_csv_keeps_them(services):
    """C-13: the report page's filter form; the tabs and the download keep the filter."""
    from phoneservice.web.app import create_app
    from tests.test_admin import Browser

    _seed(services.db)
    admin = Browser(create_app(services).test_client())
    admin.login()
    page = admin.get("/admin/report?door=admin&since=2026-12-01&until=2026-12-01").get_data(as_text=True)
    assert "admin:Viewer" in page and "admin:admin" in page and "ivr:alice" not in page and "token-rw" not in page
    assert 'href="/admin/report.csv?door=admin&amp;since=2026-12-01&amp;until=2026-12-01"' in page
    assert 'href="/admin/report?outcome=refused&amp;door=admin&amp;since=2026-12-01&amp;until=2026-12-01"' in page
    csv_text = admin.get("/admin/report.csv?door=admin&outcome=refused&since=2026-12-01").get_data(as_text=True)
    assert csv_text.count("\n") == 2 and "admin:admin" in csv_text
    bad = admin.get("/admin/report?since=tomorrow", status=422).get_data(as_text=True)
    assert "a day as YYYY-MM-DD" in bad


def test_c13_cli_report_filters(sqlite_url):
    """C-13: report --door/--actor/--outcome/--since/--until; a bad value is one line, exit 1."""
    from models.storage.database import Database

    runner = CliRunner()

    def cli(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert cli("init-db", "--demo").exit_code == 0
    db = Database(sqlite_url)
    _seed(db)
    db.dispose()
    lines = cli("report", "--door", "admin", "--since", "2026-12-01", "--until", "2026-12-01").output.splitlines()
    assert lines[0].startswith("AT (UTC)") and len(lines) == 3
    assert [line.split()[3] for line in lines[1:]] == ["migrated", "refused"]
    assert len(cli("report", "--csv", "--actor", "screen:").output.splitlines()) == 2
    bad = cli("report", "--since", "last week")
    assert bad.exit_code == 1 and '"since": a day as YYYY-MM-DD (UTC)' in bad.output
