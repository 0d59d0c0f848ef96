"""The admin UI's blueprint, and what every admin page module shares: the clock,
the acting administrator, a page and a refusal page.

Each page module (``login``, ``phones``, ``users``, ``settings``, ``reports``,
``tasks``) adds its routes to ``blueprint``; the package (``phoneservice.web.admin``)
imports them all. Templates are in ``templates/admin/``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from models.rules.phrases import count
from models.rules.refusals import Kind, Refused

IDLE = timedelta(minutes=30)
HERE = Path(__file__).parent / "templates" / "admin"

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
blueprint.add_app_template_filter(count, "count")  # {{ n | count("device") }}: "1 device", "2 devices"


def now() -> datetime:
    """The admin UI's clock (``ADMIN_CLOCK`` in the app config; tests move it)."""
    return current_app.config["ADMIN_CLOCK"]()


def actor() -> str:
    return f"admin:{current_user.username}"


def page(template: str, status: int = 200, **context):
    return render_template(f"admin/{template}", **context), status


def refused_page(refusal: Refused):
    """A refusal that names no form: 404 for what doesn't exist, else 409."""
    status = 404 if refusal.kind is Kind.NOT_FOUND else 409
    return page("message.html", status, title="Not possible", message=refusal.message)


def to_login():
    """To the login page, back here after it (a GET only)."""
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.login", next=target))
