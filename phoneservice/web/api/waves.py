"""``/api/v1/waves``: replacement waves (W-1..W-3) on ``models.services.waves``, as the admin UI
and the CLI: stage from a CSV, look at the rows and their counts, cancel a row, the report and the
refused rows as CSV. A row applies when its new phone first asks for its config file (W-2), not here."""

from __future__ import annotations

from datetime import datetime

from flask import Response, g, url_for
from pydantic import BaseModel, Field

from models.rules.waves import STATES
from models.services.waves import Waves, WaveView
from phoneservice.observe import log_event
from phoneservice.web.api.common import (
    PAGE_QUERY,
    about,
    blueprint,
    ok,
    operation,
    page_args,
    paged,
    query_param,
    str_arg,
)
from phoneservice.web.api.schemas import Page
from phoneservice.web.api.tasks import _upload_text
from phoneservice.web.services import services


class WaveRowPublic(BaseModel):
    """One row of a wave: its old phone, its new device, its state and why."""

    row: int = Field(description="As numbered in the uploaded CSV (the header is row 1)")
    old_device: str
    new_device: str
    model: str | None
    template: str | None
    description: str | None
    state: str = Field(description=f"One of {', '.join(STATES)}")
    reason: str = Field(description="Why a row failed, was held or cancelled")
    summary: list[str] = Field(description="The plan's losses and warnings (C-15), as staged")
    record_id: int | None = Field(description="The migration record (C-13) once applied")


class WaveRowError(BaseModel):
    row: int
    column: str
    message: str


class WavePublic(BaseModel):
    """A replacement wave: its rows' counts by state, its rows and the rows its upload refused."""

    name: str
    created: datetime
    created_by: str
    counts: dict[str, int] = Field(description=f"Rows by state: {', '.join(STATES)}")
    done: int = Field(description="Rows no longer waiting for their phone (the progress bar)")
    total: int
    rows: list[WaveRowPublic]
    errors: list[WaveRowError]


def _waves() -> Waves:
    svc = services()
    return Waves(svc.db, migrator=svc.migrator)


def wave_public(view: WaveView, rows: bool = True) -> WavePublic:
    return WavePublic(name=view.name, created=view.created, created_by=view.created_by, counts=view.counts,
                      done=view.done, total=len(view.rows),
                      rows=[WaveRowPublic(**vars(r)) for r in view.rows] if rows else [],
                      errors=[WaveRowError(row=e["row"], column=e["column"], message=e["message"]) for e in view.errors])


NAME_QUERY = query_param("name", {"type": "string", "maxLength": 64}, "The new wave's name (letters, digits, -, _, .)")


@blueprint.get("/waves")
@operation("Replacement waves (W-3)", tag="waves", query=PAGE_QUERY, responses={200: Page[WavePublic]},
           description="Newest first, each with its counts (rows left out: GET the wave for them).")
def list_waves():
    limit, offset = page_args()
    views = _waves().waves()
    return paged([wave_public(v, rows=False) for v in views[offset:offset + limit]], len(views), limit, offset)


@blueprint.post("/waves")
@operation("Stage a replacement wave from CSV (W-1)", tag="waves", query=[NAME_QUERY], responses={201: WavePublic},
           errors=(409, 413, 415, 422),
           description="Body: `text/csv`, or `multipart/form-data` with the CSV as part `file`. Columns: Old "
                       "Device, New MAC, and optionally Model, Template, Description (neither model nor template: "
                       "the old phone's model); at most 1000 rows. Each row is planned as Migrate Phone previews "
                       "it; refused rows are listed with their row and column (and as CSV at errors.csv). A staged "
                       "row applies when its new MAC first asks for its config file (W-2).")
def stage_wave():
    text, _ = _upload_text()
    with about(bad_wave_name="name", bad_csv="file", too_many_rows="file"):
        view = _waves().stage(str_arg("name", 64), text, by=services().tokens.name(g.api_token) or "api")
    log_event("api_wave_staged", wave=view.name, rows=len(view.rows), refused=len(view.errors))
    return ok(wave_public(view), 201, {"Location": url_for(".get_wave", name=view.name)})


@blueprint.get("/waves/<name>")
@operation("One replacement wave with its rows (W-3)", tag="waves", responses={200: WavePublic}, errors=(404,))
def get_wave(name: str):
    return ok(wave_public(_waves().show(name)))


@blueprint.post("/waves/<name>/rows/<int:row>/cancel")
@operation("Cancel a wave's row before it applies (W-3)", tag="waves", responses={200: WaveRowPublic},
           errors=(404, 409), description="409 `wave_row_not_staged` once the row applied, failed or was cancelled.")
def cancel_wave_row(name: str, row: int):
    done = _waves().cancel(name, row)
    log_event("api_wave_row_cancelled", wave=name, row=row)
    return ok(WaveRowPublic(**vars(done)))


@blueprint.get("/waves/<name>/report.csv")
@operation("A wave's report as CSV (W-3)", tag="waves", responses={200: ("text/csv", {"type": "string"})},
           errors=(404,))
def wave_report_csv(name: str):
    return Response(_waves().report_csv(name), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="wave-{name}.csv"'})


@blueprint.get("/waves/<name>/errors.csv")
@operation("The rows a wave's upload refused, as CSV (W-1)", tag="waves",
           responses={200: ("text/csv", {"type": "string"})}, errors=(404,),
           description="The refused rows as uploaded plus Row, Column and Error: fix them and stage them again.")
def wave_errors_csv(name: str):
    return Response(_waves().errors_csv(name), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="wave-{name}-errors.csv"'})
