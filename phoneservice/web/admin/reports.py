"""Admin pages: the migration report and the audit of refusals, with CSV (C-13)."""

from __future__ import annotations

from flask import Response, request

from models.rules.record_filter import DOORS, RecordFilter, record_filter
from models.rules.refusals import Refused
from phoneservice.web.admin.blueprint import blueprint, now, page
from phoneservice.web.services import services

OUTCOMES = {"": None, "migrated": "migrated", "provisioned": "provisioned", "refused": "refused", "abandoned": "abandoned", "undone": "undone"}


def _where() -> tuple[RecordFilter, str | None]:
    """C-13: the report's filter from the query string; a bad value: no filter but the outcome, and why."""
    outcome = request.args.get("outcome", "")
    outcome = outcome if outcome in OUTCOMES else ""
    fields = {k: request.args.get(k, "")[:100] for k in ("door", "actor", "since", "until")}
    try:
        return record_filter(outcome=outcome, **fields), None
    except Refused as refusal:
        return RecordFilter(outcome=outcome or None), refusal.message


@blueprint.get("/report")
def report():
    where, error = _where()
    report = services().records.report(where=where)
    others = {k: v for k, v in where.query().items() if k != "outcome"}
    return page("report.html", 422 if error else 200, old_phones=report.old_phones, rows=report.records,
                outcome=where.outcome or "", where=where, others=others, doors=DOORS, error=error,
                f={k: request.args.get(k, "")[:100] for k in ("door", "actor", "since", "until")})


@blueprint.get("/report.csv")
def report_csv():
    where, _ = _where()
    outcome = where.outcome or ""
    text = services().records.csv(limit=100_000, where=where)
    name = f"migration-report{'-' + outcome if outcome else ''}-{now():%Y%m%d-%H%M}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
