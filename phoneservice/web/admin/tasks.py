"""Admin pages: F-6 bulk firmware-migration tasks (``models.services.tasks.BulkTasks``).

A list of tasks with a form to create one; a task page with the CSV upload
(the upload file-name rule applies), the devices and their eligibility with
filters and a search, the actions (start, pause, resume, cancel, retry,
refresh: only those the task's state allows, F-6c), the status report and the
bulk-update export, and the task's headline and bar (F-6b, F-6d). The devices are
a page of 50 at a time (``page``), filtered by eligibility, state and a search.
While the task runs, its summary (headline, bar, counts, actions) is a frame of
its own, ``/admin/tasks/<name>/summary``, that reloads itself every 2 seconds
(``<meta refresh>``: the admin UI has no JavaScript), so a refresh is that small
page and not the device table (docs/benchmarks.md, session 9); the frame is the
one page the admin UI lets itself be framed by (its own origin). Also as JSON at
``/admin/tasks/<name>/progress.json``.

Running: Start and Resume never block the request: the batches run in this
process's background runner (``phoneservice.web.taskrunner``), the same one
the REST API uses.

The last upload's refused rows (the list on the page and the errors CSV) are
the task's ``TaskUpload`` row, so any web process answers the download link,
after a restart too.
"""

from __future__ import annotations

import io
import zipfile

from flask import Response, flash, redirect, request, url_for

from models.rules.firmware import Direction
from models.rules.phrases import count
from models.rules.refusals import Kind, Refused
from models.rules.task_summary import CONFIRMATION_LABELS, STATE_LABELS, device_label, headline
from models.rules.tasks import ELIGIBILITY, IN_PROGRESS
from models.services.task_views import FILTER_STATES, PAGE_SIZE
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, now, page, refused_page
from phoneservice.web.admin.login import SECURITY_HEADERS
from phoneservice.web.taskrunner import bulk_tasks, progress_view, run_in_background

MAX_UPLOAD = 5 * 1024 * 1024  # 1000 rows are well under 1 MB; a bigger file is not a task's CSV
KIND_LABELS = {"license_and_device": "Generate device license and migrate device",
               "license_only": "Generate device license only"}
DIRECTION_LABELS = {Direction.E2M.value: "Enterprise to MPP", Direction.M2E.value: "MPP to Enterprise"}
FILTER_LABELS = {**STATE_LABELS, **{s: CONFIRMATION_LABELS[s] for s in FILTER_STATES}}
_CSP = SECURITY_HEADERS["Content-Security-Policy"]
FRAMING = {"Content-Security-Policy": _CSP + "; frame-src 'self'"}  # the task page, which frames its summary
FRAMED = {"Content-Security-Policy": _CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
          "X-Frame-Options": "SAMEORIGIN"}  # the summary, framed by its task page only

def export_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file_name, text in files.items():
            archive.writestr(file_name, text)
    return buffer.getvalue()


