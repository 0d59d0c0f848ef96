"""Admin pages: Find and List Phones (C-13 filter), a phone's page, Migrate Phone (C-15),
a migration's record and its undo (U-1: a preview of what comes back, then a confirmation POST).

Migrate Phone is three steps: the form (new MAC, phone template or phone type,
description), a preview that plans without saving (``dry_run``) and lists what
the new model loses, and a confirmation POST that migrates in one transaction
(C-12) and redirects to the result. A refusal re-shows the form with its
message; nothing has changed (C-12) and the refusal is recorded (C-13).
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from models.rules.plan import Target
from models.rules.refusals import Refused
from models.services.phones import DEVICE_FIELDS, DEVICE_SORTS
from models.services.undo import Undoer
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, page, refused_page
from phoneservice.web.services import services

PAGE_SIZE = 200
FILTERS = {"": None, "migrated": True}  # "Migrate (old phone)" (C-13)


@blueprint.get("/phones")
def phones():
    search = request.args.get("q", "")[:100]
    chosen = request.args.get("filter", "")
    fields = {k: request.args.get(k, "")[:100] for k in DEVICE_FIELDS}
    sort = request.args.get("sort", "name")
    sort = sort if sort in DEVICE_SORTS else "name"
    descending = request.args.get("dir") == "desc"
    number = max(1, min(request.args.get("page", 1, type=int) or 1, 100_000))
    rows, total = services().phones.list_page(search, migrated=FILTERS.get(chosen), fields=fields, sort=sort,
                                              descending=descending, limit=PAGE_SIZE,
                                              offset=(number - 1) * PAGE_SIZE)
    query = {"q": search or None, "filter": chosen or None, **{k: v or None for k, v in fields.items()}}
    return page("phones.html", rows=rows, total=total, more=number * PAGE_SIZE < total, q=search, filter=chosen,
                fields=fields, sort=sort, descending=descending, query=query, page_number=number,
                first=(number - 1) * PAGE_SIZE + 1)


@blueprint.get("/phones/<name>")
def phone(name: str):
    try:
        view = services().phones.page(name)
    except Refused as refusal:
        return refused_page(refusal)
    return page("phone.html", view=view, d=view.device)


# --- Migrate Phone (C-15) ------------------------------------------------------------


def _target(form) -> tuple[Target, dict]:
    """The form's fields -> a Target; the fields are echoed back into the next page."""
    fields = {k: form.get(k, "").strip()[:128] for k in ("mac", "by", "template", "model", "protocol", "description")}
    fields["by"] = "template" if fields["by"] == "template" else "type"
    if fields["by"] == "template":
        target = Target(mac=fields["mac"], template=fields["template"] or None, protocol=None,
                        description=fields["description"] or None)
    else:
        target = Target(mac=fields["mac"], model=fields["model"] or None, protocol=fields["protocol"] or None,
                        description=fields["description"] or None)
    return target, fields


def _form(name: str, fields: dict | None = None, error: str | None = None, status: int = 200):
    svc = services()
    try:
        form = svc.phones.migration_form(name)
    except Refused as refusal:
        return refused_page(refusal)
    models = [m for m in sorted(svc.catalog.models(), key=lambda m: m.key) if not m.jabber]
    return page("migrate.html", status, view=form.page, d=form.page.device, templates=form.templates, models=models,
                f=fields or {"by": "type", "model": "8861"}, error=error)


@blueprint.get("/phones/<name>/migrate")
def migrate_form(name: str):
    return _form(name)


@blueprint.post("/phones/<name>/migrate/preview")
def migrate_preview(name: str):
    target, fields = _target(request.form)
    svc = services()
    try:
        result = svc.migrator.migrate(name, target, door="admin", actor=actor(), dry_run=True)
    except Refused as refusal:
        return _form(name, fields, refusal.message, 422)
    lines = {line.position: line for line in result.plan.old.lines}
    features = {f.position: f for f in result.plan.old.features}
    return page("preview.html", plan=result.plan, new_name=result.new_device, f=fields, lines=lines,
                features=features, model=svc.catalog.model(result.plan.new_model))


@blueprint.post("/phones/<name>/migrate")
def migrate_confirm(name: str):
    target, fields = _target(request.form)
    svc = services()
    try:
        result = svc.migrator.migrate(name, target, door="admin", actor=actor())
    except Refused as refusal:
        svc.metrics.migrations.labels("admin", "refused").inc()
        return _form(name, fields, refusal.message, 409)
    svc.metrics.migrations.labels("admin", "migrated").inc()
    log_event("migrated", door="admin", old=result.plan.old.name, new=result.new_device, actor=actor())
    notified = svc.restart(result.new_device, result)  # C-14
    flash(f"{result.new_device} restarts now." if notified
          else f"{result.new_device} picks up its new settings at its next restart.")
    return redirect(url_for(".migration", record_id=result.record_id))


@blueprint.get("/migrations/<int:record_id>")
def migration(record_id: int):
    record = services().records.get(record_id)
    if record is None:
        return page("message.html", 404, title="Not found", message=f"no migration record {record_id}")
    return page("migrated.html", r=record, record_id=record_id)


def _undoer() -> Undoer:
    svc = services()
    return Undoer(svc.db, recorder=svc.migrator)


@blueprint.get("/migrations/<int:record_id>/undo")
def undo_preview(record_id: int):
    try:
        return page("undo.html", u=_undoer().preview(record_id))
    except Refused as refusal:
        return refused_page(refusal)


@blueprint.post("/migrations/<int:record_id>/undo")
def undo_confirm(record_id: int):
    svc = services()
    try:
        done = _undoer().undo(record_id, door="admin", actor=actor())
    except Refused as refusal:
        return refused_page(refusal)
    log_event("undone", door="admin", record=record_id, old=done.old_device, new=done.new_device, actor=actor())
    notified = svc.restart(done.new_device, done)  # it asks for its file again: XMLDefault.cnf.xml
    flash(f"Migration {record_id} undone: {done.old_device} has its settings back and {done.new_device} is deleted"
          + (" (it restarts now)." if notified else "."))
    return redirect(url_for(".migration", record_id=done.undo_record_id))
