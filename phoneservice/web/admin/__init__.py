"""The admin web UI at ``/admin`` (Flask-Login, CSRF on every form).

Pages by group, each module adding its routes to the one ``blueprint``
(``blueprint.py``): login, logout and home (``login``), phones and Migrate
Phone (``phones``, C-13, C-15; edit, delete, restart in ``phone_edit``), users and activation codes (``users``, A-4,
A-6, M-5), settings (``settings``, S-1..S-7), the migration report
(``reports``, C-13), administrators and API tokens (``accounts``, E-1..E-3), security profiles (``security``, C-3), bulk firmware-migration tasks (``tasks``, F-6), replacement waves (``waves``, W-1..W-3), BAT import and export (``bat_files``, E-4). Views
only translate: form fields in, one ``models`` call, a template out.
``init_app`` (``setup.py``) is the app-level setup the blueprint needs.

This package assembles them: ``create_app`` registers ``blueprint`` after
``init_app``.
"""

from phoneservice.web.admin import (  # noqa: F401  (their routes)
    accounts,
    bat_files,
    login,
    phone_edit,
    phones,
    reports,
    security,
    settings,
    tasks,
    users,
    waves,
)
from phoneservice.web.admin.blueprint import blueprint
from phoneservice.web.admin.setup import init_app

__all__ = ["blueprint", "init_app"]
