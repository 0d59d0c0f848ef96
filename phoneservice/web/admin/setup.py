"""The app-level setup the admin UI needs: secret key, session cookie, CSRF, Flask-Login.

Sessions: Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind an
https public URL), idle for at most ``IDLE``. The signing key comes from the
Flask config or ``web.secret_key`` when set, else from the database
(``web_secret``) so every process sharing the database accepts the same
cookies. CSRF: every POST on the web port carries Flask-WTF's token, except
the bearer-token API (blueprint ``api``, or any non-admin request with
``Authorization: Bearer``). The phones' screens get no session at all.
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFError, CSRFProtect

from models.rules.clock import utcnow
from phoneservice.web.admin.blueprint import IDLE, page, to_login
from phoneservice.web.services import services, services_of


class AdminUser(UserMixin):
    def __init__(self, account_id: int, username: str, role: str = "full") -> None:
        self.id = account_id
        self.username = username
        self.role = role  # E-2: full | read_only


class AdminOnlySessions(SecureCookieSessionInterface):
    """The phones' screens carry no cookie: no session is opened or signed for them."""

    def open_session(self, app: Flask, request):
        if request.path.startswith("/screens/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Secret key, session cookie, CSRF on every form, Flask-Login: what the admin blueprint needs."""
    svc = services_of(app)
    if not app.config.get("SECRET_KEY"):
        configured = getattr(svc.config.web, "secret_key", None)
        if configured:
            app.secret_key = configured
        else:
            app.secret_key = svc.admins.session_key()
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
    logins.unauthorized_handler(to_login)


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
    admin = services().admins.enabled(int(admin_id))
    return AdminUser(admin.id, admin.username, admin.role) if admin else None
