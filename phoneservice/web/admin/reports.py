"""Admin pages: the migration report and the audit of refusals, with CSV (C-13)."""

from __future__ import annotations

from flask import Response, request

from models.services import reports
from phoneservice.web.admin.blueprint import blueprint, now, page
from phoneservice.web.services import services

OUTCOMES = {"": None, "migrated": "migrated", "provisioned": "provisioned", "refused": "refused"}


@blueprint.get("/report")
def report():
    outcome = request.args.get("outcome", "")
    outcome = outcome if outcome in OUTCOMES else ""
    with services().db.read_session() as db_session:
        old_phones = reports.search_devices(db_session, migrated=True, limit=1000)
        rows = reports.records(db_session, outcome=OUTCOMES[outcome])
    return page("report.html", old_phones=old_phones, rows=rows, outcome=outcome)


@blueprint.get("/report.csv")
def report_csv():
    outcome = request.args.get("outcome", "")
    outcome = outcome if outcome in OUTCOMES else ""
    with services().db.read_session() as db_session:
        text = reports.report_csv(reports.records(db_session, outcome=OUTCOMES[outcome], limit=100_000))
    name = f"migration-report{'-' + outcome if outcome else ''}-{now():%Y%m%d-%H%M}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
