"""The REST API /api/v1 through the Flask test client, on the demo site, on SQLite
and PostgreSQL (``demo_db``): tokens and scopes, problem+json, every endpoint,
the admin door of the engine (C-12, C-13, C-15), registration feeding the
restart (C-14), and no PIN or hash in any answer (A-6)."""

from __future__ import annotations

import re
import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree
from sqlmodel import func, select

from models.rules.auth import verify_secret
from models.rules.clock import utcnow
from models.rules.refusals import SAYS, Refused
from models.services import reports, site
from models.services.admins import create_token, revoke_token, token_use_due
from models.services.demo import ADMIN_PASSWORD, ADMIN_USER, AUTH_CODE, USERS
from models.services.devices import device_search
from models.services.users import user_search
from models.storage.settings import load_settings
from models.tables.admins import ApiToken
from models.tables.devices import Device
from models.tables.records import MigrationRecord
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web.api.common import PROBLEM, refusal_status
from phoneservice.web.app import create_app

ALICE_OLD = "SEP001122330001"  # 7965 SCCP, 8 lines, a KEM, an intercom line
LOBBY = "SEP001122330040"  # 7945 SCCP, no owner
AUTOREG = "SEP00AA11BB22CC"  # the demo's auto-registered 8851
PINS = [pin for *_, pin in USERS]
DEMO_DEVICES = 26


