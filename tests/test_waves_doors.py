"""W-1..W-3 through the doors that only translate: the REST API (documented in the OpenAPI) and the CLI."""

from __future__ import annotations

import io
import re
from pathlib import Path

from click.testing import CliRunner

from models.services.admins import create_token
from models.services.waves import Waves
from phoneservice.cli import main
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web.app import create_app
from tests.test_admin import Browser, text_of
from tests.test_callcontrol_events import HEADERS, TOKEN, form

CSV = ("Old Device,New MAC,Model\n"
       "SEP001122330010,AA:BB:CC:00:00:01,8851\n"
       "SEP001122330011,not-a-mac,8851\n"
       "SEP001122330012,AA:BB:CC:00:00:03,8851\n")


def test_w1_w3_api_stage_show_cancel_report(services):
    """W-1: POST /waves stages a CSV and lists refused rows; W-3: counts, cancel (409 once not staged), CSVs;
    the OpenAPI documents every route."""
    with services.db.session() as s:
        token, _ = create_token(s, "waves-test", ["read", "write"])
    headers = {"Authorization": f"Bearer {token}"}
    client = create_app(services).test_client()
    staged = client.post("/api/v1/waves?name=swap-1", data=CSV, content_type="text/csv", headers=headers)
    assert staged.status_code == 201, staged.get_data(as_text=True)
    body = staged.get_json()
    assert body["counts"]["staged"] == 2 and body["total"] == 2 and body["done"] == 0
    assert body["errors"] == [{"row": 3, "column": "New MAC", "message": body["errors"][0]["message"]}]
    assert body["created_by"] == "waves-test"
    cancelled = client.post("/api/v1/waves/swap-1/rows/4/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    again = client.post("/api/v1/waves/swap-1/rows/4/cancel", headers=headers)
    assert again.status_code == 409 and again.get_json()["code"] == "wave_row_not_staged"
    shown = client.get("/api/v1/waves/swap-1", headers=headers).get_json()
    assert (shown["counts"]["staged"], shown["counts"]["cancelled"], shown["done"]) == (1, 1, 1)
    assert client.get("/api/v1/waves", headers=headers).get_json()["items"][0]["name"] == "swap-1"
    report = client.get("/api/v1/waves/swap-1/report.csv", headers=headers).get_data(as_text=True)
    assert report.splitlines()[2].startswith("4,SEP001122330012,SEPAABBCC000003,8851,,cancelled")
    errors = client.get("/api/v1/waves/swap-1/errors.csv", headers=headers).get_data(as_text=True)
    assert errors.splitlines()[1].startswith("SEP001122330011,not-a-mac,8851,3,New MAC,")
    assert client.get("/api/v1/waves/nope", headers=headers).status_code == 404
    duplicate = client.post("/api/v1/waves?name=swap-1", data=CSV, content_type="text/csv", headers=headers)
    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "wave_exists"
    bad_name = client.post("/api/v1/waves?name=a b", data=CSV, content_type="text/csv", headers=headers)
    assert bad_name.status_code == 422
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/waves", "/waves/{name}", "/waves/{name}/rows/{row}/cancel", "/waves/{name}/report.csv",
            "/waves/{name}/errors.csv"} <= set(paths)


def test_w1_w3_cli_stage_show_cancel_report(sqlite_url, tmp_path):
    """W-1..W-3 in the CLI: waves stage FILE --name N, show, cancel N ROW, report (and --errors)."""
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert run("init-db", "--demo").exit_code == 0
    path = tmp_path / "wave.csv"
    path.write_text(CSV)
    staged = run("waves", "stage", str(path), "--name", "swap-1", "--errors-out", str(tmp_path / "errors.csv"))
    assert staged.exit_code == 0 and "2 rows staged, 1 refused" in staged.output
    assert (tmp_path / "errors.csv").read_text().splitlines()[1].startswith("SEP001122330011,not-a-mac")
    assert "cancelled" in run("waves", "cancel", "swap-1", "2").output
    refused = run("waves", "cancel", "swap-1", "2")
    assert refused.exit_code != 0 and "only a staged row can be cancelled" in refused.output
    shown = run("waves", "show", "swap-1").output
    assert "staged 1, cancelled 1" in shown and "SEP001122330012" in shown
    assert "swap-1" in run("waves", "list").output
    assert run("waves", "report", "swap-1").output.startswith("Row,Old Device,New Device")
    assert "Row,Column,Error" in run("waves", "report", "swap-1", "--errors").output
    assert run("waves", "show", "nope").exit_code != 0


