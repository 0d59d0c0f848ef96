"""C-13: an abandoned self-service attempt is a record the report, the admin UI and the API show and filter."""

from __future__ import annotations

from test_admin import admin, app, browser  # noqa: F401  (fixtures)
from test_api import api  # noqa: F401  (fixture)

from models.rules.attempt import Attempt
from models.services.migration import Migrator
from models.services.selfservice import SelfService

NEW = "SEP00AA11BB22CC"


def abandon(db) -> None:
    """A caller who keyed extension 1012 and hung up during the PIN (what the IVR records)."""
    service = SelfService(Migrator(db))
    attempt = Attempt(door="ivr", new_device=NEW)
    service.identify(attempt, "1012")
    service.abandon(attempt, "replace")


def test_c13_api_filters_abandoned_records(api, demo_db):  # noqa: F811
    """C-13: ``GET /records?outcome=abandoned`` lists the attempt with its outcome; other outcomes do not."""
    abandon(demo_db)
    page = api.get("/records?outcome=abandoned").get_json()
    assert page["total"] == 1
    [item] = page["items"]
    assert (item["door"], item["outcome"], item["new_device"]) == ("ivr", "abandoned", NEW)
    assert "1012" in item["message"]
    assert api.get("/records?outcome=migrated").get_json()["total"] == 0


def test_c13_admin_report_offers_and_shows_abandoned_attempts(admin, services):  # noqa: F811
    """C-13: the report's filter has "Abandoned", and the record's page says so, not "Migrated"."""
    abandon(services.db)
    assert "outcome=abandoned" in admin.get("/admin/report").get_data(as_text=True)
    report = admin.text("/admin/report?outcome=abandoned")
    assert "extension 1012" in report and NEW in report
