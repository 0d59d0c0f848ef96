"""Screen sessions in the database (``models.storage.sessions``): any web process serves any
screen, a session is tied to its phone, idles out, is bounded, and never holds
a secret (A-6)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

import models.storage.sessions as sessions_module
from models.rules.attempt import Attempt
from models.rules.plan import Target
from models.rules.selection import Candidate
from models.services.demo import AUTH_CODE
from models.storage.database import Database
from models.storage.sessions import SessionStore
from models.storage.stamp import current_version
from models.tables.sessions import ScreenSessionRow
from phoneservice.web.app import create_app
from tests.handclock import HandClock

PHONE, OTHER = "SEP00AA11BB22CC", "SEP00AA11BB22CD"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def rows(db) -> list[tuple[str, str]]:
    """(id, the state as the JSON text stored)."""
    table = ScreenSessionRow.__table__
    with db.read_session() as s:
        return [(sid, json.dumps(state)) for sid, state in s.execute(select(table.c.id, table.c.state))]


def test_a_session_written_by_one_process_is_read_by_another(db, sqlite_url):
    """Nothing lives in the process: a second Database on the file (as another web
    process would open it) reads the Attempt back whole."""
    attempt = Attempt(door="screen", new_device=PHONE, new_model="8851", failures=1, dn_id=7, extension="1001",
                      user_id=3, user_name="alice", role="user",
                      candidates=(Candidate("SEP001122330011", "Cisco 7965", "Alice's desk", False),),
                      target=Target(mac=PHONE, model="8851", protocol="SIP"))
    created = SessionStore(db).create(PHONE, attempt, "8851")
    created.chosen = "SEP001122330011"
    SessionStore(db).save(created)
    other = Database(sqlite_url)
    try:
        found = SessionStore(other).get(created.id, PHONE)
    finally:
        other.dispose()
    assert found is not None
    assert found.attempt == attempt and found.model == "8851" and found.chosen == "SEP001122330011"


def test_a_new_session_costs_no_write_and_only_its_phone_may_use_it(db):
    """The first screen writes nothing: the id is signed for this phone (and its model)."""
    store = SessionStore(db)
    sess = store.create(PHONE, Attempt(door="screen", new_device=PHONE, new_model="CP-8851"), "CP-8851")
    assert rows(db) == []
    fresh = store.get(sess.id, PHONE)
    assert fresh is not None and fresh.attempt == Attempt(door="screen", new_device=PHONE, new_model="CP-8851")
    assert fresh.model == "CP-8851"
    store.save(fresh)  # nothing changed: still nothing written
    assert rows(db) == []
    rand, stamp, model, sig = sess.id.split(".")
    assert store.get(sess.id, OTHER) is None  # another phone holding the id
    assert store.get(f"{rand}.{stamp}.7960.{sig}", PHONE) is None  # the model can't be changed
    other_rand = rand[:-1] + ("A" if rand[-1] != "A" else "B")
    assert store.get(f"{other_rand}.{stamp}.{model}.{sig}", PHONE) is None
    assert store.get(None, PHONE) is None and store.get("x" * 200, PHONE) is None and store.get("a.b.c.d", PHONE) is None
    assert store.get(f"{rand}.{stamp}.{model}.é{sig[1:]}", PHONE) is None  # not ASCII: refused, not an error
    assert len(rand) >= 16  # 96 random bits
    assert SessionStore(db, key=b"another site").get(sess.id, PHONE) is None


def test_an_ended_session_cannot_start_over(db):
    store = SessionStore(db)
    sess = store.create(PHONE, Attempt(door="screen", new_device=PHONE), None)
    store.end(sess)  # never written before: a tombstone
    assert store.get(sess.id, PHONE) is None
    later = store.create(PHONE, Attempt(door="screen", new_device=PHONE), None)
    later.attempt.failures = 2
    store.save(later)
    store.end(store.get(later.id, PHONE))
    assert store.get(later.id, PHONE) is None


def test_a_session_idles_out_and_each_change_keeps_it_alive(db):
    clock = HandClock(T0)
    store = SessionStore(db, ttl=600, clock=clock)
    sess = store.create(PHONE, Attempt(door="screen", new_device=PHONE), None)
    untouched = store.create(PHONE, Attempt(door="screen", new_device=PHONE), None)
    clock.now += timedelta(seconds=500)
    sess.attempt.failures = 1  # a screen changed it: written, and touched
    store.save(sess)
    clock.now += timedelta(seconds=500)
    assert store.get(sess.id, PHONE) is not None
    assert store.get(untouched.id, PHONE) is None  # never written: 600 s from the first screen
    clock.now += timedelta(seconds=101)
    assert store.get(sess.id, PHONE) is None


def test_an_unchanged_session_is_not_written(db, monkeypatch):
    store = SessionStore(db)
    sess = store.create(PHONE, Attempt(door="screen", new_device=PHONE), None)
    sess.attempt.failures = 1
    store.save(sess)
    writes = []
    real = db.write_connection
    monkeypatch.setattr(db, "write_connection", lambda: writes.append(1) or real())
    store.save(store.get(sess.id, PHONE))
    assert writes == []


def test_sessions_are_bounded_and_expired_ones_pruned(db, monkeypatch):
    monkeypatch.setattr(sessions_module, "PRUNE_EVERY", 1)
    clock = HandClock(T0)
    store = SessionStore(db, ttl=600, limit=5, clock=clock)

    def written():
        sess = store.create(PHONE, Attempt(door="screen"), None)
        sess.attempt.failures = 1
        store.save(sess)
        return sess

    stale = written()
    clock.now += timedelta(seconds=601)
    made = []
    for _ in range(8):
        clock.now += timedelta(seconds=1)
        made.append(written())
    kept = {r[0] for r in rows(db)}
    assert stale.id not in kept
    assert len(kept) <= 6 and made[-1].id in kept and made[0].id not in kept  # the oldest went first


def test_sessions_never_move_the_site_stamp(db):
    """A screen session is not configuration: writing one must not invalidate every cached file."""
    store = SessionStore(db)
    store.key()  # the site's web secret, made once for the admin UI anyway
    with db.read_session() as s:
        before = current_version(s)
    sess = store.create(PHONE, Attempt(door="screen"), None)
    sess.chosen = "SEP001122330011"
    store.save(sess)
    store.end(sess)
    with db.read_session() as s:
        assert current_version(s) == before


def _walk(services, pin_or_code: str, ext: str, seen: list[str]):
    """Menu -> identify -> extension -> PIN, reading the session rows after each screen."""
    client = create_app(services).test_client()
    headers = {"x-CiscoIPPhoneModelName": "CP-8851"}

    def get(url: str) -> str:
        parts = urlsplit(url)
        body = client.get(parts.path + "?" + parts.query, headers=headers).data.decode()
        seen.extend(state for _, state in rows(services.db))
        return body

    def url(body: str, step: str) -> str:
        return re.search(rf"<URL>([^<]*{step}[^<]*)</URL>", body).group(1).replace("&amp;", "&")

    form = get(url(get(f"/screens/?name={PHONE}"), "identify"))
    action = url(get(url(form, "identified") + "&ext=" + ext), "authenticated")
    assert parse_qs(urlsplit(action).query)["s"]
    return get, get(action + "&pin=" + pin_or_code), url


@pytest.mark.parametrize("ext,secret", [("1012", "1739"), ("1099", AUTH_CODE)])
def test_a6_a_session_row_never_holds_the_pin_or_the_code(services, ext, secret):
    """A-6: the PIN and the authentication code arrive once and are never stored
    in a session (the rows are read after every screen of the flow)."""
    seen: list[str] = []
    _walk(services, secret, ext, seen)
    assert seen, "the flow kept a session"
    for state in seen:
        assert secret not in state


def test_a_completed_flow_ends_its_session_with_the_migration(services):
    seen: list[str] = []
    get, preview, url = _walk(services, "1739", "1012", seen)  # olivia: straight to the preview (D-3)
    assert len(rows(services.db)) == 1  # waiting for Confirm
    confirm = url(preview, "confirm")
    done = get(confirm)
    assert "takes over the settings" in done
    assert [json.loads(state) for _, state in rows(services.db)] == [{"ended": True}]
    assert "already set up" in get(confirm)  # a second Confirm finds no session: the first screen (M-3)