def _download(content: str | bytes, file_name: str, mimetype: str) -> Response:
    return Response(content, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{file_name}"'})


# --- pages -------------------------------------------------------------------------


def _tasks_page(status: int = 200, typed: dict | None = None, error: str | None = None):
    tasks = bulk_tasks()
    rows = [(task, tasks.progress(task.name)) for task in tasks.tasks()]
    return page("tasks.html", status, rows=rows, typed=typed or {}, error=error, kinds=KIND_LABELS,
                directions=DIRECTION_LABELS, headline=headline)


@blueprint.get("/tasks")
def tasks():
    return _tasks_page()


@blueprint.post("/tasks")
def create_task():
    form = request.form
    typed = {"name": form.get("name", "").strip()[:64], "kind": form.get("kind", ""),
             "direction": form.get("direction", ""), "include_unknown": "include_unknown" in form}
    if typed["direction"] not in DIRECTION_LABELS:
        return _tasks_page(422, typed, f'"{typed["direction"]}" is not a direction')
    try:
        task = bulk_tasks().create(typed["name"], typed["kind"], Direction(typed["direction"]),
                                   typed["include_unknown"])
    except Refused as refusal:
        return _tasks_page(422, typed, refusal.message)
    log_event("admin_task_created", task=task.name, kind=task.kind, direction=task.direction, actor=actor())
    flash(f'Task "{task.name}" created: upload its devices.')
    return redirect(url_for(".task", name=task.name))


def _task_page(name: str, status: int = 200, error: str | None = None, tftp_server: str | None = None):
    tasks = bulk_tasks()
    try:
        task = tasks.get(name)
    except Refused as refusal:
        return refused_page(refusal)
    eligibility = request.args.get("eligibility", "")
    eligibility = eligibility if eligibility in ELIGIBILITY else ""
    state = request.args.get("state", "")
    state = state if state in FILTER_LABELS else ""
    search = request.args.get("q", "").strip()[:100]
    number = request.args.get("page", "1")
    number = min(int(number), 1000) if number.isdigit() and int(number) > 0 else 1
    found = tasks.device_page(name, eligibility=eligibility or None, state=state or None, search=search,
                              offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    progress = progress_view(tasks, name)
    live = progress["status"] == IN_PROGRESS and not progress["paused"]
    query = {k: v for k, v in (("eligibility", eligibility), ("state", state), ("q", search)) if v}
    body, code = page("tasks_task.html", status, task=task, found=found, page_number=number, query=query,
                      progress=progress, live=live, framed=False, eligibility=eligibility, state=state, q=search,
                      eligibilities=ELIGIBILITY, states=STATE_LABELS, filter_states=FILTER_LABELS, label=device_label,
                      upload=tasks.last_upload(name), error=error, kinds=KIND_LABELS, directions=DIRECTION_LABELS,
                      tftp_server=tftp_server if tftp_server is not None else (task.tftp_server or ""))
    return body, code, FRAMING if live else {}


@blueprint.get("/tasks/<name>")
def task(name: str):
    return _task_page(name)


@blueprint.post("/tasks/<name>/upload")
def upload_task(name: str):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _task_page(name, 422, error="Choose the CSV file to upload.")
    raw = upload.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        return _task_page(name, 422, error=f"The file is larger than {MAX_UPLOAD // (1024 * 1024)} MB: "
                                           "a task holds 1000 devices at most.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _task_page(name, 422, error="The file is not UTF-8 text: save it as CSV UTF-8 and upload it again.")
    tasks = bulk_tasks()
    try:
        result = tasks.upload(name, text, file_name=upload.filename)
    except Refused as refusal:
        if refusal.kind is Kind.NOT_FOUND:
            return refused_page(refusal)
        return _task_page(name, 422, error=refusal.message)
    log_event("admin_task_uploaded", task=name, added=result.added, refused=result.refused, actor=actor())
    flash(f"Uploaded: {result.added} added, {count(result.refused, 'row')} refused, {result.total} in the task.")
    return redirect(url_for(".task", name=name))


@blueprint.get("/tasks/<name>/errors.csv")
def task_upload_errors(name: str):
    try:
        result = bulk_tasks().last_upload(name)
    except Refused as refusal:
        return refused_page(refusal)
    if result is None:
        return page("message.html", 404, title="Not found", message=f'Task "{name}" has had no upload yet.')
    return _download(result.errors_csv, f"{name}-errors.csv", "text/csv")


@blueprint.get("/tasks/<name>/summary")
def task_summary(name: str):
    """The running task's summary alone: the frame on its page that reloads itself (F-6b..F-6d)."""
    tasks = bulk_tasks()
    try:
        task = tasks.get(name)
    except Refused as refusal:
        return refused_page(refusal)
    progress = progress_view(tasks, name)
    live = progress["status"] == IN_PROGRESS and not progress["paused"]
    body, code = page("tasks_summary.html", task=task, progress=progress, live=live, framed=True,
                      states=STATE_LABELS, tftp_server=task.tftp_server or "")
    return body, code, FRAMED


@blueprint.get("/tasks/<name>/progress.json")
def task_progress(name: str):
    try:
        view = progress_view(bulk_tasks(), name)
    except Refused as refusal:
        return {"code": refusal.code, "message": refusal.message}, 404
    return {"name": name, **view}


ACTIONS = ("start", "pause", "resume", "cancel", "retry", "refresh")


def task_action(name: str, action: str):
    tasks = bulk_tasks()
    tftp_server = request.form.get("tftp_server", "").strip()[:255] if action == "start" else None
    try:
        if action == "start":
            tasks.start(name, tftp_server or None)
            message = f'Task "{name}" started: its batches of 200 run in the background.'
        elif action == "pause":
            tasks.pause(name)
            message = f'Task "{name}" pauses after the batch under way.'
        elif action == "resume":
            tasks.resume(name)
            message = f'Task "{name}" resumed.'
        elif action == "cancel":
            done = tasks.cancel(name)
            message = f"{count(done, 'device')} cancelled; the devices done stay as they are."
        elif action == "retry":
            done = tasks.retry(name)
            message = f"{count(done, 'device')} ready for migration again."
        else:
            done = tasks.refresh(name)
            message = f"Eligibility checked again: {count(done, 'device')} changed state."
    except Refused as refusal:
        if refusal.kind is Kind.NOT_FOUND:
            return refused_page(refusal)
        status = 422 if refusal.kind is Kind.INVALID else 409
        return _task_page(name, status, error=refusal.message, tftp_server=tftp_server)
    if action in ("start", "resume", "retry"):
        task = tasks.get(name)
        if task.status == IN_PROGRESS and not task.paused:
            run_in_background(tasks, name)
    log_event("admin_task_action", task=name, action=action, actor=actor())
    flash(message)
    return redirect(url_for(".task", name=name))


def _action_view(action: str):
    def view(name: str):
        return task_action(name, action)

    view.__name__ = f"task_{action}"
    return view


for _action in ACTIONS:  # one endpoint each (admin.task_start, ...): no action argument in the URL rule
    blueprint.add_url_rule(f"/tasks/<name>/{_action}", f"task_{_action}", _action_view(_action), methods=["POST"])


@blueprint.get("/tasks/<name>/report.csv")
def task_report_csv(name: str):
    try:
        text = bulk_tasks().report_csv(name)
    except Refused as refusal:
        return refused_page(refusal)
    return _download(text, f"{name}-status-{now():%Y%m%d-%H%M}.csv", "text/csv")


@blueprint.get("/tasks/<name>/export.zip")
def task_export(name: str):
    try:
        files = bulk_tasks().export(name)
    except Refused as refusal:
        return refused_page(refusal)
    return _download(export_zip(files), f"{name}-bulk-update.zip", "application/zip")
