"""``/api/v1/migrate`` and ``/api/v1/records``: the admin door of the engine (C-15),
the migration report (C-13) and undo (U-1).

A migration is planned and applied by ``Migrator.migrate`` exactly as for the
other doors (door ``api``, actor = the token's name); ``dry_run`` shows what
the new phone would lose before anything changes.
"""

from __future__ import annotations

from flask import Response, g, request, url_for

from models.rules.plan import Plan, Target
from models.rules.record_filter import DOORS, RecordFilter, record_filter
from models.rules.refusals import Refused
from models.services.undo import Undoer, UndoPreview
from models.tables.records import MigrationRecordPublic
from phoneservice.observe import log_event
from phoneservice.web.api.common import (
    PAGE_QUERY,
    about,
    blueprint,
    body,
    invalid,
    ok,
    operation,
    page_args,
    paged,
    query_param,
    str_arg,
)
from phoneservice.web.api.schemas import MigrateRequest, MigrationPlanPublic, Page, UndoPublic
from phoneservice.web.services import services

DOOR = "api"
OUTCOME = query_param("outcome", {"type": "string", "enum": ["migrated", "provisioned", "refused", "abandoned",
                                                             "undone"]},
                      "Only records with this outcome")
# C-13's report filter beside the outcome (models.rules.record_filter, the same in every door)
FILTER_QUERY = [
    query_param("door", {"type": "string", "enum": list(DOORS)}, "Only records made through this door"),
    query_param("actor", {"type": "string", "maxLength": 100},
                "Only records whose actor contains this, any case (e.g. `admin:` for every administrator)"),
    query_param("since", {"type": "string", "format": "date"}, "Only records from this UTC day on (YYYY-MM-DD)"),
    query_param("until", {"type": "string", "format": "date"}, "Only records up to this UTC day, included"),
]
# Refusals about the request's own fields (422 naming the field); the rest keep their status.
MIGRATE_FIELDS = dict(unknown_device="old", bad_mac="mac", same_device="mac", unknown_model="model",
                      bad_target="model", jabber_target="model", video_to_audio="model", bad_protocol="protocol",
                      unknown_template="template")


def _actor() -> str:
    """C-13: the records name the token that asked."""
    return services().tokens.name(g.api_token) or DOOR


def plan_public(plan: Plan, applied: bool, restarted: bool | None) -> MigrationPlanPublic:
    old_lines = {line.position: line for line in plan.old.lines}
    old_features = {f.position: f for f in plan.old.features}
    return MigrationPlanPublic(
        old=plan.old.name, old_model=plan.old.model, new_name=plan.new_name, model=plan.new_model,
        protocol=plan.new_protocol, template=plan.template_name, template_kind=plan.template_kind,
        security_profile=plan.security_profile, kems=list(plan.kems),
        lines=[dict(position=b.position, source_position=b.source_position, on_kem=b.on_kem,
                    directory_number=old_lines[b.source_position].pattern,
                    partition=old_lines[b.source_position].partition) for b in plan.lines],
        features=[dict(position=b.position, source_position=b.source_position, on_kem=b.on_kem,
                       feature=old_features[b.source_position].feature,
                       target=old_features[b.source_position].target) for b in plan.features],
        replacement_policy=plan.replacement_policy, old_keeps_lines=plan.old_keeps_lines,
        losses=list(plan.losses), warnings=list(plan.warnings), applied=applied, restarted=restarted,
    )


@blueprint.post("/migrate")
@operation("Migrate a phone (C-15)", tag="migration", body=MigrateRequest,
           responses={200: MigrationPlanPublic, 201: MigrationPlanPublic}, errors=(409,),
           description="By phone type (`model`, `protocol`) or phone `template`. `dry_run`: 200 with the plan "
                       "(what the new phone loses), nothing changed. Otherwise one transaction (C-12), recorded "
                       "(C-13), the new phone told to restart (C-14): 201 with the plan. Refusals are recorded too.")
