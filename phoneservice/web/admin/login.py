"""The admin web UI at ``/admin``: login, and the app-level setup it needs.

Pages by group: phones and Migrate Phone (``admin_phones``, C-13, C-15), users
and activation codes (``admin_users``, A-4, A-6, M-5), settings
(``admin_settings``, S-1..S-7), the migration report (``admin_reports``, C-13).
Views only translate: form fields in, one ``models`` call, a template out.

Sessions: Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind an
https public URL), idle for at most ``IDLE`` (checked here with an injectable
clock, and by the cookie's signed age). The signing key comes from the Flask
config or ``web.secret_key`` when set, else from the database (``site.web_secret``)
so every process sharing the database accepts the same cookies. CSRF: every
POST on the web port carries Flask-WTF's token, except the bearer-token API
(blueprint ``api``, or any non-admin request with ``Authorization: Bearer``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, flash, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from models import admins, reports, site
from models.clock import utcnow
from models.errors import Refused
from phoneservice.observe import log_event

IDLE = timedelta(minutes=30)
HERE = Path(__file__).parent / "templates" / "admin"
OPEN_ENDPOINTS = {"admin.login", "admin.stylesheet"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


def services():
    return current_app.extensions["phone_migration"]


def now() -> datetime:
    """The admin UI's clock (``ADMIN_CLOCK`` in the app config; tests move it)."""
    return current_app.config["ADMIN_CLOCK"]()


def actor() -> str:
    return f"admin:{current_user.username}"


def page(template: str, status: int = 200, **context):
    return render_template(f"admin/{template}", **context), status


def refused_page(refusal: Refused):
    """A refusal that names no form: 404 for what doesn't exist, else 409."""
    status = 404 if refusal.code.startswith("unknown_") else 409
    return page("message.html", status, title="Not possible", message=refusal.message)


# --- app-level setup ------------------------------------------------------------


class AdminUser(UserMixin):
    def __init__(self, account_id: int, username: str) -> None:
        self.id = account_id
        self.username = username


class AdminOnlySessions(SecureCookieSessionInterface):
    """The phones' screens carry no cookie: no session is opened or signed for them."""

    def open_session(self, app: Flask, request):
        if request.path.startswith("/screens/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Secret key, session cookie, CSRF on every form, Flask-Login: what the admin blueprint needs."""
    svc = app.extensions["phone_migration"]
    if not app.config.get("SECRET_KEY"):
        configured = getattr(svc.config.web, "secret_key", None)
        if configured:
            app.secret_key = configured
        else:
            with svc.db.session() as db_session:
                app.secret_key = site.web_secret(db_session)
    app.config.update(
        SESSION_COOKIE_NAME="pm_admin", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(svc.config.web.public_url or "").startswith("https:"),
        PERMANENT_SESSION_LIFETIME=IDLE,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, so the API can be told apart at request time
    )
    app.config.setdefault("ADMIN_CLOCK", utcnow)
    app.session_interface = AdminOnlySessions()
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf_everywhere_but_the_api():
        if not app.config.get("WTF_CSRF_ENABLED", True) or _bearer_api_request():
            return
        csrf.protect(apply_exemptions=True)

    app.register_error_handler(CSRFError, _csrf_failed)
    logins = LoginManager(app)
    logins.session_protection = "strong"
    logins.user_loader(_load_admin)
    logins.unauthorized_handler(_to_login)


def _bearer_api_request() -> bool:
    """The REST API authenticates every request with a bearer token: no cookie, no CSRF."""
    if request.blueprint == "admin":
        return False
    if (request.blueprint or "").split(".")[0] == "api":
        return True
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def _csrf_failed(error: CSRFError):
    return page("message.html", 400, title="Form expired",
                message="This form has expired or did not come from this site. Go back, reload the page and try again.")


def _load_admin(admin_id: str):
    if not admin_id.isdigit():
        return None
    with services().db.read_session() as db_session:
        account = admins.admin_account(db_session, int(admin_id))
        return AdminUser(account.id, account.username) if account else None


def _to_login():
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.login", next=target))


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
        return _to_login()
    stamp, seen = now().timestamp(), session.get("seen")
    if seen is None or stamp - seen > IDLE.total_seconds():
        logout_user()
        session.clear()
        flash("Your session timed out after 30 minutes without activity: log in again.")
        return _to_login()
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
    outcome = admins.admin_login(svc.db, username, request.form.get("password", ""), now())
    if isinstance(outcome, Refused):
        svc.metrics.auth_failures.labels("admin").inc()
        log_event("admin_login_failed", username=username, reason=outcome.code)
        return page("login.html", 401, error=outcome.message, username=username)
    session.clear()  # a fresh session: no fixation
    login_user(AdminUser(outcome.id, outcome.username))
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
    with services().db.read_session() as db_session:
        recent = reports.records(db_session, limit=10)
    return page("home.html", recent=recent)


from phoneservice.web.admin import phones as _phones, reports as _reports, settings as _settings, tasks as _tasks, users as _users  # noqa: E402,F401,E501  (their routes)
