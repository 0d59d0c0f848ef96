"""``create_app``: the Flask factory. No global app; blueprints per surface.

``role="web"`` is the web port (screens, admin, API, health, metrics);
``role="config"`` is the phones' config port (T-3), which serves only files.
"""

from __future__ import annotations

from flask import Flask

from phoneservice.callcontrol import events as callcontrol_events
from phoneservice.configfiles import http as configfiles_http
from phoneservice.web import admin, api, health, observed, screens
from phoneservice.web.services import EXTENSION, Services


def create_app(services: Services, role: str = "web") -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions[EXTENSION] = services
    observed.install(app, services.metrics)  # pm_http_requests, pm_http_request_seconds
    if role == "config":
        configfiles_http.install(app, services.files)
    else:
        app.register_blueprint(health.blueprint)
        app.register_blueprint(screens.blueprint)
        admin.init_app(app)  # secret key, session cookie, CSRF on every form but the bearer-token API, Flask-Login
        app.register_blueprint(admin.blueprint)
        app.register_blueprint(api.blueprint)  # /api/v1: bearer tokens only, problem+json errors
        # /callcontrol: the registrar's questions and events (R-1..R-3), authenticated by the shared token
        callcontrol = callcontrol_events.blueprint(lambda: services.registrations,
                                                   lambda: services.config.callcontrol.token,
                                                   lambda: services.files.waves, services.restart_soon)
        app.register_blueprint(callcontrol)
        app.extensions["csrf"].exempt(callcontrol)
    return app