def test_w1_w3_the_readme_wave_commands_run_as_written(sqlite_url, tmp_path, monkeypatch):
    """W-1..W-3: README.md's "Replacement waves" CSV and commands, run on the demo site as written."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Replacement waves", 1)[1].split("\n## ", 1)[0]
    csv_block = re.search(r"```csv\n(.*?)```", section, re.S).group(1)
    commands = re.search(r"```sh\n(.*?)```", section, re.S).group(1).splitlines()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "swap-day.csv").write_text(csv_block)
    runner = CliRunner()
    assert runner.invoke(main, ["--database", sqlite_url, "init-db", "--demo"]).exit_code == 0
    outputs = []
    for command in commands:
        command = command.split("#", 1)[0].strip()
        argv, _, out = command.partition(" > ")
        words = argv.split()
        assert words[0] == ".venv/bin/phone-migration", command
        result = runner.invoke(main, ["--database", sqlite_url, *words[1:]], catch_exceptions=False)
        assert result.exit_code == 0, (command, result.output)
        if out:
            (tmp_path / out.strip()).write_text(result.output)
        outputs.append(result.output)
    assert "2 rows staged, 1 refused" in outputs[0]
    assert "not-a-mac" in (tmp_path / "swap-day-errors.csv").read_text()
    assert "staged 2" in outputs[1]
    report = (tmp_path / "swap-day-report.csv").read_text().splitlines()
    assert report[2].startswith("3,SEP001122330011,SEP00AA00000002,8851,,cancelled")


def test_w1_w3_admin_ui_stage_live_counts_cancel_and_downloads(services):
    """W-1: the Waves page stages a CSV (CSRF-checked) and lists its refused rows; W-3: the wave page's counts
    and progress refresh while rows wait, Cancel on a staged row, the report and errors CSVs."""
    browser = Browser(create_app(services).test_client())
    browser.login()
    assert "No wave yet" in browser.text("/admin/waves")
    staged = browser.submit("/admin/waves", "/admin/waves",
                            {"name": "swap-1", "file": (io.BytesIO(CSV.encode()), "wave.csv")}, 303)
    assert staged.headers["Location"].endswith("/admin/waves/swap-1")
    page = browser.get("/admin/waves/swap-1").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "0 of 2 rows done (0%)" in text_of(browser.get("/admin/waves/swap-1"))
    assert "Row 3, New MAC" in text_of(browser.get("/admin/waves/swap-1"))
    browser.submit("/admin/waves/swap-1", "/admin/waves/swap-1/rows/2/cancel", {}, 303)
    browser.submit("/admin/waves/swap-1", "/admin/waves/swap-1/rows/4/cancel", {}, 303)
    done = browser.get("/admin/waves/swap-1").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in done and "2 of 2 rows done (100%)" in text_of(browser.get("/admin/waves/swap-1"))
    again = browser.submit("/admin/waves/swap-1", "/admin/waves/swap-1/rows/2/cancel", {}, 409)
    assert "only a staged row can be cancelled" in text_of(again)
    assert "cancelled" in browser.get("/admin/waves/swap-1/report.csv").get_data(as_text=True)
    assert "not-a-mac" in browser.get("/admin/waves/swap-1/errors.csv").get_data(as_text=True)
    refused = browser.submit("/admin/waves", "/admin/waves", {"name": "swap-1", "file": (io.BytesIO(CSV.encode()),
                                                                                          "wave.csv")}, 422)
    assert "exists already" in text_of(refused)
    assert "swap-1" in browser.text("/admin/waves")
    browser.get("/admin/waves/nope", 404)


def test_w2_an_auto_registered_phone_applies_its_row_when_it_registers(demo_db):
    """W-2: the demo's auto-registered SEP00AA11BB22CC (temporary DN 9000) is staged in a wave after it fetched
    its file; its next REGISTER (R-3, /callcontrol/registration) applies the row and asks it to restart."""
    services = build_services(load_config(database={"url": demo_db.url}, callcontrol={"token": TOKEN}))
    restarted: list[str] = []
    services.restart_soon = lambda device, result=None: restarted.append(device) or True
    try:
        Waves(demo_db).stage("w", "Old Device,New MAC,Model\nSEP001122330010,00AA11BB22CC,8851\n")
        client = create_app(services).test_client()
        answer = client.post("/callcontrol/registration", data=form("00AA11BB22CC", "9000", event="registered"),
                             headers=HEADERS)
        assert answer.status_code == 200 and answer.get_json()["wave_applied"] is True, answer.get_json()
        assert restarted == ["SEP00AA11BB22CC"]
        assert Waves(demo_db).show("w").rows[0].state == "applied"
        again = client.post("/callcontrol/registration", data=form("00AA11BB22CC", "9000", event="registered",
                                                                   call_id="reg-2@192.0.2.10"), headers=HEADERS)
        assert "wave_applied" not in again.get_json() and restarted == ["SEP00AA11BB22CC"]
    finally:
        services.close()


def test_w2_a_first_fetch_over_the_config_port_http_applies_the_row(services):
    """W-2 over HTTP: the config port's GET of the new MAC's file applies its row and answers the new file."""
    Waves(services.db).stage("w", "Old Device,New MAC,Model\nSEP001122330010,AABBCC000001,8851\n")
    answer = create_app(services, role="config").test_client().get("/SEPAABBCC000001.cnf.xml")
    assert answer.status_code == 200 and b"<device" in answer.data
    assert Waves(services.db).show("w").rows[0].state == "applied"
