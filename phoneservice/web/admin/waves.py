"""Admin pages: replacement waves (W-1..W-3, ``models.services.waves.Waves``).

A list of waves with their progress and a form to stage one from a CSV; a wave
page with its counts and a progress bar that refreshes itself while a row
still waits for its phone (``<meta refresh>``: the admin UI has no
JavaScript), the rows with their state and reason, Cancel on a row that has
not applied, and the report and refused rows as CSV downloads.
"""

from __future__ import annotations

from flask import Response, flash, redirect, request, url_for

from models.rules.refusals import Refused
from models.services.waves import Waves
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, page, refused_page
from phoneservice.web.services import services

MAX_UPLOAD = 1024 * 1024  # 1000 rows are well under 1 MB
STATE_LABELS = {"staged": "Staged", "applying": "Applying", "applied": "Applied", "confirmed": "Confirmed",
                "failed": "Failed", "cancelled": "Cancelled", "held": "Held for you"}


def _waves() -> Waves:
    svc = services()
    return Waves(svc.db, migrator=svc.migrator)


def _csv(content: str, file_name: str) -> Response:
    return Response(content, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{file_name}"'})


def _list_page(status: int = 200, name: str = "", error: str | None = None):
    return page("waves.html", status, waves=_waves().waves(), name=name, error=error, states=STATE_LABELS)


@blueprint.get("/waves")
def waves():
    return _list_page()


@blueprint.post("/waves")
def stage_wave():
    name = request.form.get("name", "").strip()[:64]
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _list_page(422, name, "Choose the CSV file to stage.")
    raw = upload.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        return _list_page(413, name, "The file is too large for a wave (1000 rows at most).")
    try:
        view = _waves().stage(name, raw.decode("utf-8-sig"), by=actor())
    except UnicodeDecodeError:
        return _list_page(422, name, "The file is not UTF-8 text: save it as CSV UTF-8 and stage it again.")
    except Refused as refusal:
        return _list_page(422, name, refusal.message)
    log_event("admin_wave_staged", wave=view.name, rows=len(view.rows), refused=len(view.errors), actor=actor())
    flash(f'Wave "{view.name}" staged: {len(view.rows)} rows wait for their phones, {len(view.errors)} refused.')
    return redirect(url_for("admin.wave", name=view.name), 303)


@blueprint.get("/waves/<name>")
def wave(name: str):
    try:
        view = _waves().show(name)
    except Refused as refusal:
        return refused_page(refusal)
    live = any(view.counts[s] for s in ("staged", "applying"))
    percent = round(100 * view.done / len(view.rows)) if view.rows else 100
    return page("wave.html", wave=view, live=live, percent=percent, states=STATE_LABELS)


@blueprint.post("/waves/<name>/rows/<int:row>/cancel")
def cancel_wave_row(name: str, row: int):
    try:
        done = _waves().cancel(name, row)
    except Refused as refusal:
        return refused_page(refusal)
    log_event("admin_wave_row_cancelled", wave=name, row=row, actor=actor())
    flash(f"Row {done.row} cancelled: {done.old_device} stays as it is.")
    return redirect(url_for("admin.wave", name=name), 303)


@blueprint.get("/waves/<name>/report.csv")
def wave_report_csv(name: str):
    try:
        return _csv(_waves().report_csv(name), f"wave-{name}.csv")
    except Refused as refusal:
        return refused_page(refusal)


@blueprint.get("/waves/<name>/errors.csv")
def wave_errors_csv(name: str):
    try:
        return _csv(_waves().errors_csv(name), f"wave-{name}-errors.csv")
    except Refused as refusal:
        return refused_page(refusal)
