"""Schemathesis against /api/v1/openapi.json: whatever the document allows (and a
good deal it doesn't), the API never answers 500, and its answers match the document
(status codes, media types, response schemas, 405 with Allow, 401 without a token).

Runs over the WSGI app on a SQLite demo site with a read+write token, so every
operation really executes, including migrations, deletions and setting changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from models.services.admins import _digest
from models.services.demo import load_demo
from models.storage.database import Database
from models.tables.admins import ApiToken
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web import api
from phoneservice.web.api.openapi import build
from phoneservice.web.app import create_app

pytestmark = pytest.mark.slow
# Fixed, because schemathesis builds some cases (headers included) while collecting.
TOKEN = "pm_schemathesis-" + "x" * 27
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "15"))  # per operation; 150 for a deeper run (~70 s)
_site: dict = {}


def _document() -> dict:
    """The document needs only the routes, so it is built at collection without a site.
    (``schemathesis.pytest.from_fixture`` would load it from the app, but breaks on pytest 9.)"""
    bare = Flask(__name__)
    bare.register_blueprint(api.blueprint)
    return build(bare)


def _site_app(environ, start_response):
    """The WSGI app schemathesis calls: the one the ``site`` fixture built."""
    return _site["app"](environ, start_response)


schema = schemathesis.openapi.from_dict(_document())
schema.app = _site_app


@schema.auth()
class WriteToken:
    """Applied the way schemathesis knows about, so it also checks requests without it."""

    def get(self, case, context):
        return TOKEN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('api')) / 'demo.db'}"
    db = Database(url)
    db.create_all()
    with db.session() as session:
        load_demo(session)
        session.add(ApiToken(name="schemathesis", token_hash=_digest(TOKEN), scopes=["read", "write"]))
    db.dispose()
    services = build_services(load_config(database={"url": url}))
    services.restart = lambda name, result=None: False  # generated SIP contacts must not be sent a NOTIFY
    _site["app"] = create_app(services)
    yield
    _site.clear()
    services.db.dispose()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails(case, site):
    # positive_data_acceptance is left out: schema-valid data may still name a model, an
    # owner or a MAC the site refuses (422), since the rules live in models, not in the schema.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