def migrate():
    data = body(MigrateRequest)
    svc = services()
    target = Target(mac=data.mac, model=data.model, protocol=data.protocol, template=data.template,
                    description=data.description)
    try:
        with about(**MIGRATE_FIELDS):
            result = svc.migrator.migrate(data.old, target, door=DOOR, actor=_actor(), dry_run=data.dry_run)
    except Refused:
        if not data.dry_run:
            svc.metrics.migrations.labels(DOOR, "refused").inc()
        raise
    if not result.applied:
        return ok(plan_public(result.plan, False, None))
    svc.metrics.migrations.labels(DOOR, "migrated").inc()
    log_event("migrated", door=DOOR, old=result.plan.old.name, new=result.new_device)
    restarted = svc.restart(result.new_device, result)
    return ok(plan_public(result.plan, True, restarted), 201,
              {"Location": url_for(".get_device", name=result.new_device)})


@blueprint.get("/records")
@operation("The migration records (C-13)", tag="migration", query=[OUTCOME, *FILTER_QUERY, *PAGE_QUERY],
           responses={200: Page[MigrationRecordPublic]},
           description="Every migration and every refusal, newest first, by every door; the filters combine.")
def list_records():
    limit, offset = page_args()
    rows, total = services().records.search_page(limit=limit, offset=offset, where=_where())
    return paged(rows, total, limit, offset)


@blueprint.get("/records.csv")
@operation("The migration report as CSV (C-13)", tag="migration", query=[OUTCOME, *FILTER_QUERY],
           responses={200: ("text/csv", {"type": "string"})})
def records_csv():
    return Response(services().records.csv(where=_where()), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="migration-report.csv"'})


def _undo_public(done: UndoPreview, restarted: bool | None) -> UndoPublic:
    return UndoPublic(record=done.record_id, old=done.old_device, new_name=done.new_device, lines=done.lines,
                      features=done.features, kems=done.kems, restored=done.restored, applied=done.applied,
                      undo_record=done.undo_record_id, restarted=restarted)


def _undoer() -> Undoer:
    svc = services()
    return Undoer(svc.db, recorder=svc.migrator)


@blueprint.get("/records/<int:record_id>/undo")
@operation("Preview undoing a migration (U-1)", tag="migration", responses={200: UndoPublic}, errors=(404, 409),
           description="What the old phone gets back and which new device is deleted; nothing changes. "
                       "409 with the reason when the undo would be refused: the old phone was deleted (policy "
                       "delete), either device changed since, the new device was migrated again, the undo window "
                       "passed, or the replacement policy is not retain.")
def undo_preview(record_id: int):
    return ok(_undo_public(_undoer().preview(record_id), None))


@blueprint.post("/records/<int:record_id>/undo")
@operation("Undo a migration (U-1)", tag="migration", responses={200: UndoPublic}, errors=(404, 409),
           description="One transaction: the old phone gets back exactly its rows from before the migration and "
                       "loses its migrated flag, the new device is deleted (its MAC is served XMLDefault.cnf.xml "
                       "again) and told to restart; recorded (C-13) as an undo. Refusals as the preview, recorded.")
def undo(record_id: int):
    svc = services()
    done = _undoer().undo(record_id, door=DOOR, actor=_actor())
    log_event("undone", door=DOOR, record=record_id, old=done.old_device, new=done.new_device)
    return ok(_undo_public(done, svc.restart(done.new_device, done)))


def _where() -> RecordFilter:
    """C-13: the report filter from the query string; a bad value is 422 naming the parameter."""
    args = {name: str_arg(name, 100) for name in ("door", "actor", "since", "until")}
    for name in ("door", "since", "until"):
        if name in request.args and not args[name]:  # the document says what an empty value would be
            raise invalid(name, "a door" if name == "door" else "a day as YYYY-MM-DD (UTC)")
    return record_filter(outcome=_outcome() or "", **args)


def _outcome() -> str | None:
    value = request.args.get("outcome")
    if value is not None and value not in OUTCOME["schema"]["enum"]:
        raise invalid("outcome", f"one of {', '.join(OUTCOME['schema']['enum'])}")
    return value
