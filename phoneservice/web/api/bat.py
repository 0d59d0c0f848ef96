"""``/api/v1/bat``: CUCM BAT phone files out and in (E-4), on ``models.services.bat`` as the admin UI and CLI.

``GET /bat/export`` answers every phone as a CSV download. ``POST /bat/import``
takes the file as a ``text/csv`` body and answers when the import has ended
(1000 phones take seconds): all or nothing, one transaction. A file with bad
rows imports nothing and is a 422 problem whose ``errors`` name every bad
cell (``row``, ``column``, ``message``); a refusal of the whole file (not UTF-8,
no known header, a model the file needs) is a 422 naming ``file``, ``model`` or
``protocol``; ``bat_conflict`` (another writer added one of its phones
meanwhile) is 409. ``dry_run=true`` checks and counts, and changes nothing.
"""

from __future__ import annotations

from flask import Response, request

from models.rules.bat_format import ALL_DETAILS, FORMAT_TITLES
from models.services.bat import MAX_FILE_BYTES, BatRejected, export_text, import_bat
from phoneservice.observe import log_event
from phoneservice.web.api.common import (
    ApiProblem,
    about,
    blueprint,
    bool_arg,
    check_text,
    invalid,
    ok,
    operation,
    problem,
    query_param,
    str_arg,
)
from phoneservice.web.api.schemas import BatImportSummary
from phoneservice.web.services import services

PROTOCOLS = ("SIP", "SCCP")
FORMAT_QUERY = query_param("format", {"type": "string", "enum": list(FORMAT_TITLES), "default": ALL_DETAILS},
                           '`all-details` ("Export Phones – All Details": every column this site keeps) or `bat` '
                           "(the BAT phone format: no device type, template, security profile, KEM or intercom)")
IMPORT_QUERY = [
    query_param("model", {"type": "string", "maxLength": 64},
                "The phones' model, for a BAT phone format file (it has no Device Type column)"),
    query_param("protocol", {"type": "string", "enum": list(PROTOCOLS)}, "Their protocol (with `model`)"),
    query_param("dry_run", {"type": "boolean", "default": False},
                "Check every row and count what would be created; change nothing"),
]


@blueprint.get("/bat/export")
@operation("Every phone as a CUCM BAT CSV file", tag="bat", query=[FORMAT_QUERY],
           responses={200: ("text/csv", {"type": "string"})},
           description="An attachment (`Content-Disposition`) in name order; importing an `all-details` export "
                       "into an empty site gives the same phones.")
def bat_export():
    fmt = request.args.get("format", ALL_DETAILS)
    if fmt not in FORMAT_TITLES:
        raise invalid("format", f"one of {', '.join(FORMAT_TITLES)}")
    svc = services()
    text = export_text(svc.db, fmt, svc.catalog)
    return Response(text, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="phones-{fmt}.csv"'})


def _file() -> bytes:
    if (request.content_length or 0) > MAX_FILE_BYTES:
        raise ApiProblem(413, "too_large", f"a BAT file is at most {MAX_FILE_BYTES} bytes")
    if request.mimetype != "text/csv":
        raise ApiProblem(415, "unsupported_media_type", "send the file as a text/csv body",
                         headers={"Accept-Post": "text/csv"})
    data = request.get_data(cache=False)[:MAX_FILE_BYTES + 1]
    if len(data) > MAX_FILE_BYTES:
        raise ApiProblem(413, "too_large", f"a BAT file is at most {MAX_FILE_BYTES} bytes")
    try:
        check_text(data.decode("utf-8-sig"), "file")
    except UnicodeDecodeError:
        pass  # the service says which byte (bad_encoding)
    return data


@blueprint.post("/bat/import")
@operation("Import phones from a CUCM BAT CSV file, all or nothing", tag="bat", body=("text/csv", {"type": "string"}),
           query=IMPORT_QUERY, responses={200: BatImportSummary}, errors=(409,),
           description="The body is the file (UTF-8, with or without a byte-order mark), at most "
                       f"{MAX_FILE_BYTES // (1024 * 1024)} MB. Every row is checked first: one bad row and "
                       "nothing is imported, and the 422 problem (`bad_rows`) lists in `errors` every bad cell "
                       "with its `row` (the header is row 1), `column` and `message`. Missing directory numbers, "
                       "owners (no PIN) and button templates are created. Answers when the import has ended "
                       "(seconds for 1000 phones). 409 `bat_conflict`: another writer added one of its phones, "
                       "DNs or users meanwhile; nothing was imported.")
def bat_import():
    data = _file()
    model, protocol, dry_run = str_arg("model", 64) or None, request.args.get("protocol"), bool_arg("dry_run")
    if protocol is not None and protocol not in PROTOCOLS:
        raise invalid("protocol", "SIP or SCCP")
    svc = services()
    try:
        with about(bad_encoding="file", bad_header="file", needs_model="model", unknown_model="model",
                   bad_protocol="protocol", bad_option="model"):
            summary = import_bat(svc.db, data, model=model, protocol=protocol, dry_run=bool(dry_run),
                                 catalog=svc.catalog)
    except BatRejected as rejected:
        log_event("api_bat_rejected", bad_rows=len({e.row for e in rejected.errors}))
        return problem(422, rejected.code, rejected.message, errors=[
            {"field": "file", "row": e.row, "column": e.column, "message": e.message} for e in rejected.errors])
    log_event("api_bat_imported", phones=summary.devices, dry_run=summary.dry_run)
    return ok(BatImportSummary(summary=str(summary), **{k: getattr(summary, k) for k in BatImportSummary.model_fields
                                                        if k != "summary"}))
