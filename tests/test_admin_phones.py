"""C-13's Find and List Phones with a real count, sortable columns and a search per field; a phone
edited, deleted and restarted (C-14) from the admin UI and the API, through the services every door uses."""

from __future__ import annotations

import re

from phoneservice.web.app import create_app
from tests.test_admin import ALICE_7965, Browser, text_of
from tests.test_api import DEMO_DEVICES, api, problem_of  # noqa: F401  (the API fixture)


def _admin(services) -> Browser:
    admin = Browser(create_app(services).test_client())
    admin.login()
    return admin


def _names(html: str) -> list[str]:
    return re.findall(r'<tr>\s*<td><a href="/admin/phones/(SEP[0-9A-F]{12}|BAT[0-9A-F]+)">', html)


def test_c13_the_list_counts_sorts_and_searches_by_field(services):
    """C-13: the whole count (not "200+"), a column's order both ways, and each field's own search."""
    admin = _admin(services)
    assert f"{DEMO_DEVICES} phones." in admin.text("/admin/phones")
    by_model = _names(admin.get("/admin/phones?sort=model").get_data(as_text=True))
    models = re.findall(r"</a></td><td>[^<]*</td><td>(\w+)</td>", admin.get("/admin/phones?sort=model").get_data(as_text=True))
    assert models == sorted(models) and len(by_model) == DEMO_DEVICES
    down = re.findall(r"</a></td><td>[^<]*</td><td>(\w+)</td>",
                      admin.get("/admin/phones?sort=model&dir=desc").get_data(as_text=True))
    assert down == sorted(down, reverse=True)
    assert 'href="/admin/phones?sort=model&amp;dir=desc"' in admin.get("/admin/phones?sort=model").get_data(as_text=True)
    assert _names(admin.get("/admin/phones?owner=alice&model=7965").get_data(as_text=True)) == [ALICE_7965]
    assert "1 phone." in admin.text("/admin/phones?line=1024")  # line 7 of Alice's 7965 only
    assert "0 phones" in admin.text("/admin/phones?owner=alice&model=8861")
    kept = admin.get("/admin/phones?owner=alice&sort=model").get_data(as_text=True)
    assert 'value="alice"' in kept and 'href="/admin/phones?sort=name&amp;owner=alice"' in kept


def test_c13_a_phone_is_edited_restarted_and_deleted_from_its_page(services):
    """C-13, C-14: Edit saves through Phones.update, Restart through the doors' restart, Delete through Phones.delete."""
    asked = []
    services.restart = lambda name, result=None: asked.append(name) or True
    admin = _admin(services)
    page = f"/admin/phones/{ALICE_7965}"
    form = {"description": "Alice's desk, 3rd floor", "device_pool": "HQ_DP", "calling_search_space": "Internal_CSS",
            "location": "HQ"}
    admin.submit(f"{page}/edit", f"{page}/edit", form)
    assert "Alice's desk, 3rd floor" in admin.text(page)
    no_pool = admin.submit(f"{page}/edit", f"{page}/edit", {**form, "device_pool": ""}, status=422)
    assert '"device_pool": give a name' in text_of(no_pool)
    restarted = admin.submit(page, f"{page}/restart", {})
    assert asked == [ALICE_7965] and "restarts now" in admin.text(restarted.headers["Location"])
    admin.submit(page, f"{page}/delete", {})
    admin.get(page, status=404)
    assert f"{DEMO_DEVICES - 1} phones." in admin.text("/admin/phones")


def test_c14_api_restarts_a_phone(api):  # noqa: F811
    """C-14: POST /devices/{name}/restart uses the one restart every door uses."""
    asked = []
    api.services.restart = lambda name, result=None: asked.append(name) or False
    answer = api.post(f"/devices/{ALICE_7965.lower()}/restart")
    assert answer.status_code == 200 and answer.get_json() == {"name": ALICE_7965, "restarted": False}
    assert asked == [ALICE_7965]
    problem_of(api.post("/devices/SEP0000000000FF/restart"), 404, "unknown_device")
    problem_of(api.post(f"/devices/{ALICE_7965}/restart", token="read"), 403)
