"""S-6: a phone model's default load and onboarding method, through the service, the API and the CLI."""

from __future__ import annotations

from click.testing import CliRunner

from models.rules.catalog import default_catalog
from models.services import site
from models.tables.settings import DeviceDefaults
from phoneservice.cli import main
from tests.test_api import api, failing_field, problem_of  # noqa: F401  (the API fixture)


def test_s6_a_load_with_no_onboarding_method_is_stored_as_none_set(demo_db):
    """S-6, M-1: a load alone is kept and the method stays unset (the column was NOT NULL)."""
    with demo_db.session() as session:
        site.set_device_defaults(session, "8861", load="sip88xx.14-2-1-0001-14", onboarding_method=None,
                                 catalog=default_catalog())
    with demo_db.read_session() as session:
        row = session.get(DeviceDefaults, "8861")
        assert (row.load, row.onboarding_method) == ("sip88xx.14-2-1-0001-14", None)


def test_s6_device_defaults_through_the_api(api):  # noqa: F811
    """S-6: GET lists every model with its stored values; PUT sets and clears them; bad values name the field."""
    rows = {r["model"]: r for r in api.get("/device-defaults?limit=200").get_json()["items"]}
    assert rows["8851"]["onboarding_method"] == "activation_code" and rows["8861"]["load"] is None
    put = api.put("/device-defaults/8861", {"load": "sip88xx.14-2-1-0001-14"})
    assert put.status_code == 200
    assert put.get_json() == {**rows["8861"], "load": "sip88xx.14-2-1-0001-14"}
    assert api.put("/device-defaults/8861", {"onboarding_method": "activation_code"}).get_json()["load"] is None
    assert failing_field(api.put("/device-defaults/8861", {"load": "a b"})) == ["load"]
    assert failing_field(api.put("/device-defaults/8861", {"onboarding_method": "fax"})) == ["onboarding_method"]
    problem_of(api.put("/device-defaults/9999", {}), 422, "unknown_model")
    problem_of(api.put("/device-defaults/8861", {"load": "x"}, token="read"), 403)


def test_s6_device_defaults_through_the_cli(sqlite_url):
    """S-6: the CLI lists with a header and sets a load with no onboarding method."""
    runner = CliRunner()

    def cli(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert cli("init-db", "--demo").exit_code == 0
    assert cli("device-defaults", "set", "8861", "--load", "sip88xx.14-2-1-0001-14").exit_code == 0
    listed = cli("device-defaults", "list").output.splitlines()
    assert listed[0].split() == ["MODEL", "LOAD", "CATALOGUE", "LOAD", "ONBOARDING"]
    row = next(line for line in listed if line.startswith("8861 "))
    assert "sip88xx.14-2-1-0001-14" in row and row.endswith("none set")
    assert next(line for line in listed if line.startswith("8851 ")).endswith("activation_code")
    bad = cli("device-defaults", "set", "9999")
    assert bad.exit_code == 1 and "9999" in bad.output


def test_s6_the_admin_form_saves_a_load_with_no_onboarding_method(services):
    """S-6, M-1: the admin UI's form (its empty choice) stores a load and no method, as the API and CLI do."""
    from phoneservice.web.app import create_app
    from tests.test_admin import Browser

    admin = Browser(create_app(services).test_client())
    admin.login()
    page = "/admin/settings/device-defaults"
    admin.submit(page, page, {"load:8845": "sip8845_65.14-2-1-0001-14", "onboarding:8845": ""})
    with services.db.read_session() as session:
        row = session.get(DeviceDefaults, "8845")
        assert (row.load, row.onboarding_method) == ("sip8845_65.14-2-1-0001-14", None)
