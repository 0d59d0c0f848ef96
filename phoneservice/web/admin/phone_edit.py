"""Admin page actions on one phone: edit its settings, delete it, restart it (C-14), through the
services the API and the other doors use (``Phones.update``, ``Phones.delete``, ``Services.restart``)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from models.rules.refusals import Kind, Refused
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, page, refused_page
from phoneservice.web.services import services

EDITABLE = ("description", "device_pool", "calling_search_space", "location")  # DeviceUpdate's text fields


@blueprint.get("/phones/<name>/edit")
def edit_phone(name: str):
    try:
        device = services().phones.get(name)
    except Refused as refusal:
        return refused_page(refusal)
    return page("phone_edit.html", d=device, f={k: getattr(device, k) or "" for k in EDITABLE})


@blueprint.post("/phones/<name>/edit")
def save_phone(name: str):
    changes = {k: request.form.get(k, "").strip()[:200] for k in EDITABLE}
    try:
        device = services().phones.update(name, changes)
    except Refused as refusal:
        if refusal.kind is Kind.NOT_FOUND:
            return refused_page(refusal)
        return page("phone_edit.html", 422, d=services().phones.get(name), f=changes, error=refusal.message + ".")
    log_event("admin_phone_changed", device=device.name, fields=",".join(sorted(changes)), actor=actor())
    flash(f"{device.name} saved; it takes the change with its next config file.")
    return redirect(url_for(".phone", name=device.name))


@blueprint.post("/phones/<name>/delete")
def delete_phone(name: str):
    try:
        services().phones.delete(name)
    except Refused as refusal:
        return refused_page(refusal)
    log_event("admin_phone_deleted", device=name, actor=actor())
    flash(f"{name} deleted.")
    return redirect(url_for(".phones"))


@blueprint.post("/phones/<name>/restart")
def restart_phone(name: str):
    svc = services()
    try:
        device = svc.phones.get(name)
    except Refused as refusal:
        return refused_page(refusal)
    notified = svc.restart(device.name)  # C-14: the sender every door uses
    log_event("admin_phone_restart", device=device.name, notified=notified, actor=actor())
    flash(f"{device.name} restarts now." if notified
          else f"{device.name} could not be reached; it picks up its settings at its next restart.")
    return redirect(url_for(".phone", name=device.name))
