"""Admin pages: the migration report and the audit of refusals, with CSV (C-13)."""

from __future__ import annotations

from flask import Response, request

from phoneservice.web.admin.blueprint import blueprint, now, page
from phoneservice.web.services import services

OUTCOMES = {"": None, "migrated": "migrated", "provisioned": "provisioned", "refused": "refused", "abandoned": "abandoned"}


@blueprint.get("/report")
def report():
    outcome = request.args.get("outcome", "")
    outcome = outcome if outcome in OUTCOMES else ""
    report = services().records.report(OUTCOMES[outcome])
    return page("report.html", old_phones=report.old_phones, rows=report.records, outcome=outcome)


@blueprint.get("/report.csv")
def report_csv():
    outcome = request.args.get("outcome", "")
    outcome = outcome if outcome in OUTCOMES else ""
    text = services().records.csv(OUTCOMES[outcome], limit=100_000)
    name = f"migration-report{'-' + outcome if outcome else ''}-{now():%Y%m%d-%H%M}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
