"""The admin web UI through the Flask test client, CSRF on (C-13, C-15, S-1..S-7,
M-5, A-4, A-6). Every response is checked for a hash or a demo PIN."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from flask import Blueprint, url_for
from sqlmodel import select

from models.rules import auth
from models.rules.clock import utcnow
from models.rules.refusals import SAYS
from models.rules.settings import EDITABLE
from models.services import admins, site
from models.services.admins import create_admin
from models.services.demo import ADMIN_PASSWORD, ADMIN_USER, AUTH_CODE, USERS
from models.storage.settings import WEB_SECRET_KEY, load_settings, web_secret
from models.tables.activation import ActivationCode
from models.tables.devices import Device
from models.tables.records import MigrationRecord
from models.tables.settings import DeviceDefaults, SiteSetting
from models.tables.users import AuthCodeThrottle, CredentialState, EndUser, UserProfile
from phoneservice.web.admin.settings import SECTIONS
from phoneservice.web.app import create_app

ALICE_7965, NEW_MAC, NEW_NAME = "SEP001122330001", "00:11:22:33:44:55", "SEP001122334455"
SECRETS = [pin for *_, pin in USERS] + [AUTH_CODE]
SAMPLE_ARGS = {"name": ALICE_7965, "user_id": "alice", "record_id": 1, "code_id": 1, "section": "enterprise",
               "username": "admin", "token_id": 1, "row": 2, "job_id": "no-such-import"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def assert_clean(body: str, allow: str = "") -> None:
    """A-6: no page shows a hash or a PIN.

    An activation code's hint ("…" and its last 4 digits, random) may equal a demo PIN by
    chance (13 PINs: 1 in about 770 a code): a number right after "…" is a hint, not a PIN."""
    body = body.replace(allow, "") if allow else body
    assert "argon2" not in body.lower()
    for secret in SECRETS:
        assert not re.search(rf"(?<![0-9A-Za-z…]){secret}(?![0-9A-Za-z])", body), f"{secret} on a page"


class Browser:
    """A test client that checks every answer and takes the CSRF token from the page, as a browser does."""

    def __init__(self, client):
        self.client = client

    def get(self, url: str, status: int = 200):
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:2000])
        assert_clean(response.get_data(as_text=True))
        return response

    def submit(self, page: str, action: str, data: dict, status: int = 302, allow: str = ""):
        """GET ``page``, take the token from its form, POST ``data`` to ``action``."""
        token = TOKEN.search(self.get(page).get_data(as_text=True)).group(1)
        response = self.client.post(action, data={**data, "csrf_token": token})
        body = response.get_data(as_text=True)
        assert response.status_code == status, (action, response.status_code, body[:3000])
        assert_clean(body, allow)
        return response

    def login(self, username=ADMIN_USER, password=ADMIN_PASSWORD, status=302, next_url=""):
        page = "/admin/login" + (f"?next={next_url}" if next_url else "")
        return self.submit(page, page, {"username": username, "password": password}, status)

    def text(self, url: str) -> str:
        return text_of(self.get(url))


def text_of(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", body.replace("&#39;", "'").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
                  .replace("&#34;", '"').replace("&quot;", '"'))


@pytest.fixture
def app(services):
    return create_app(services)


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def admin(browser):
    browser.login()
    return browser


def admin_rules(app, method: str):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.") and method in r.methods]
    with app.test_request_context():
        return [url_for(r.endpoint, **{a: SAMPLE_ARGS[a] for a in r.arguments}) for r in rules
                if r.endpoint not in ("admin.login", "admin.stylesheet")]


def count(services, table) -> int:
    with services.db.session() as s:
        return len(s.exec(select(table)).all())


# --- login, session, CSRF -------------------------------------------------------------


def test_every_page_needs_login(app, browser):
    urls = admin_rules(app, "GET")
    assert len(urls) >= 13
    for url in urls:
        response = browser.get(url, status=302)
        assert response.headers["Location"].startswith("/admin/login"), url
    token = TOKEN.search(browser.get("/admin/login").get_data(as_text=True)).group(1)
    for url in admin_rules(app, "POST"):
        response = browser.client.post(url, data={"csrf_token": token, "pin": "846195", "pin_again": "846195"})
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login"), url
    assert browser.get("/admin/admin.css").mimetype == "text/css"


def test_login_then_logout(browser):
    response = browser.login(next_url="/admin/users")
    assert response.headers["Location"] == "/admin/users"
    assert "Log out" in browser.text("/admin/")
    cookie = browser.client.get_cookie("pm_admin")
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.expires is not None
    browser.submit("/admin/", "/admin/logout", {})
    assert "You are logged out" in browser.text("/admin/login")
    assert browser.get("/admin/phones", status=302).headers["Location"].startswith("/admin/login")


def test_login_never_redirects_off_site(browser):
    assert browser.login(next_url="https://evil.example/admin").headers["Location"] == "/admin/"


def test_wrong_password_and_unknown_user_get_one_answer(browser):
    for username, password in ((ADMIN_USER, "not-the-password"), ("mallory", ADMIN_PASSWORD), ("", "")):
        response = browser.login(username, password, status=401)
        assert "The user name or password is not valid" in text_of(response)
    assert browser.get("/admin/", status=302)


def test_a4_five_failed_logins_block_the_user_name_for_15_minutes(app, services, browser):
    with services.db.session() as s:
        create_admin(s, "second", "second-admin-pw")
    for _ in range(admins.ADMIN_LOGIN_MAX_FAILURES):
        browser.login(ADMIN_USER, "wrong-password", status=401)
    response = browser.login(ADMIN_USER, ADMIN_PASSWORD, status=401)
    assert "Too many failed logins" in text_of(response)
    other = Browser(app.test_client())
    other.login("second", "second-admin-pw")  # per user name, not global
    later = utcnow() + timedelta(minutes=admins.ADMIN_LOGIN_BLOCK_MINUTES + 1)
    app.config["ADMIN_CLOCK"] = lambda: later
    browser.login(ADMIN_USER, ADMIN_PASSWORD)


def test_session_ends_after_30_idle_minutes(app, admin):
    start = utcnow()
    app.config["ADMIN_CLOCK"] = lambda: start + timedelta(minutes=29)
    admin.get("/admin/phones")  # activity moves the idle window on
    app.config["ADMIN_CLOCK"] = lambda: start + timedelta(minutes=58)
    admin.get("/admin/users")
    app.config["ADMIN_CLOCK"] = lambda: start + timedelta(minutes=89)
    response = admin.get("/admin/users", status=302)
    assert response.headers["Location"].startswith("/admin/login")
    assert "timed out" in admin.text("/admin/login")
    assert admin.get("/admin/users", status=302)


def test_posts_without_csrf_token_are_refused(app, services, admin):
    before = count(services, MigrationRecord)
    for url in admin_rules(app, "POST") + ["/admin/login"]:
        for data in ({}, {"csrf_token": "forged"}):
            response = admin.client.post(url, data={**data, "pin": "846195", "pin_again": "846195", "mac": NEW_MAC,
                                                    "model": "8861", "by": "type"})
            assert response.status_code == 400, url
            assert "expired or did not come from this site" in text_of(response)
    assert count(services, MigrationRecord) == before
    with services.db.session() as s:
        assert not auth.verify_secret(site.find_user(s, "alice").pin_hash, "846195")
    assert "Log out" in admin.text("/admin/")  # still logged in: the logout POST was refused too


def test_bearer_token_api_is_exempt_but_admin_never(services):
    from flask import Flask

    from phoneservice.web import admin

    app = Flask("probe")
    app.extensions["phone_migration"] = services
    admin.init_app(app)
    app.register_blueprint(admin.blueprint)
    api = Blueprint("api", __name__, url_prefix="/api/v1")
    api.add_url_rule("/ping", "ping", lambda: {"ok": True}, methods=["POST"])
    app.register_blueprint(api)  # registered after init_app: the check is by name, at request time
    other = Blueprint("other", __name__)
    other.add_url_rule("/other", "other", lambda: {"ok": True}, methods=["POST"])
    app.register_blueprint(other)
    client = app.test_client()
    bearer = {"Authorization": "Bearer pm_x"}
    assert client.post("/api/v1/ping").status_code == 200
    assert client.post("/other", headers=bearer).status_code == 200
    assert client.post("/other").status_code == 400
    assert client.post("/admin/logout", headers=bearer).status_code == 400
    real = create_app(services).test_client()  # the REST API answers for itself: 401, not a CSRF 400
    posts = [r.rule for r in real.application.url_map.iter_rules()
             if r.endpoint.startswith("api.") and "POST" in r.methods and not r.arguments]
    for rule in posts:
        assert real.post(rule, headers=bearer).status_code == 401, rule


def test_secret_key_is_made_once_and_shared_but_never_shown(services, admin):
    other = create_app(services)
    assert other.secret_key == admin.client.application.secret_key and len(other.secret_key) >= 40
    with services.db.session() as s:
        assert web_secret(s) == other.secret_key
        assert WEB_SECRET_KEY not in load_settings(s).public()
    for url in ("/admin/settings", "/admin/settings/device-defaults", "/admin/settings/profiles"):
        assert other.secret_key not in admin.get(url).get_data(as_text=True)


def test_every_admin_page_renders_without_secrets(app, admin):
    for url in admin_rules(app, "GET"):
        if url in ("/admin/migrations/1", "/admin/migrations/1/undo") or url.startswith(
                ("/admin/tasks/", "/admin/waves/", "/admin/bat/import/")):
            admin.get(url, status=404)  # nothing of that id here: a page that says so
        else:
            admin.get(url)
    admin.get("/admin/phones/SEPFFFFFFFFFFFF", status=404)
    admin.get("/admin/users/nobody", status=404)
    response = admin.get("/admin/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


# --- phones, Migrate Phone ----------------------------------------------------------------


def migrate_form(**fields):
    return {"mac": NEW_MAC, "by": "type", "model": "8861", "protocol": "", "template": "", "description": "", **fields}


def test_c15_preview_then_confirm_migrates_alices_7965_to_an_8861(services, admin):
    page = f"/admin/phones/{ALICE_7965}"
    preview = admin.submit(f"{page}/migrate", f"{page}/migrate/preview", migrate_form(), status=200)
    text = text_of(preview)
    assert "What the Cisco 8861 will lose" in text
    assert "intercom line 3001 stays on the old phone" in text
    assert 'product-specific parameter "Logging Display" is not supported by Cisco 8861' in text
    assert "lines 6 and 7 will move to the KEM" in text and "BEKEM" in text
    assert f"Confirm: migrate {ALICE_7965} to {NEW_NAME}" in text
    with services.db.session() as s:  # the preview changed nothing
        assert s.exec(select(Device).where(Device.name == NEW_NAME)).first() is None

    token = TOKEN.search(preview.get_data(as_text=True)).group(1)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', preview.get_data(as_text=True)))
    response = admin.client.post(f"{page}/migrate", data={**hidden, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/migrations/")
    result = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert f'href="/admin/phones/{NEW_NAME}"' in result and "picks up its new settings" in result

    new = admin.text(f"/admin/phones/{NEW_NAME}")
    assert "Cisco 8861 SIP" in new and "Alice's desk (old 7965)" in new and "BEKEM" in new
    old = admin.text(page)
    assert f"has been migrated to {NEW_NAME}" in old and "Migrate Phone" not in old.split("Device")[0]
    report = admin.text("/admin/report")
    assert f"{ALICE_7965} Alice's desk (old 7965) 7965 SCCP alice {NEW_NAME}" in report
    assert "admin:admin" in report
    assert ALICE_7965 in admin.text("/admin/phones?filter=migrated")

    download = admin.get("/admin/report.csv")
    assert download.mimetype == "text/csv" and "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    migrated = [r for r in rows if r["outcome"] == "migrated"]
    assert [(r["door"], r["old_device"], r["new_device"], r["new_model"]) for r in migrated] == \
        [("admin", ALICE_7965, NEW_NAME, "8861")]
    assert "move to the KEM" in migrated[0]["warnings"]


def test_c15_by_phone_template(services, admin):
    page = "/admin/phones/SEP001122330040"  # the lobby 7945, no owner
    preview = text_of(admin.submit(f"{page}/migrate", f"{page}/migrate/preview",
                                   migrate_form(by="template", template="Standard 8851 SIP", model=""), status=200))
    assert "Cisco 8851 SIP" in preview and "Standard 8851 SIP (standard)" in preview
    assert "none (common area)" in preview


@pytest.mark.parametrize("fields, status, message", [
    ({"mac": "00:11:22"}, 422, "is not a MAC address"),
    ({"model": "CSF"}, 422, "Jabber client"),
    ({"by": "template", "template": "No Such Template"}, 422, 'no phone template named "No Such Template"'),
    ({"mac": "001122330002"}, 422, "a phone named SEP001122330002 already exists; delete it first or choose another MAC"),
])
def test_c15_refusals_at_preview_show_the_message_and_change_nothing(services, admin, fields, status, message):
    """C-15: the preview refuses what Confirm would (a taken MAC says what the engine says, not "Nothing is lost")."""
    before = count(services, Device)
    page = f"/admin/phones/{ALICE_7965}"
    text = text_of(admin.submit(f"{page}/migrate", f"{page}/migrate/preview", migrate_form(**fields), status=status))
    assert message in text and "Nothing was changed" in text
    assert count(services, Device) == before
    assert message in admin.text("/admin/report?outcome=refused")  # C-13: the refusal is recorded


def test_c15_refusals_at_confirm(services, admin):
    page = f"/admin/phones/{ALICE_7965}"
    taken = text_of(admin.submit(page, f"{page}/migrate", migrate_form(mac="001122330002"), status=409))
    assert "a phone named SEP001122330002 already exists" in taken and "Nothing was changed" in taken
    video = "/admin/phones/SEP001122330030"
    text = text_of(admin.submit(video, f"{video}/migrate", migrate_form(), status=409))
    assert "can only be migrated to a video endpoint" in text
    admin.submit(page, f"{page}/migrate", migrate_form())
    again = text_of(admin.submit(page, f"{page}/migrate", migrate_form(mac="00:11:22:33:44:66"), status=409))
    assert SAYS["already_migrated"] in again  # C-12: the words every door uses
    audit = admin.text("/admin/report?outcome=refused")
    assert "Audit of refusals" in audit and "mac_in_use" in audit and "video_to_audio" in audit
    refusals = list(csv.DictReader(io.StringIO(admin.get("/admin/report.csv?outcome=refused").get_data(as_text=True))))
    assert {r["code"] for r in refusals} == {"mac_in_use", "video_to_audio", "already_migrated"}
    assert all(r["door"] == "admin" and r["actor"] == "admin:admin" for r in refusals)


def test_phone_page_shows_lines_kem_template_profile_params(admin):
    text = admin.text(f"/admin/phones/{ALICE_7965}")
    assert "1 line 1001 Internal_PT Alice Alice shared phone" in text
    assert "6 line 1023 Internal_PT Night Night phone" in text  # 7965: 6 line keys
    assert "7 line 1024 Internal_PT Overflow Overflow on KEM" in text
    assert "8 line 3001 Intercom_PT Intercom intercom on KEM" in text
    assert "9 speed dial 1003 Carol on KEM" in text
    assert "Custom 7965 SCCP" in text and "Cisco 7965 - Standard SCCP Non-Secure Profile" in text
    assert "7914" in text and "Web Access webAccess 1" in text and "Registration unregistered" in text


def test_c13_search_by_name_mac_description_dn_owner_model(admin):
    def found(query: str) -> set[str]:
        return set(re.findall(r"SEP[0-9A-F]{12}", admin.text(f"/admin/phones?q={query}").split("Status", 1)[1]))

    assert found("alice") == {ALICE_7965}
    assert found("1001") == {ALICE_7965, "SEP001122330002"}  # bob shares 1001 on line 2
    assert found("00:11:22:33:00:01") == found("0011.2233.0001") == found("sep001122330001") == {ALICE_7965}
    assert found("lobby") == {"SEP001122330040"}
    assert found("7965") == {ALICE_7965}
    assert "SEP001122330030" in found("8865")
    assert found("nothing-like-this") == set()
    assert "No phone matches" in admin.text("/admin/phones?filter=migrated")


# --- users -------------------------------------------------------------------------------


def test_users_search_and_page_never_show_a_pin(admin):
    text = admin.text("/admin/users?q=1003")
    assert "carol" in text and "alice" not in text
    page = admin.text("/admin/users/alice")
    assert "PIN set" in page and ALICE_7965 in page and "Standard Users" in page and "Phone limit 10" in page


def test_set_pin_refuses_a_trivial_pin_then_sets_a_good_one(services, admin):
    page = "/admin/users/alice"
    with services.db.session() as s:
        before = site.find_user(s, "alice").pin_hash
    trivial = text_of(admin.submit(page, f"{page}/pin", {"pin": "1111", "pin_again": "1111"}, status=422))
    assert "That PIN is too easy to guess (the same digit repeated); choose another." in trivial
    assert "1111" not in trivial
    mismatch = text_of(admin.submit(page, f"{page}/pin", {"pin": "846195", "pin_again": "846196"}, status=422))
    assert "not the same" in mismatch
    with services.db.session() as s:
        assert site.find_user(s, "alice").pin_hash == before
    admin.submit(page, f"{page}/pin", {"pin": "846195", "pin_again": "846195"})
    assert "New PIN set for alice" in admin.text(page)
    with services.db.session() as s:
        assert auth.verify_secret(site.find_user(s, "alice").pin_hash, "846195")


def test_unlock_a_locked_user(services, admin):
    assert "ken Ken Demo 1011 51011 Standard Users set locked" in admin.text("/admin/users?q=ken")
    admin.submit("/admin/users/ken", "/admin/users/ken/unlock", {})
    assert "ken is unlocked" in admin.text("/admin/users/ken")
    assert "State active" in admin.text("/admin/users/ken")
    with services.db.session() as s:
        user = site.find_user(s, "ken")
        assert s.get(CredentialState, user.id).locked_at is None


def test_s7_user_profile_of_a_user(services, admin):
    page = "/admin/users/alice"
    admin.submit(page, f"{page}/profile", {"profile": "Hot Desk Users"})
    assert "Phone limit 2" in admin.text(page)
    assert "no user profile" in text_of(admin.submit(page, f"{page}/profile", {"profile": "Nope"}, status=422))


# --- settings ------------------------------------------------------------------------------


def test_every_editable_setting_has_a_form():
    assert sorted(k for _, keys in SECTIONS.values() for k in keys) == sorted(EDITABLE)


def settings_of(services):
    with services.db.session() as s:
        return load_settings(s)


def section_form(services, section: str, **changes) -> dict:
    current = settings_of(services).model_dump()
    form = {}
    for key in SECTIONS[section][1]:
        value = changes.get(key, current[key])
        if isinstance(value, bool):
            if value:
                form[key] = "on"
        else:
            form[key] = ", ".join(value) if isinstance(value, list) else str(value)
    return form


def test_s1_to_s5_settings_save_and_invalid_values_name_the_field(services, admin):
    admin.submit("/admin/settings", "/admin/settings/enterprise",
                 section_form(services, "enterprise", replacement_policy="delete", identification="self_service_user_id"))
    assert settings_of(services).replacement_policy == "delete"
    assert "Enterprise parameters (S-1 to S-3) saved" in admin.text("/admin/settings")

    bad = admin.submit("/admin/settings", "/admin/settings/credential-policy",
                       section_form(services, "credential-policy", lockout_threshold="many"), status=422)
    assert 'setting "lockout_threshold"' in text_of(bad) and 'value="many"' in bad.get_data(as_text=True)
    assert re.search(r'<label class="invalid">\s*Failed PINs before lockout', bad.get_data(as_text=True))
    bad = admin.submit("/admin/settings", "/admin/settings/auto-registration",
                       section_form(services, "auto-registration", autoreg_start_dn="9100", autoreg_end_dn="9000"),
                       status=422)
    assert "autoreg_start_dn" in text_of(bad) and 'value="9100"' in bad.get_data(as_text=True)
    assert re.search(r'<label class="invalid">\s*Starting directory number', bad.get_data(as_text=True))
    bad = admin.submit("/admin/settings", "/admin/settings/enterprise",
                       section_form(services, "enterprise", replacement_policy="shred"), status=422)
    assert 'setting "replacement_policy"' in text_of(bad)
    current = settings_of(services)
    assert (current.lockout_threshold, current.autoreg_start_dn, current.replacement_policy) == (3, "9000", "delete")

    admin.submit("/admin/settings", "/admin/settings/auto-registration",
                 section_form(services, "auto-registration", autoreg_enabled=False, autoreg_end_dn="9199"))
    assert (settings_of(services).autoreg_enabled, settings_of(services).autoreg_end_dn) == (False, "9199")
    admin.submit("/admin/settings", "/admin/settings/self-provisioning",
                 section_form(services, "self-provisioning", ivr_languages=["fr", "en"]))
    assert settings_of(services).ivr_languages == ["fr", "en"]


def test_s4_auth_code_has_its_own_form_and_is_never_shown(services, admin):
    assert "Currently: set" in admin.text("/admin/settings")
    bad = admin.submit("/admin/settings", "/admin/settings/auth-code", {"code": "12ab", "code_again": "12ab"}, status=422)
    assert "0 to 20 digits" in text_of(bad)
    admin.submit("/admin/settings", "/admin/settings/auth-code", {"code": "1", "code_again": "2"}, status=422)
    admin.submit("/admin/settings", "/admin/settings/auth-code", {"code": "80417263", "code_again": "80417263"})
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "80417263" not in page and "Authentication code set" in page
    assert auth.verify_secret(settings_of(services).auth_code_hash, "80417263")


def test_s6_device_defaults_per_model(services, admin):
    page = "/admin/settings/device-defaults"
    admin.submit(page, page, {"load:8861": "sip88xx.14-3-1-0001-1", "onboarding:8861": "activation_code",
                              "load:8851": "", "onboarding:8851": ""})
    with services.db.session() as s:
        row = s.get(DeviceDefaults, "8861")
        assert (row.load, row.onboarding_method) == ("sip88xx.14-3-1-0001-1", "activation_code")
        assert s.get(DeviceDefaults, "8851") is None  # "not set": M-1's none set
    assert 'value="sip88xx.14-3-1-0001-1"' in admin.get(page).get_data(as_text=True)
    bad = admin.submit(page, page, {"load:8861": "../../etc/passwd", "onboarding:8861": ""}, status=422)
    assert 'load for 8861: "../../etc/passwd" is not a load name' in text_of(bad)
    bad = admin.submit(page, page, {"load:8841": "", "onboarding:8841": "carrier_pigeon"}, status=422)
    assert "onboarding method for 8841" in text_of(bad)
    with services.db.session() as s:
        assert s.get(DeviceDefaults, "8861").load == "sip88xx.14-3-1-0001-1"


def test_s7_user_profiles(services, admin):
    page = "/admin/settings/profiles"
    form = {"new": "1", "name": "Lobby Users", "phone_limit": "3", "allow_self_provisioning": "on",
            "universal_device_template": "Lobby UDT", "universal_line_template": "Lobby ULT"}
    admin.submit(page, page, form)
    with services.db.session() as s:
        row = s.exec(select(UserProfile).where(UserProfile.name == "Lobby Users")).one()
        assert (row.phone_limit, row.allow_self_provisioning, row.allow_reassign_from_other_user) == (3, True, False)
    bad = admin.submit(page, page, {**form, "name": "Standard Users", "phone_limit": "many", "new": ""}, status=422)
    assert 'profile "phone_limit"' in text_of(bad) and 'value="many"' in bad.get_data(as_text=True)
    assert "already exists" in text_of(admin.submit(page, page, form, status=422))
    admin.submit(page, page, {**form, "new": "", "name": "Standard Users", "phone_limit": "4"})
    with services.db.session() as s:
        assert s.exec(select(UserProfile).where(UserProfile.name == "Standard Users")).one().phone_limit == 4


# --- activation codes (M-5) ------------------------------------------------------------------


def test_m5_activation_code_issue_list_revoke(services, admin):
    page = "/admin/activation-codes"
    token = TOKEN.search(admin.get(page).get_data(as_text=True)).group(1)
    response = admin.client.post(page, data={"user": "alice", "model": "8851", "days": "7", "csrf_token": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    code = re.search(r'<p class="code">(\d{4}-\d{4}-\d{4}-\d{4})</p>', body).group(1)
    assert_clean(body, allow=code)
    listing = admin.text(page)
    assert code not in listing and f"…{code[-4:]} alice 8851" in listing and "valid" in listing
    assert f"…{code[-4:]}" in admin.text("/admin/users/alice")
    with services.db.session() as s:
        row = s.exec(select(ActivationCode)).one()
    admin.submit(page, f"{page}/{row.id}/revoke", {})
    assert "revoked" in admin.text(page)
    refused = admin.submit(page, page, {"user": "alice", "model": "7965", "days": "7"}, status=422)
    assert "can't be onboarded with an activation code" in text_of(refused)
    assert "1 to 365" in text_of(admin.submit(page, page, {"user": "alice", "model": "8851", "days": "0"}, status=422))
    assert count(services, ActivationCode) == 1


def test_a6_no_hash_or_pin_anywhere_after_a_busy_session(services, admin):
    """Walks every page after changes; ``Browser`` checks each answer."""
    page = f"/admin/phones/{ALICE_7965}"
    admin.submit(page, f"{page}/migrate", migrate_form())
    admin.submit("/admin/users/bob", "/admin/users/bob/pin", {"pin": "5093", "pin_again": "5093"}, status=302)
    for url in ("/admin/", "/admin/phones", f"/admin/phones/{NEW_NAME}", "/admin/users", "/admin/users/bob",
                "/admin/settings", "/admin/report", "/admin/report.csv", "/admin/activation-codes"):
        admin.get(url)
    with services.db.session() as s:
        assert s.get(SiteSetting, WEB_SECRET_KEY) is not None
        assert s.exec(select(EndUser).where(EndUser.user_id == "bob")).one().pin_hash.startswith("$argon2")


def test_a4_login_counters_of_made_up_names_are_pruned_after_their_window(services):
    """A login attempt per invented user name must not leave a row forever; a
    blocked name keeps its row until the block ends."""
    t0 = utcnow()
    for name in ("nobody-1", "nobody-2"):
        assert admins.admin_login(services.db, name, "guess", t0).code == "bad_login"
    for _ in range(admins.ADMIN_LOGIN_MAX_FAILURES):
        admins.admin_login(services.db, "blocked-name", "guess", t0)
    def keys() -> set[str]:
        with services.db.read_session() as s:
            return set(s.exec(select(AuthCodeThrottle.device_name)).all())

    assert {"admin:nobody-1", "admin:nobody-2", "admin:blocked-name"} <= keys()
    window = timedelta(minutes=admins.ADMIN_LOGIN_BLOCK_MINUTES)
    admins.admin_login(services.db, "nobody-3", "guess", t0 + window - timedelta(minutes=1))
    assert {"admin:nobody-1", "admin:blocked-name"} <= keys()  # still inside their window
    admins.admin_login(services.db, "nobody-4", "guess", t0 + window + timedelta(minutes=1))
    assert not {"admin:nobody-1", "admin:nobody-2"} & keys()
    assert {"admin:nobody-3", "admin:nobody-4"} <= keys()
    # the blocked name's block ended at t0 + window: pruned at the next failure after that
    assert "admin:blocked-name" not in keys()


def test_t7_a_phones_page_shows_its_pools_date_time_group(admin):
    """T-7: where the admin UI shows a phone's device pool, it shows the pool's date/time group."""
    text = admin.text(f"/admin/phones/{ALICE_7965}")
    assert "Device pool HQ_DP" in text
    assert ("Date/time group HQ Eastern: Eastern Standard/Daylight Time (America/New_York), dates M/D/YA, "
            "NTP 192.0.2.123, ntp.hq.example.com") in text


def test_s8_secure_config_files_is_a_setting_and_a_secure_phones_page_says_what_it_needs(admin):
    """S-8: the setting is edited with the enterprise parameters; a phone on a secure profile
    says on its page that it needs a trust list this product cannot issue."""
    assert "Config file of a phone on a secure profile" in admin.text("/admin/settings")
    bob = admin.text("/admin/phones/SEP001122330002")
    assert "Corp Authenticated SIP is a secure profile (Authenticated)" in bob and "trust list (CTL/ITL file)" in bob
    assert "trust list" not in admin.text("/admin/phones/SEP001122330033")  # Non-Secure