class Api:
    """The test client with a token per scope set; every answer is kept for the leak check."""

    def __init__(self, services, tokens):
        self.services = services
        self.app = create_app(services)
        self.client = self.app.test_client()
        self.tokens = tokens
        self.bodies: list[str] = []

    def call(self, method, path, token="rw", **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        response = self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)
        self.bodies.append(response.get_data(as_text=True))
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.call("PUT", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(demo_db):
    with demo_db.session() as session:
        tokens = {scopes: create_token(session, f"token-{scopes}", scopes.split("+"))[0]
                  for scopes in ("read+write", "read", "write")}
        revoked, row = create_token(session, "old-token", ["read", "write"])
        revoke_token(session, row.id)
    services = build_services(load_config(database={"url": demo_db.url}))
    yield Api(services, {"rw": tokens["read+write"], "read": tokens["read"], "write": tokens["write"],
                         "revoked": revoked})
    services.db.dispose()


def problem_of(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert {"type", "title", "status", "detail", "code", "instance"} <= set(body)
    assert body["status"] == status
    if code:
        assert body["code"] == code
    return body


def failing_field(response, status=422):
    return [e["field"] for e in problem_of(response, status).get("errors", [])]


def count(api, table, *where):
    with api.services.db.read_session() as session:
        return session.exec(select(func.count()).select_from(table).where(*where)).one()


# --- authentication and scopes -------------------------------------------------------


def _routes(app):
    """Every API route with a value for its path parameters, and its methods."""
    values = {"name": ALICE_OLD, "user_id": "alice", "code_id": "1", "username": "admin", "token_id": "1",
              "model": "8861", "record_id": "1", "row": "2"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in ("api.not_found", "api.openapi"):
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: values[m[1]], rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                yield method, path


def test_every_endpoint_refuses_a_request_without_a_valid_token(api):
    routes = list(_routes(api.app))
    assert len(routes) == 60  # with E-1..E-3: /admins (6) and /tokens (3); S-6: /device-defaults (2); U-1: undo (2);
    # C-3: /security-profiles (3); C-14: /devices/{name}/restart; W-1..W-3: /waves (6); E-4: /bat (2)
    for method, path in routes:
        for token in (None, "revoked", "pm_not-a-token", "not-even-pm"):
            headers = {"Authorization": f"Bearer {api.tokens.get(token, token)}"} if token else {}
            response = api.client.open(path, method=method, json={}, headers=headers)
            problem_of(response, 401, "unauthenticated" if token is None else "invalid_token")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(api, Device) == DEMO_DEVICES  # nothing was created


def test_scopes_read_for_get_and_write_for_the_rest(api):
    assert api.get("/devices", token="read").status_code == 200
    body = problem_of(api.post("/users", {"user_id": "mallory"}, token="read"), 403, "insufficient_scope")
    assert "write" in body["detail"]
    assert 'error="insufficient_scope"' in api.delete(f"/devices/{ALICE_OLD}", token="read").headers["WWW-Authenticate"]
    problem_of(api.get("/devices", token="write"), 403, "insufficient_scope")
    assert api.post("/users", {"user_id": "mallory"}, token="write").status_code == 201
    problem_of(api.get("/users/mallory", token="write"), 403)


def test_other_schemes_and_a_revoked_token_are_refused(api):
    problem_of(api.get("/devices", token=None, headers={"Authorization": "Basic YWRtaW46eA=="}), 401, "unauthenticated")
    problem_of(api.get("/devices", token="revoked"), 401, "invalid_token")


def _last_used(api, name):
    with api.services.db.read_session() as session:
        return session.exec(select(ApiToken.last_used_at).where(ApiToken.name == name)).one()


def test_a_token_records_when_it_was_last_used_to_the_minute(api):
    assert _last_used(api, "token-read") is None
    assert api.get("/devices", token="read").status_code == 200
    first = _last_used(api, "token-read")
    assert first is not None and (utcnow() - first).total_seconds() < 60
    assert api.get("/devices", token="read").status_code == 200
    assert _last_used(api, "token-read") == first  # within the minute: no write
    problem_of(api.get("/devices", token="revoked"), 401, "invalid_token")
    assert _last_used(api, "old-token") is None  # a refused token records nothing
    assert _last_used(api, "token-write") is None


def test_token_use_is_written_once_a_minute_at_most():
    now = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
    assert token_use_due(ApiToken(name="t", token_hash="h"), now)
    assert not token_use_due(ApiToken(name="t", token_hash="h", last_used_at=now - timedelta(seconds=59)), now)
    assert token_use_due(ApiToken(name="t", token_hash="h", last_used_at=now - timedelta(seconds=60)), now)


def _admin_login(client) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    response = client.post("/admin/login",
                           data={"csrf_token": csrf, "username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200  # the cookie is a live admin session


def test_csrf_an_admin_session_cookie_alone_is_refused(api):
    """A browser logged into the admin UI can't be made to call the API: cookies are never read."""
    _admin_login(api.client)
    assert api.client.get_cookie("pm_admin") is not None
    problem_of(api.get("/devices", token=None), 401, "unauthenticated")
    problem_of(api.post("/users", {"user_id": "csrf-victim"}, token=None,
                        headers={"Origin": "https://evil.example"}), 401, "unauthenticated")
    problem_of(api.delete(f"/devices/{ALICE_OLD}", token=None), 401)
    assert count(api, Device, Device.name == ALICE_OLD) == 1


def test_token_requests_need_no_csrf_token_though_the_admin_ui_checks_csrf(api):
    assert "csrf" in api.app.extensions
    assert api.client.post("/admin/login", data={"username": ADMIN_USER}).status_code == 400  # CSRF is on
    assert api.post("/users", {"user_id": "no-csrf-needed"}).status_code == 201


# --- OpenAPI --------------------------------------------------------------------------


def test_openapi_document_served_without_a_token_and_covers_every_route(api):
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), "/api/v1" + p) for p, ops in doc["paths"].items() for m in ops}
    routes = {(m, re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", r.rule))
              for r in api.app.url_map.iter_rules() if r.endpoint.startswith("api.") and r.endpoint != "api.not_found"
              for m in r.methods - {"HEAD", "OPTIONS"}}
    assert documented == routes
    schemas = doc["components"]["schemas"]
    assert {"DevicePublic", "DeviceCreate", "DeviceUpdate", "EndUserPublic", "EndUserCreate", "MigrationRecordPublic",
            "ActivationCodePublic", "MigrationPlanPublic", "Problem", "SettingsUpdate"} <= set(schemas)
    assert not any("hash" in prop for s in schemas.values() for prop in s.get("properties", {}))
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path != "/openapi.json":
                assert {"401", "403"} <= set(op["responses"]), (method, path)
                assert op["x-scope"] == ("read" if method == "get" else "write")
    assert doc["paths"]["/openapi.json"]["get"]["security"] == []


# --- problem+json for everything that goes wrong ----------------------------------------


def test_unknown_paths_methods_and_bad_bodies_are_problems(api):
    problem_of(api.get("/nothing/here"), 404, "not_found")
    problem_of(api.get("/"), 404, "not_found")
    response = api.put("/devices")
    problem_of(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    assert api.call("OPTIONS", f"/devices/{ALICE_OLD}").headers["Allow"] == "GET, HEAD, PATCH, DELETE, OPTIONS"
    problem_of(api.post("/users", data="{not json", content_type="application/json"), 400, "bad_json")
    problem_of(api.post("/users", data="user_id=x", content_type="application/x-www-form-urlencoded"), 415)
    assert failing_field(api.post("/users", [1, 2])) == ["body"]
    assert failing_field(api.post("/users", {"user_id": "x", "is_admin": True})) == ["is_admin"]
    assert failing_field(api.post("/users", {"user_id": 7})) == ["user_id"]
    assert failing_field(api.post("/users", {"user_id": "nul\x00byte"})) == ["user_id"]
    assert failing_field(api.patch(f"/devices/{ALICE_OLD}", {"product_params": {"a": "\x07"}})) == ["product_params.a"]
    problem_of(api.post("/users", data='{"user_id": NaN}', content_type="application/json"), 400)
    problem_of(api.get("/devices/SEP\x01"), 404)
    problem_of(api.delete("/activation-codes/99999999999999999999"), 404)


BAD_QUERIES = [("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
               ("offset=-1", "offset"), ("offset=" + "9" * 5000, "offset"), ("migrated=maybe", "migrated"),
               ("q=" + "x" * 101, "q"), ("q=%00", "q")]


def test_bad_query_parameters_name_the_parameter(api):
    for query, field in BAD_QUERIES:
        assert failing_field(api.get(f"/devices?{query}")) == [field], query
    assert failing_field(api.get("/records?outcome=")) == ["outcome"]


@pytest.mark.parametrize("code, status", [
    ("unknown_device", 404), ("unknown_user", 404), ("unknown_code", 404), ("trivial_pin", 422), ("bad_mac", 422),
    ("unknown_model", 422), ("bad_setting", 422), ("video_to_audio", 422), ("already_migrated", 409),
    ("being_migrated", 409), ("mac_in_use", 409), ("user_exists", 409), ("task_started", 409),
])
def test_refusal_status_mapping(code, status):
    assert refusal_status(Refused(code, None if code in SAYS else "x")) == status


def test_a_refusal_about_a_field_is_422_whatever_its_code():
    refusal = Refused("unknown_user", 'no user "nobody"')
    refusal.field = "owner"
    assert refusal_status(refusal) == 422


# --- devices ------------------------------------------------------------------------------


def test_devices_pages_follow_next_to_the_end(api):
    first = api.get("/devices?limit=10")
    page = first.get_json()
    assert page["total"] == DEMO_DEVICES and len(page["items"]) == 10 and page["offset"] == 0
    assert page["next"] == "/api/v1/devices?limit=10&offset=10"
    assert first.headers["Link"] == '</api/v1/devices?limit=10&offset=10>; rel="next"'
    names, url = [], "/devices?limit=10"
    while url:
        page = api.get(url).get_json()
        names += [d["name"] for d in page["items"]]
        url = page["next"] and page["next"].removeprefix("/api/v1")
    assert names == sorted(names) and len(set(names)) == DEMO_DEVICES
    assert api.get("/devices?limit=10&offset=30").get_json() == {
        "items": [], "total": DEMO_DEVICES, "limit": 10, "offset": 30, "next": None}


def test_devices_search_and_migrated_filter(api):
    by_dn = api.get("/devices?q=1002").get_json()
    assert {d["name"] for d in by_dn["items"]} == {ALICE_OLD, "SEP001122330002"}  # bob's line, shared by alice
    assert [d["name"] for d in api.get("/devices?q=00:11:22:33:00:01").get_json()["items"]] == [ALICE_OLD]
    page = api.get("/devices?q=lobby&limit=1").get_json()
    assert page["total"] == 1 and page["next"] is None
    assert api.get("/devices?migrated=true").get_json()["total"] == 0
    assert api.get("/devices?migrated=false").get_json()["total"] == DEMO_DEVICES


def test_search_totals_agree_with_the_report_searches(api):
    """device_search / user_search count what reports.search_devices / find_users list."""
    with api.services.db.read_session() as session:
        for q in ("", "1001", "ALICE", "8841", "00:11:22:33:00:3", "desk", "nothing-at-all"):
            for migrated in (None, True, False):
                rows, total = device_search(session, q, migrated=migrated, limit=500)
                listed = reports.search_devices(session, q, migrated=migrated, limit=500)
                assert [d.name for d in rows] == [r.name for r in listed] and total == len(rows)
            users, total = user_search(session, q, limit=500)
            listed = reports.find_users(session, q, now=utcnow(), limit=500)
            assert [u.user_id for u in users] == [u.user_id for u in listed] and total == len(users)


def test_device_get_create_update_delete(api):
    alice = api.get("/devices/sep001122330001").get_json()  # any case; a bare MAC works too
    assert alice == api.get("/devices/00:11:22:33:00:01").get_json()
    assert alice["owner"] == "alice" and alice["kems"] == ["7914"] and alice["lines"][0]["directory_number"] == "1001"
    problem_of(api.get("/devices/SEP0000000000FF"), 404, "unknown_device")

    created = api.post("/devices", {"mac": "aa-bb-cc-00-11-22", "model": "8841", "owner": "bob",
                                    "description": "Spare", "product_params": {"webAccess": "0"}})
    assert created.status_code == 201
    assert created.headers["Location"].endswith("/api/v1/devices/SEPAABBCC001122")
    device = created.get_json()
    assert device["name"] == "SEPAABBCC001122" and device["owner"] == "bob"
    assert device["product_params"]["webAccess"] == "0"
    problem_of(api.post("/devices", {"mac": "AABBCC001122", "model": "8841"}), 409, "mac_in_use")
    assert failing_field(api.post("/devices", {"mac": "AABBCC001199", "model": "9999"})) == ["model"]
    assert failing_field(api.post("/devices", {"mac": "AABBCC001199", "model": "7841", "protocol": "SCCP"})) == \
        ["protocol"]
    assert failing_field(api.post("/devices", {"mac": "not-a-mac", "model": "8841"})) == ["mac"]
    assert failing_field(api.post("/devices", {"mac": "AABBCC001199", "model": "8841", "owner": "nobody"})) == ["owner"]
    assert failing_field(api.post("/devices", {"mac": "AABBCC001199", "model": "8841",
                                               "product_params": {"not an xml name": "1"}})) == ["product_params"]

    changed = api.patch("/devices/SEPAABBCC001122", {"description": "Desk 4", "product_params": {"webAccess": None,
                                                                                                "sshAccess": "1"}})
    assert changed.status_code == 200
    params = changed.get_json()["product_params"]
    assert changed.get_json()["description"] == "Desk 4" and "webAccess" not in params and params["sshAccess"] == "1"
    assert failing_field(api.patch("/devices/SEPAABBCC001122", {"registration": "maybe"})) == ["registration"]
    assert failing_field(api.patch("/devices/SEPAABBCC001122", {"load_override": "../../etc/passwd"})) == \
        ["load_override"]
    assert api.patch("/devices/SEPAABBCC001122", {"load_override": "sip88xx.14-2-1-0101-26"}).get_json()[
        "load_override"] == "sip88xx.14-2-1-0101-26"
    assert failing_field(api.patch("/devices/SEPAABBCC001122", {"owner": "carol"})) == ["owner"]  # not DeviceUpdate

    assert api.delete("/devices/SEPAABBCC001122").status_code == 204
    problem_of(api.get("/devices/SEPAABBCC001122"), 404)
    problem_of(api.delete("/devices/SEPAABBCC001122"), 404, "unknown_device")


def test_deleting_an_activation_code_phone_revokes_its_code(api):
    issued = api.post("/activation-codes", {"user": "carol", "model": "8851"}).get_json()
    bat = next(d for d in api.get("/devices?q=activation").get_json()["items"] if d["owner"] == "carol")
    assert api.delete(f"/devices/{bat['name']}").status_code == 204
    codes = api.get("/activation-codes").get_json()["items"]
    assert next(c for c in codes if c["id"] == issued["id"])["status"] == "revoked"


# --- registration (DESIGN "Registration state") and the restart it feeds (C-14) ------------


@pytest.fixture
def sip_phone():
    """A phone's SIP UA on a local UDP port: answers one NOTIFY with 200 OK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    received: list[str] = []

    def answer():
        try:
            data, peer = sock.recvfrom(65535)
        except OSError:
            return
        text = data.decode()
        received.append(text)
        call_id = re.search(r"^Call-ID: *(.+?)\r?$", text, re.M)[1]
        answer = f"SIP/2.0 200 OK\r\nCall-ID: {call_id}\r\nCSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n"
        sock.sendto(answer.encode(), peer)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield sock.getsockname()[1], received
    sock.close()
    thread.join(5)


def test_registration_put_feeds_the_restart_after_a_migration(api, sip_phone):
    port, received = sip_phone
    contact = f"sip:9000@127.0.0.1:{port}"
    response = api.put(f"/devices/{AUTOREG}/registration",
                       {"state": "registered", "contact": contact, "register_call_id": "0a1b2c3d-4@192.0.2.7"})
    assert response.status_code == 200
    assert response.get_json() == {"name": AUTOREG, "state": "registered", "contact": contact,
                                   "register_call_id": "0a1b2c3d-4@192.0.2.7", "load": None}
    device = api.get(f"/devices/{AUTOREG}").get_json()
    assert device["registration"] == "registered" and device["sip_contact"] == contact

    # The lobby phone moves onto the new phone that registered: C-14 restarts it at that contact.
    result = api.post("/migrate", {"old": LOBBY, "mac": AUTOREG[3:], "model": "8851"})
    assert result.status_code == 201, result.get_json()
    assert result.get_json()["applied"] is True and result.get_json()["restarted"] is True
    assert received and received[0].startswith(f"NOTIFY sip:9000@127.0.0.1:{port} SIP/2.0")
    assert "Event: service-control" in received[0] and "RegisterCallId={0a1b2c3d-4@192.0.2.7}" in received[0]
    new = api.get(f"/devices/{AUTOREG}").get_json()
    assert new["description"] == "Lobby phone" and new["sip_contact"] == contact and not new["auto_registered"]


def test_f7_the_load_a_phone_reports_at_registration_steps_a_7960_through_the_stones(api):
    """The registration feeds Device.reported_load, which F-7 steps from; a load is kept when not sent."""
    phone = "SEP00AA00796000"  # the demo's 7960 SCCP

    def served() -> str:
        return etree.fromstring(api.services.files.resolve(f"{phone}.cnf.xml")).findtext("loadInformation")

    wanted = served()
    answer = api.put(f"/devices/{phone}/registration", {"state": "registered", "load": "P00303010102"}).get_json()
    assert answer["load"] == "P00303010102"
    assert served() == "P00305000500"  # the next stepping stone, not the wanted load
    api.put(f"/devices/{phone}/registration", {"state": "unregistered"})
    assert served() == "P00305000500"  # the phone still runs what it reported
    api.put(f"/devices/{phone}/registration", {"state": "registered", "load": "P00308000900"})
    assert served() == wanted
    for bad in ("", "P003 0501", "../../etc/passwd", "x" * 65):
        assert failing_field(api.put(f"/devices/{phone}/registration", {"state": "registered", "load": bad})) == ["load"]
    assert api.get(f"/devices/{phone}").status_code == 200


def test_registration_put_replaces_and_checks(api):
    api.put(f"/devices/{ALICE_OLD}/registration", {"state": "registered", "contact": "sip:1001@192.0.2.1"})
    cleared = api.put(f"/devices/{ALICE_OLD}/registration", {"state": "unregistered"}).get_json()
    assert cleared == {"name": ALICE_OLD, "state": "unregistered", "contact": None, "register_call_id": None,
                       "load": None}
    assert failing_field(api.put(f"/devices/{ALICE_OLD}/registration", {"state": "gone"})) == ["state"]
    assert failing_field(api.put(f"/devices/{ALICE_OLD}/registration",
                                 {"state": "registered", "contact": "http://x"})) == ["contact"]
    assert failing_field(api.put(f"/devices/{ALICE_OLD}/registration",
                                 {"state": "registered", "register_call_id": "a b"})) == ["register_call_id"]
    problem_of(api.put("/devices/SEP0000000000FF/registration", {"state": "registered"}), 404)


# --- users -----------------------------------------------------------------------------------


def test_users_list_get_create_update(api):
    page = api.get("/users?limit=5").get_json()
    assert page["total"] == 12 and [u["user_id"] for u in page["items"]] == ["alice", "bob", "carol", "dave", "erin"]
    assert page["next"] == "/api/v1/users?limit=5&offset=5"
    assert [u["user_id"] for u in api.get("/users?q=1011").get_json()["items"]] == ["ken"]
    ken = api.get("/users/ken").get_json()
    assert ken == {"user_id": "ken", "self_service_id": "51011", "first_name": "Ken", "last_name": "Demo",
                   "primary_extension": "1011", "profile": "Standard Users", "has_pin": True, "locked": True}
    problem_of(api.get("/users/nobody"), 404, "unknown_user")

    created = api.post("/users", {"user_id": "zoe", "first_name": "Zoe", "primary_extension": "1050",
                                  "partition": "Internal_PT", "profile": "Hot Desk Users", "pin": "80416"})
    assert created.status_code == 201 and created.headers["Location"].endswith("/api/v1/users/zoe")
    assert created.get_json()["has_pin"] is True and created.get_json()["primary_extension"] == "1050"
    problem_of(api.post("/users", {"user_id": "zoe"}), 409, "user_exists")
    problem_of(api.post("/users", {"user_id": "zed", "self_service_id": "51001"}), 409, "self_service_id_in_use")
    assert failing_field(api.post("/users", {"user_id": "zed", "pin": "1111"})) == ["pin"]
    assert failing_field(api.post("/users", {"user_id": "zed", "profile": "No Such Profile"})) == ["profile"]
    assert failing_field(api.post("/users", {"user_id": "a/b"})) == ["user_id"]
    assert failing_field(api.post("/users", {"user_id": "z" * 129})) == ["user_id"]
    assert failing_field(api.post("/users", {"user_id": "zed", "primary_extension": "1010"})) == ["primary_extension"]
    problem_of(api.get("/users/zed"), 404)

    changed = api.patch("/users/zoe", {"last_name": "Zed", "primary_extension": "1051", "profile": None})
    assert changed.status_code == 200
    assert changed.get_json()["last_name"] == "Zed" and changed.get_json()["primary_extension"] == "1051"
    assert changed.get_json()["profile"] is None
    problem_of(api.patch("/users/zoe", {"self_service_id": "51002"}), 409, "self_service_id_in_use")
    problem_of(api.patch("/users/nobody", {"first_name": "X"}), 404)


def test_s3_a_primary_extension_belongs_to_one_user(api):
    """S-3: a second user with alice's primary extension and partition is refused, on create and on change."""
    taken = problem_of(api.post("/users", {"user_id": "zed", "primary_extension": "1001", "partition": "Internal_PT"}),
                       409, "extension_in_use")
    assert 'extension 1001 in partition Internal_PT is already the primary extension of user "alice"' in taken["detail"]
    problem_of(api.get("/users/zed"), 404)  # nothing was created
    assert api.post("/users", {"user_id": "zed", "primary_extension": "1001", "partition": "Other_PT"}).status_code == 201
    problem_of(api.patch("/users/bob", {"primary_extension": "1001"}), 422)  # 1001 is in two partitions now
    problem_of(api.patch("/users/zed", {"primary_extension": "1002"}), 409, "extension_in_use")
    assert api.patch("/users/alice", {"first_name": "Alicia"}).status_code == 200  # her own stays hers


def test_pin_and_unlock(api):
    assert api.put("/users/alice/pin", {"pin": "80416"}).status_code == 204
    with api.services.db.read_session() as session:
        assert verify_secret(site.find_user(session, "alice").pin_hash, "80416")
    assert failing_field(api.put("/users/alice/pin", {"pin": "1111"})) == ["pin"]  # trivial
    assert problem_of(api.put("/users/alice/pin", {"pin": "1001"}), 422)["code"] == "trivial_pin"  # her extension
    assert failing_field(api.put("/users/alice/pin", {"pin": "12ab"})) == ["pin"]
    problem_of(api.put("/users/nobody/pin", {"pin": "80416"}), 404)

    unlocked = api.post("/users/ken/unlock")
    assert unlocked.status_code == 200 and unlocked.get_json()["locked"] is False
    problem_of(api.post("/users/nobody/unlock"), 404)


# --- settings ----------------------------------------------------------------------------------


def test_settings_get_patch_and_auth_code(api):
    settings = api.get("/settings").get_json()
    assert settings["auth_code_set"] is True and "auth_code_hash" not in settings
    assert settings["replacement_policy"] == "retain"

    changed = api.patch("/settings", {"replacement_policy": "delete", "lockout_threshold": 5})
    assert changed.status_code == 200
    assert changed.get_json()["replacement_policy"] == "delete" and changed.get_json()["lockout_threshold"] == 5
    assert failing_field(api.patch("/settings", {"auth_code_hash": "$argon2id$..."})) == ["auth_code_hash"]
    assert failing_field(api.patch("/settings", {"replacement_policy": "shred"})) == ["replacement_policy"]
    assert failing_field(api.patch("/settings", {"lockout_minutes": 10**9})) == ["lockout_minutes"]
    problem_of(api.patch("/settings", {"autoreg_start_dn": "99999"}), 422, "bad_setting")  # start after end
    assert api.get("/settings").get_json()["autoreg_start_dn"] == "9000"

    assert api.put("/settings/auth-code", {"code": "24680"}).status_code == 204
    with api.services.db.read_session() as session:
        assert verify_secret(load_settings(session).auth_code_hash, "24680")
    assert failing_field(api.put("/settings/auth-code", {"code": "12ab"})) == ["code"]


# --- migrate (C-15) and the records (C-13) ----------------------------------------------------


def test_migrate_dry_run_changes_nothing_and_the_real_one_migrates(api):
    devices, records = count(api, Device), count(api, MigrationRecord)
    request = {"old": ALICE_OLD, "mac": "AA:BB:CC:DD:EE:01", "model": "8851", "description": "Alice's new desk"}
    preview = api.post("/migrate", {**request, "dry_run": True})
    assert preview.status_code == 200
    plan = preview.get_json()
    assert plan["applied"] is False and plan["restarted"] is None
    assert plan["new_name"] == "SEPAABBCCDDEE01" and plan["model"] == "8851" and plan["protocol"] == "SIP"
    assert plan["lines"][0] == {"position": 1, "source_position": 1, "on_kem": False,
                                "directory_number": "1001", "partition": "Internal_PT"}
    assert any(line["on_kem"] for line in plan["lines"])  # 7 lines on a 5-key 8851: the rest go to its KEM (C-1)
    assert plan["kems"] and plan["losses"]  # the intercom line stays behind (C-2) ...
    assert count(api, Device) == devices and count(api, MigrationRecord) == records
    assert api.get(f"/devices/{ALICE_OLD}").get_json()["migrated"] is False
    problem_of(api.get("/devices/SEPAABBCCDDEE01"), 404)

    done = api.post("/migrate", request)
    assert done.status_code == 201 and done.headers["Location"].endswith("/api/v1/devices/SEPAABBCCDDEE01")
    result = done.get_json()
    assert result["applied"] is True and result["restarted"] is False  # no SIP contact known: next poll
    assert {k: v for k, v in result.items() if k not in ("applied", "restarted")} == \
        {k: v for k, v in plan.items() if k not in ("applied", "restarted")}
    new = api.get("/devices/SEPAABBCCDDEE01").get_json()
    assert new["owner"] == "alice" and new["model"] == "8851" and new["description"] == "Alice's new desk"
    old = api.get(f"/devices/{ALICE_OLD}").get_json()
    assert old["migrated"] is True and old["successor"] == "SEPAABBCCDDEE01"
    assert [d["name"] for d in api.get("/devices?migrated=true").get_json()["items"]] == [ALICE_OLD]

    record = api.get("/records?limit=1").get_json()["items"][0]
    assert record["door"] == "api" and record["actor"] == "token-read+write" and record["outcome"] == "migrated"
    assert record["old_device"] == ALICE_OLD and record["new_device"] == "SEPAABBCCDDEE01"
    assert record["warnings"] == plan["losses"] + plan["warnings"]

    again = problem_of(api.post("/migrate", {**request, "mac": "AABBCCDDEE02"}), 409, "already_migrated")
    assert again["detail"] == SAYS["already_migrated"]  # C-12: the words every door uses
    refused = api.get("/records?outcome=refused").get_json()["items"][0]
    assert refused["code"] == "already_migrated" and refused["door"] == "api"


@pytest.mark.parametrize("change, field", [
    ({"old": "SEP0000000000FF"}, "old"), ({"mac": "nope"}, "mac"), ({"mac": ALICE_OLD[3:]}, "mac"),
    ({"model": "9999"}, "model"), ({"model": "CSF"}, "model"), ({"model": None}, "model"),
    ({"protocol": "SCCP"}, "protocol"), ({"model": None, "template": "No such template"}, "template"),
    ({"dry_run": "perhaps"}, "dry_run"), ({"confirm": True}, "confirm"),
])
def test_migrate_refusals_name_the_field(api, change, field):
    request = {"old": ALICE_OLD, "mac": "AABBCCDDEE01", "model": "8851", **change}
    assert failing_field(api.post("/migrate", request)) == [field]
    assert api.get(f"/devices/{ALICE_OLD}").get_json()["migrated"] is False


def test_records_pages_outcomes_and_csv(api):
    for n in range(3):
        api.post("/migrate", {"old": "SEP0000000000FF", "mac": f"AABBCCDDEE0{n}", "model": "8851"})
    api.post("/migrate", {"old": "SEP001122330002", "mac": "AABBCCDDEE09", "model": "8861"})
    page = api.get("/records?limit=2").get_json()
    assert page["total"] == 4 and page["next"] == "/api/v1/records?limit=2&offset=2" and len(page["items"]) == 2
    assert page["items"][0]["outcome"] == "migrated"  # newest first
    assert api.get("/records?outcome=refused").get_json()["total"] == 3
    assert failing_field(api.get("/records?outcome=lost")) == ["outcome"]
    csv = api.get("/records.csv?outcome=migrated")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("at,door,action,actor") and len(lines) == 2
    assert ",api,replace,token-read+write," in lines[1]


# --- activation codes (M-5) ---------------------------------------------------------------------


def test_activation_codes_issue_list_revoke(api):
    issued = api.post("/activation-codes", {"user": "carol", "model": "8851", "days": 3})
    assert issued.status_code == 201
    body = issued.get_json()
    assert re.fullmatch(r"\d{16}", body["code"]) and body["hint"] == body["code"][-4:] and body["status"] == "valid"
    listed = api.get("/activation-codes").get_json()
    assert listed["total"] == 1 and "code" not in listed["items"][0] and listed["items"][0]["user"] == "carol"
    assert body["code"] not in api.bodies[-1]
    assert failing_field(api.post("/activation-codes", {"user": "nobody", "model": "8851"})) == ["user"]
    assert failing_field(api.post("/activation-codes", {"user": "carol", "model": "CSF"})) == ["model"]
    assert failing_field(api.post("/activation-codes", {"user": "carol", "model": "8851", "days": 0})) == ["days"]
    assert api.delete(f"/activation-codes/{body['id']}").status_code == 204
    assert api.get("/activation-codes").get_json()["items"][0]["status"] == "revoked"
    problem_of(api.delete("/activation-codes/999"), 404, "unknown_code")


# --- no PIN and no hash in any answer ---------------------------------------------------------


def test_no_answer_ever_carries_a_pin_or_a_hash(api):
    """Every endpoint, happy and refused, including the ones that take a PIN or code."""
    api.post("/users", {"user_id": "yuri", "primary_extension": "1077", "pin": "80416"})
    api.post("/users", {"user_id": "yuri2", "pin": "1111"})
    api.put("/users/alice/pin", {"pin": "90357"})
    api.put("/users/alice/pin", {"pin": "7777"})
    api.put("/users/alice/pin", {"pin": ["7314"]})
    api.put("/settings/auth-code", {"code": "13579"})
    api.put("/settings/auth-code", {"code": "1357x"})
    api.patch("/settings", {"auth_code_hash": "x"})
    issued = api.post("/activation-codes", {"user": "dave", "model": "8851"}).get_json()
    api.post("/migrate", {"old": ALICE_OLD, "mac": "AABBCCDDEE01", "model": "8851", "dry_run": True})
    api.post("/migrate", {"old": "SEP001122330002", "mac": "AABBCCDDEE02", "model": "8861"})
    for path in ("/devices?limit=200", "/users?limit=200", "/users/alice", "/users/yuri", "/users/ken", "/settings",
                 "/records", "/records.csv", "/activation-codes", f"/devices/{ALICE_OLD}", "/devices/SEPAABBCCDDEE02"):
        assert api.get(path).status_code == 200
    api.post("/users/ken/unlock")
    api.client.get("/api/v1/openapi.json")

    answers = "\n".join(api.bodies).replace(issued["code"], "").replace(f'"hint": "{issued["hint"]}"', "")
    assert "argon2" not in answers.lower() and "pin_hash" not in answers and "$" not in answers
    for secret in [*PINS, "80416", "90357", "7777", "1111", AUTH_CODE, "13579", "1357x"]:
        assert not re.search(rf"(?<![0-9A-Fa-f]){re.escape(secret)}(?![0-9A-Fa-f])", answers), secret


def test_t7_a_device_carries_its_pools_date_time_group(api):
    """T-7: the API's device view carries the device pool's date/time group."""
    body = api.get("/devices/SEP001122330001", token="read").get_json()
    assert body["device_pool"] == "HQ_DP"
    assert body["date_time_group"] == {"name": "HQ Eastern", "time_zone": "Eastern Standard/Daylight Time",
                                       "olson_time_zone": "America/New_York", "date_template": "M/D/YA",
                                       "ntp_servers": ["192.0.2.123", "ntp.hq.example.com"]}


def test_s8_secure_config_files_through_the_api(api):
    """S-8: a site setting like the others; a device on a secure profile says what it needs."""
    assert api.get("/settings").get_json()["secure_config_files"] == "non_secure"
    assert "says Non-Secure" in api.get("/devices/SEP001122330002").get_json()["security_note"]
    assert api.patch("/settings", json={"secure_config_files": "mapped"}).get_json()["secure_config_files"] == "mapped"
    assert "tells it to use TLS" in api.get("/devices/SEP001122330002").get_json()["security_note"]
    assert api.get("/devices/SEP001122330033").get_json()["security_note"] == ""


def test_t7_device_pools_list_and_set_their_date_time_group(api):
    """T-7: GET lists every pool with its group (the default where none is held); PUT sets one, and
    its phones' views follow; a bad group is a 422 naming the refusal."""
    pools = {p["name"]: p for p in api.get("/device-pools", token="read").get_json()["items"]}
    assert pools["HQ_DP"]["configured"] and pools["HQ_DP"]["date_time_group"]["name"] == "HQ Eastern"
    assert not pools["Default"]["configured"] and pools["Default"]["phones"] > 0
    group = {"name": "Paris", "time_zone": "Romance Standard/Daylight Time", "olson_time_zone": "Europe/Paris",
             "date_template": "D/M/YY", "ntp_servers": ["192.0.2.200"]}
    done = api.put("/device-pools/Default", json=group)
    assert done.status_code == 200 and done.get_json()["date_time_group"] == group and done.get_json()["configured"]
    assert api.get("/devices/SEP001122330010").get_json()["date_time_group"] == group  # carol's, pool Default
    problem_of(api.put("/device-pools/Default", json={**group, "date_template": "DD/MM"}), 422, "bad_datetime_group")
    assert api.put("/device-pools/Default", json=group, token="read").status_code == 403
