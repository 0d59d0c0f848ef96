"""Admin page: CUCM BAT files (E-4): export the phones, import a file all or nothing.

The same service as the API and the CLI (``models.services.bat``): the export is
``export_text``, the import ``import_bat``, whose checks and refusals are the only
ones (the page adds the file's size and encoding, as every upload does).

The import runs in the background (``phoneservice.web.bat_jobs``: 1000 phones take
seconds) and the upload is answered with a redirect to the import's own page,
``/admin/bat/import/<id>``, which any web process or host answers (the import is a row,
``models.services.bat_imports``). While it runs, that page reloads itself every second
(``<meta refresh>``: the admin UI has no JavaScript) and shows a ``<progress>`` bar
and "phone N of M"; it is a few hundred bytes, so unlike the bulk task page (whose
device table is heavy and stays out of its refreshing frame) the whole page
refreshes. Once the import ends it stays still and shows the summary (what was,
or for a dry run would be, created) or every bad row with its column and reason.
"""

from __future__ import annotations

from flask import Response, redirect, request, url_for

from models.rules.bat_format import FORMAT_TITLES
from models.services.bat import MAX_FILE_BYTES, export_text, import_bat
from phoneservice.observe import log_event
from phoneservice.web import bat_jobs
from phoneservice.web.admin.blueprint import actor, blueprint, now, page
from phoneservice.web.services import services

PROTOCOLS = ("SIP", "SCCP")


def _bat_page(status: int = 200, error: str | None = None, typed: dict | None = None, busy=None):
    return page("bat.html", status, formats=FORMAT_TITLES, protocols=PROTOCOLS, error=error, typed=typed or {},
                busy=busy, max_mb=MAX_FILE_BYTES // (1024 * 1024), recent=services().bat_imports.recent(actor()),
                states=bat_jobs)


@blueprint.get("/bat")
def bat_files():
    return _bat_page()


@blueprint.get("/bat/export.csv")
def bat_export():
    fmt = request.args.get("format", "all-details")
    if fmt not in FORMAT_TITLES:
        return _bat_page(404, error=f"There is no BAT format \"{fmt[:40]}\": choose one of the links below.")
    svc = services()
    text = export_text(svc.db, fmt, svc.catalog)
    log_event("admin_bat_exported", format=fmt, actor=actor())
    return Response(text, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="phones-{fmt}-{now():%Y%m%d-%H%M}.csv"'})


@blueprint.post("/bat/import")
def bat_import():
    form = request.form
    typed = {"model": form.get("model", "").strip()[:64], "protocol": form.get("protocol", ""),
             "dry_run": "dry_run" in form}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _bat_page(422, "Choose the CSV file to import.", typed)
    data = upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return _bat_page(422, f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: "
                              "split it and import each part.", typed)
    if typed["protocol"] not in ("", *PROTOCOLS):
        return _bat_page(422, f'"{typed["protocol"][:10]}" is not a protocol: SIP or SCCP.', typed)
    svc = services()

    def run(on_progress):
        return import_bat(svc.db, data, model=typed["model"] or None, protocol=typed["protocol"] or None,
                          dry_run=typed["dry_run"], on_progress=on_progress, catalog=svc.catalog)

    try:
        job = svc.bat_imports.start(actor(), upload.filename[:255], typed["dry_run"], run)
    except bat_jobs.Busy as busy:
        return _bat_page(409, "Another import is running on this site: try again when it has ended.", typed,
                         busy=busy.running)
    log_event("admin_bat_import_started", job=job.id[:6], dry_run=job.dry_run, size=len(data), actor=actor())
    return redirect(url_for(".bat_import_job", job_id=job.id), 303)


@blueprint.get("/bat/import/<job_id>")
def bat_import_job(job_id: str):
    job = services().bat_imports.find(job_id[:64], actor())
    if job is None:
        return page("message.html", 404, title="No such import", message=(
            "You started no import with this address, or it ended more than an hour ago: its phones are in the "
            "Phones list."))
    return page("bat_import.html", job=job, running=job.state == bat_jobs.RUNNING, states=bat_jobs)
