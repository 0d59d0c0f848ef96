"""The REST API at ``/api/v1`` (DESIGN "Interfaces that face outward").

Every request but ``GET /api/v1/openapi.json`` carries ``Authorization: Bearer
pm_...`` (``models.services.admins``); every error is ``application/problem+json``
(RFC 9457). One ``blueprint`` (``common.py``, with the problem details, JSON
bodies, pages and the OpenAPI notes each view carries); the routes by
resource in ``admins``, ``bat``, ``devicedefaults``, ``devicepools``, ``devices``, ``migrations``, ``security``, ``site``, ``tasks``, ``users`` and ``waves``;
the bearer-token check, ``/openapi.json`` and the error handlers in ``edge``.

This package assembles them, in this order: the OpenAPI document lists the
paths as the routes were added.
"""

from phoneservice.web.api import (  # noqa: F401  (their routes)
    admins,
    bat,
    devicedefaults,
    devicepools,
    devices,
    edge,  # noqa: F401,I001  (authentication, /openapi.json, errors: after the routes)
    migrations,
    security,
    site,
    tasks,
    users,
    waves,
)
from phoneservice.web.api.common import blueprint

__all__ = ["blueprint"]
