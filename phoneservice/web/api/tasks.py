"""``/api/v1/tasks``: F-6 bulk firmware-migration tasks (``models.services.tasks.BulkTasks``).

Create a task, upload its CSV (``text/csv`` body, or ``multipart/form-data``
with a ``file`` part), list its devices with their eligibility, start, pause,
resume, cancel, retry and refresh it, read its progress and download its
status report. Start, resume and retry run the batches of 200 in this
process's background runner (``phoneservice.web.taskrunner``), the same one
the admin UI uses: the request answers at once.

Refusals: ``unknown_task`` -> 404 (it names the URL's task); a bad name, kind,
file name, CSV or TFTP server -> 422 naming the field; the task's state
forbidding it (``task_exists``, ``task_started``, ``task_in_progress``, ...) -> 409: which
actions a state allows is ``models.rules.tasks.allowed_actions`` (F-6c), listed in every
progress as ``actions``.
"""

from __future__ import annotations

from flask import Response, request, url_for

from models.rules.firmware import Direction
from models.rules.tasks import ELIGIBILITY, IN_PROGRESS, STATES
from models.services.task_views import FILTER_STATES
from models.tables.tasks import MigrationTask, TaskDevice
from phoneservice.observe import log_event
from phoneservice.web.api.common import (
    PAGE_QUERY,
    ApiProblem,
    about,
    blueprint,
    body,
    check_text,
    invalid,
    ok,
    operation,
    page_args,
    paged,
    query_param,
    str_arg,
)
from phoneservice.web.api.schemas import Page
from phoneservice.web.api.task_schemas import (
    TaskActionResult,
    TaskCreate,
    TaskDevicePublic,
    TaskProgress,
    TaskPublic,
    TaskStart,
    TaskUploadResult,
    UploadRowError,
)
from phoneservice.web.taskrunner import bulk_tasks, progress_view, run_in_background

MAX_UPLOAD = 5 * 1024 * 1024


NAME_QUERY = query_param("file_name", {"type": "string", "maxLength": 255},
                         'For a text/csv body: the file\'s name (letters, digits, "-", "_", one ".")')
ELIGIBILITY_QUERY = query_param("eligibility", {"type": "string", "enum": list(ELIGIBILITY)}, "Only this eligibility")
DEVICE_FILTER_STATES = (*STATES, *FILTER_STATES)
STATE_QUERY = query_param("state", {"type": "string", "enum": list(DEVICE_FILTER_STATES)},
                          "Only this state; `confirmed` and `waiting`: pushed devices whose phone reports the "
                          "target load, and those whose phone does not yet (F-6d)")
SEARCH_QUERY = query_param("q", {"type": "string", "maxLength": 100},
                           "Part of any attribute, any case (a MAC in any usual spelling)")


def task_public(task: MigrationTask) -> TaskPublic:
    return TaskPublic(progress=TaskProgress(**progress_view(bulk_tasks(), task.name)),
                      **task.model_dump(include=set(TaskPublic.model_fields) - {"progress"}))


def device_public(device: TaskDevice, confirmation: str | None) -> TaskDevicePublic:
    return TaskDevicePublic(confirmation=confirmation,
                            **device.model_dump(include=set(TaskDevicePublic.model_fields) - {"confirmation"}))


@blueprint.get("/tasks")
@operation("Bulk migration tasks (F-6)", tag="tasks", query=PAGE_QUERY, responses={200: Page[TaskPublic]},
           description="Oldest first, each with its progress.")
def list_tasks():
    limit, offset = page_args()
    tasks = bulk_tasks().tasks()
    return paged([task_public(t) for t in tasks[offset:offset + limit]], len(tasks), limit, offset)


@blueprint.post("/tasks")
@operation("Create a bulk migration task (F-6)", tag="tasks", body=TaskCreate, responses={201: TaskPublic},
           errors=(409,), description="Task names are unique and have no spaces; 409 `task_exists` otherwise.")
def create_task():
    data = body(TaskCreate)
    with about(bad_task_name="name", bad_task_kind="kind"):
        task = bulk_tasks().create(data.name, data.kind, Direction(data.direction), data.include_unknown)
    log_event("api_task_created", task=task.name, kind=task.kind, direction=task.direction)
    return ok(task_public(task), 201, {"Location": url_for(".get_task", name=task.name)})


@blueprint.get("/tasks/<name>")
@operation("One bulk migration task, with its progress", tag="tasks", responses={200: TaskPublic}, errors=(404,))
def get_task(name: str):
    return ok(task_public(bulk_tasks().get(name)))


