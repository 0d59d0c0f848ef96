"""The admin UI's own pages: login, logout, home, the stylesheet; and what every admin page checks.

Every page but the login and the stylesheet needs a logged-in administrator,
idle for at most ``IDLE`` (checked here with an injectable clock, and by the
cookie's signed age), and answers with the security headers and no caching.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from models.rules.refusals import Refused
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import HERE, IDLE, blueprint, now, page, to_login
from phoneservice.web.admin.setup import AdminUser
from phoneservice.web.services import services

OPEN_ENDPOINTS = {"admin.login", "admin.stylesheet"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _safe_next(target: str | None) -> str:
    """Only a path inside the admin UI: never an open redirect."""
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and parts.path.startswith("/admin") and "\\" not in target:
        return target
    return url_for("admin.home")


@blueprint.before_request
def _logged_in_and_not_idle():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return to_login()
    stamp, seen = now().timestamp(), session.get("seen")
    if seen is None or stamp - seen > IDLE.total_seconds():
        logout_user()
        session.clear()
        flash("Your session timed out after 30 minutes without activity: log in again.")
        return to_login()
    session["seen"] = int(stamp)
    return None


@blueprint.after_request
def _headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "admin.stylesheet":
        response.headers["Cache-Control"] = "no-store"
    return response


# --- login, logout, home ----------------------------------------------------------


@blueprint.get("/admin.css")
def stylesheet():
    return Response((HERE / "admin.css").read_bytes(), mimetype="text/css", headers={"Cache-Control": "max-age=3600"})


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for(".home"))
    if request.method == "GET":
        return page("login.html")
    username = request.form.get("username", "").strip()[:64]
    svc = services()
    outcome = svc.admins.login(username, request.form.get("password", ""), now())
    if isinstance(outcome, Refused):
        svc.metrics.auth_failures.labels("admin").inc()
        log_event("admin_login_failed", username=username, reason=outcome.code)
        return page("login.html", 401, error=outcome.message, username=username)
    session.clear()  # a fresh session: no fixation
    login_user(AdminUser(outcome.id, outcome.username, outcome.role))
    session.permanent = True
    session["seen"] = int(now().timestamp())
    log_event("admin_login", username=outcome.username)
    return redirect(_safe_next(request.args.get("next")))


@blueprint.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for(".login"))


@blueprint.get("/")
def home():
    return page("home.html", recent=services().records.recent(10))
