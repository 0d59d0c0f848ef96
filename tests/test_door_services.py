"""The doors' services (issue #14): each public method opens and closes its own
transaction, a unit of work for writes and a read scope for reads, takes no
session and answers with public values; and no web view opens a transaction.

The doors' behaviour through these objects is tested door by door
(``test_api.py``, ``test_admin.py``, ``test_screens.py``); here, the shape.
"""

from __future__ import annotations

import inspect
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from models.rules.clock import utcnow
from models.rules.refusals import Refused
from models.services.activation import Activation
from models.services.admins import AdminAccounts, Administrator, Tokens, create_token
from models.services.demo import ADMIN_PASSWORD, ADMIN_USER
from models.services.directory import Directory
from models.services.phones import Phones
from models.services.records import Records
from models.services.site_settings import SiteSettingsService
from models.tables.devices import DeviceCreate, DevicePublic
from models.tables.users import EndUserCreate, EndUserPublic

WEB = Path(__file__).resolve().parent.parent / "phoneservice" / "web"
OPENS = re.compile(r"\.db\.(session|read_session|read_connection|write_connection|shared_reads)\(")
# The one door that opens a scope itself: the screens' per-request shared read transaction (docs/benchmarks.md).
ALLOWED = {("screens/views.py", "shared_reads")}
DOOR_SERVICES = (Directory, Phones, Records, SiteSettingsService, Activation, AdminAccounts, Tokens)


def test_no_web_view_opens_a_transaction():
    found = [(str(path.relative_to(WEB)), m.group(1), path.read_text()[:m.start()].count("\n") + 1)
             for path in sorted(WEB.rglob("*.py")) for m in OPENS.finditer(path.read_text())]
    assert [f for f in found if f[:2] not in ALLOWED] == []


@pytest.mark.parametrize("cls", DOOR_SERVICES, ids=lambda c: c.__name__)
def test_no_public_method_takes_a_session(cls):
    for name, method in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_"):
            assert not {"session", "connection"} & set(inspect.signature(method).parameters), (cls, name)


class Counted:
    """Counts the transactions a ``Database`` opens, by kind."""

    def __init__(self, db, monkeypatch):
        self.opened: list[str] = []
        for kind in ("session", "read_session", "read_connection", "write_connection"):
            monkeypatch.setattr(db, kind, self._counting(kind, getattr(db, kind)))

    def _counting(self, kind, real):
        @contextmanager
        def counted():
            self.opened.append(kind)
            with real() as scope:
                yield scope

        return counted

    def take(self) -> list[str]:
        opened, self.opened = self.opened, []
        return opened


@pytest.fixture
def counted(services, monkeypatch):
    return Counted(services.db, monkeypatch)


def test_each_method_is_one_transaction_of_the_right_kind(services, counted):
    now = utcnow()
    directory, phones, records, settings = services.directory, services.phones, services.records, \
        services.site_settings

    calls = [
        ("read_session", lambda: directory.find("alice", now)),
        ("read_session", lambda: directory.search_page("", limit=5, offset=0, now=now)),
        ("read_session", lambda: directory.search("a", now=now)),
        ("read_session", lambda: directory.details("alice", now)),
        ("session", lambda: directory.add(EndUserCreate(user_id="zed", pin="739164"), now)),
        ("session", lambda: directory.update("zed", {"first_name": "Zed"}, now)),
        ("session", lambda: directory.set_pin("zed", "284061")),
        ("session", lambda: directory.unlock("zed", now)),
        ("session", lambda: directory.set_profile("zed", None)),
        ("read_session", lambda: phones.get("SEP001122330001")),
        ("read_session", lambda: phones.search_page("", migrated=None, limit=5, offset=0)),
        ("read_session", lambda: phones.rows("lobby")),
        ("read_session", lambda: phones.page("SEP001122330001")),
        ("read_session", lambda: phones.migration_form("SEP001122330001")),
        ("session", lambda: phones.add(DeviceCreate(mac="AABBCC001199", model="8851"))),
        ("session", lambda: phones.update("SEPAABBCC001199", {"description": "Desk"})),
        ("session", lambda: phones.set_registration("SEPAABBCC001199", "registered", "sip:9@192.0.2.1")),
        ("session", lambda: phones.delete("SEPAABBCC001199")),
        ("read_session", lambda: records.search_page(outcome=None, limit=5, offset=0)),
        ("read_session", lambda: records.recent()),
        ("read_session", lambda: records.get(1)),
        ("read_session", lambda: records.report()),
        ("read_session", lambda: records.csv("refused")),
        ("read_session", lambda: settings.current()),
        ("session", lambda: settings.change(lockout_threshold=6)),
        ("session", lambda: settings.set_auth_code("24680")),
        ("read_session", lambda: settings.device_defaults()),
        ("session", lambda: settings.set_device_defaults({"8851": ("sip88xx.14-2-1-0101-26", "auto_registration")})),
        ("read_session", lambda: settings.profiles()),
        ("session", lambda: settings.save_profile("Desk", new=True, phone_limit="2")),
        ("read_session", lambda: services.activation.codes(now)),
        ("read_session", lambda: services.admins.enabled(1)),
        ("session", lambda: services.admins.session_key()),
        ("read_session", lambda: services.tokens.name("pm_unknown")),
    ]
    for kind, call in calls:
        call()
        assert counted.take() == [kind], call


def test_public_values_come_out(services):
    now = utcnow()
    user = services.directory.add(EndUserCreate(user_id="yves", pin="739164"), now)
    assert isinstance(user, EndUserPublic) and user.has_pin and not hasattr(user, "pin_hash")
    assert isinstance(services.phones.get("SEP001122330001"), DevicePublic)
    code, issued = services.activation.issue("yves", "8851", now)
    assert len(code) == 16 and issued.hint == code[-4:] and issued.user == "yves" and issued.status == "valid"
    assert [c.id for c in services.activation.codes(now) if c.user == "yves"] == [issued.id]
    assert services.directory.details("yves", now).codes[0].id == issued.id
    services.activation.revoke(issued.id)
    assert services.directory.details("yves", now).codes[0].status == "revoked"


def test_a_refusal_leaves_nothing_written(services):
    now = utcnow()
    with pytest.raises(Refused) as refused:
        services.directory.add(EndUserCreate(user_id="trivial", pin="1234"), now)
    assert refused.value.code == "trivial_pin"
    with pytest.raises(Refused):
        services.directory.find("trivial", now)


def test_admin_login_and_token_scopes(services, counted):
    now = utcnow()
    admin = services.admins.login(ADMIN_USER, ADMIN_PASSWORD, now)
    assert isinstance(admin, Administrator) and admin.username == ADMIN_USER
    assert services.admins.enabled(admin.id) == admin
    assert isinstance(services.admins.login(ADMIN_USER, "wrong password", now), Refused)
    with services.db.session() as session:
        token, _ = create_token(session, "reader", ["read"])
    counted.take()
    assert services.tokens.scopes(token, now) == ["read"]
    assert counted.take() == ["read_session", "session"]  # first use: written
    assert services.tokens.scopes(token, now) == ["read"]
    assert counted.take() == ["read_session"]  # within the minute: read only
    assert services.tokens.scopes("pm_nothing", now) is None
    assert services.tokens.name(token) == "reader"