def _upload_text() -> tuple[str, str | None]:
    """The CSV and its file name: a text/csv body (``file_name`` in the query), or a multipart ``file``."""
    if (request.content_length or 0) > MAX_UPLOAD:
        raise ApiProblem(413, "too_large", f"an upload is at most {MAX_UPLOAD} bytes")
    if request.mimetype == "multipart/form-data":
        part = request.files.get("file")
        if part is None:
            raise invalid("file", "send the CSV as the multipart part named file")
        raw, file_name = part.read(MAX_UPLOAD + 1), part.filename or None
    elif request.mimetype in ("text/csv", "text/plain"):
        raw, file_name = request.get_data(cache=False)[:MAX_UPLOAD + 1], str_arg("file_name", 255) or None
    else:
        raise ApiProblem(415, "unsupported_media_type", "send the CSV as text/csv, or multipart/form-data with a file",
                         headers={"Accept-Post": "text/csv, multipart/form-data"})
    if len(raw) > MAX_UPLOAD:
        raise ApiProblem(413, "too_large", f"an upload is at most {MAX_UPLOAD} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("file", "the CSV is not UTF-8 text") from None
    check_text(text, "file")
    return text, file_name


@blueprint.post("/tasks/<name>/upload")
@operation("Upload a task's devices (CSV)", tag="tasks", query=[NAME_QUERY], responses={200: TaskUploadResult},
           errors=(404, 409, 413, 415, 422),
           description="Body: `text/csv` (the file name in `file_name`), or `multipart/form-data` with the CSV "
                       "as part `file`. Columns as in the digest (Type, Username, Phone Number, Extension, Device "
                       "Type, Model, MAC Address, Location, Calling plan; Model and MAC Address for a "
                       "license-only task). Valid rows are added, the others refused with their row and column; "
                       "repeated uploads add up, 1000 devices a task at most. 409 once the task has started.")
def upload_task(name: str):
    text, file_name = _upload_text()
    tasks = bulk_tasks()
    with about(bad_file_name="file_name", bad_csv="file", too_many_rows="file"):
        result = tasks.upload(name, text, file_name=file_name)
    log_event("api_task_uploaded", task=name, added=result.added, refused=result.refused)
    return ok(TaskUploadResult(added=result.added, refused=result.refused, total=result.total,
                               errors=[UploadRowError(row=e.row, column=e.column, message=e.message)
                                       for e in result.errors],
                               errors_csv=result.errors_csv))


@blueprint.get("/tasks/<name>/devices")
@operation("A task's devices", tag="tasks", query=[ELIGIBILITY_QUERY, STATE_QUERY, SEARCH_QUERY, *PAGE_QUERY],
           responses={200: Page[TaskDevicePublic]}, errors=(404,),
           description="In upload order, with eligibility (eligible, ineligible, unknown), reason, warnings and "
                       "state.")
def list_task_devices(name: str):
    limit, offset = page_args()
    eligibility, state = request.args.get("eligibility"), request.args.get("state")
    if eligibility is not None and eligibility not in ELIGIBILITY:
        raise invalid("eligibility", f"one of {', '.join(ELIGIBILITY)}")
    if state is not None and state not in DEVICE_FILTER_STATES:
        raise invalid("state", f"one of {', '.join(DEVICE_FILTER_STATES)}")
    found = bulk_tasks().device_page(name, eligibility=eligibility, state=state, search=str_arg("q", 100),
                                     offset=offset, limit=limit)
    return paged([device_public(r.device, r.confirmation) for r in found.rows], found.total, limit, offset)


def _action(name: str, action: str) -> Response:
    tasks = bulk_tasks()
    count = None
    if action == "start":
        data = body(TaskStart) if request.content_length or request.mimetype else TaskStart()
        with about(bad_tftp_server="tftp_server"):
            tasks.start(name, data.tftp_server)
    elif action == "pause":
        tasks.pause(name)
    elif action == "resume":
        tasks.resume(name)
    elif action == "cancel":
        count = tasks.cancel(name)
    elif action == "retry":
        count = tasks.retry(name)
    else:
        count = tasks.refresh(name)
    if action in ("start", "resume", "retry"):
        task = tasks.get(name)
        if task.status == IN_PROGRESS and not task.paused:
            run_in_background(tasks, name)
    progress = TaskProgress(**progress_view(tasks, name))
    log_event("api_task_action", task=name, action=action, count=count)
    return ok(TaskActionResult(name=name, action=action, count=count, progress=progress))


ACTIONS = {
    "start": ("Start a task: its batches of 200 run in the background", TaskStart, (404, 409, 422),
              "Queues the devices ready for migration; one task in progress at a time (409 `task_in_progress`). "
              "The body may be empty when the task has a TFTP server already."),
    "pause": ("Pause a task after the batch under way", None, (404, 409),
              "409 unless the task is in progress (`task_not_in_progress`) and running (`task_paused`)."),
    "resume": ("Resume a paused task", None, (404, 409),
               "Its remaining batches run in the background; 409 `task_not_paused` when it runs already."),
    "cancel": ("Cancel a task", None, (404, 409),
               "Devices done stay as they are; the others are cancelled and the task ends."),
    "retry": ("Retry a task's failed, not eligible and unknown devices", None, (404, 409),
              "Those that pass the eligibility check again (an unknown device once its phone exists) are ready "
              "for migration again; 409 `nothing_to_retry` when there are none."),
    "refresh": ("Check a task's eligibility again", None, (404, 409),
                "Also reads the loads the migrated phones report; 409 while the task is in progress."),
}


def _action_view(action: str):
    def view(name: str):
        return _action(name, action)

    view.__name__ = f"task_{action}"
    summary, request_body, errors, description = ACTIONS[action]
    return operation(summary, tag="tasks", body=request_body, responses={200: TaskActionResult}, errors=errors,
                     description=description)(view)


for _name in ACTIONS:  # one endpoint each (api.task_start, ...), so each is its own OpenAPI operation
    blueprint.add_url_rule(f"/tasks/<name>/{_name}", f"task_{_name}", _action_view(_name), methods=["POST"])


@blueprint.get("/tasks/<name>/report.csv")
@operation("A task's status report (CSV)", tag="tasks", responses={200: ("text/csv", {"type": "string"})},
           errors=(404,), description="Every device with its eligibility, state, batch and error.")
def task_report_csv(name: str):
    text = bulk_tasks().report_csv(name)
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-status.csv"'})

