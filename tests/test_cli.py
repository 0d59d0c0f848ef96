"""The CLI: init-db --demo, migrate with preview, devices, report, users, settings."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from models.services.admins import record_token_use
from models.storage.database import Database
from models.tables.admins import ApiToken


def test_init_db_demo_is_idempotent(cli):
    result = cli("init-db", "--demo")
    assert result.exit_code == 0
    assert cli("devices").output.count("SEP001122330001") == 1


def test_c15_migrate_dry_run_then_apply_then_report(cli):
    dry = cli("migrate", "SEP001122330001", "--mac", "aabb.ccdd.eeff", "--model", "8861", "--dry-run")
    assert dry.exit_code == 0
    assert "lines 6 and 7 will move to the KEM" in dry.output and "dry run" in dry.output
    assert "SEP001122330001" not in cli("devices", "--migrated").output
    done = cli("migrate", "SEP001122330001", "--mac", "aabb.ccdd.eeff", "--model", "8861")
    assert done.exit_code == 0 and "migrated SEP001122330001 -> SEPAABBCCDDEEFF" in done.output
    assert "SEP001122330001" in cli("devices", "--migrated").output
    report = cli("report", "--csv").output.splitlines()
    assert report[0].startswith("at,door,action") and "SEPAABBCCDDEEFF" in report[1]
    shown = cli("show", "sepaabbccddeeff").output
    assert "BEKEM" in shown and "Custom 7965 SCCP" in shown


@pytest.mark.parametrize("args,message", [
    (["migrate", "SEP001122330001", "--mac", "xyz", "--model", "8861"], "not a MAC address"),
    (["migrate", "SEP001122330001", "--mac", "AABBCCDDEEFF", "--model", "1234"], "unknown phone model"),
    (["migrate", "SEP001122330001", "--mac", "AABBCCDDEEFF"], "either --model"),
    (["migrate", "SEP0000000000AA", "--mac", "AABBCCDDEEFF", "--model", "8861"], "no phone named"),
    (["users", "set-pin", "alice", "--pin", "1111"], "too easy"),
    (["users", "set-pin", "nobody", "--pin", "7314"], 'no user "nobody"'),
    (["settings", "set", "lockout_threshold", "0"], "lockout_threshold"),
    (["settings", "set", "replacement_policy", "burn"], "replacement_policy"),
])
def test_errors_are_one_line_and_non_zero(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_users_set_pin_unlock(cli):
    assert cli("users", "set-pin", "alice", "--pin", "846195").exit_code == 0
    assert cli("users", "unlock", "ken").exit_code == 0


def test_settings_show_never_prints_the_auth_code_hash(cli):
    out = cli("settings", "show").output
    assert "auth_code_set = yes" in out and "argon2" not in out
    assert cli("settings", "set", "replacement_policy", "delete").exit_code == 0
    assert "replacement_policy = delete" in cli("settings", "show").output
    assert cli("settings", "set", "ivr_languages", "fr,en").exit_code == 0
    assert "ivr_languages = fr, en" in cli("settings", "show").output  # what settings set takes back


def test_console_script_runs_as_a_process(sqlite_url):
    out = subprocess.run([sys.executable, "-m", "phoneservice.cli", "--database", sqlite_url, "init-db"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "database ready" in out.stdout


def test_tokens_list_says_when_each_token_was_last_used(cli, sqlite_url):
    assert cli("init-db").exit_code == 0
    created = cli("tokens", "create", "monitoring", "--scope", "read")
    assert created.exit_code == 0 and "pm_" in created.output
    listed = cli("tokens", "list").output
    assert listed.splitlines()[0].split()[:4] == ["ID", "NAME", "SCOPES", "STATUS"]  # E-3: a header row
    assert "monitoring" in listed and "never used" in listed
    assert "pm_" not in listed  # the token itself is shown once, at creation
    db = Database(sqlite_url)
    with db.session() as session:  # what the API does on a request with the token
        record_token_use(session, session.exec(select(ApiToken.id).where(ApiToken.name == "monitoring")).one(),
                         datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc))
    db.dispose()
    assert "2026-11-21 09:30" in cli("tokens", "list").output


def test_c13_show_prints_values_not_python_reprs(cli):
    """C-13 (the CLI's view of a phone): no None, False, dict or list reprs; the tables have a header row."""
    shown = cli("show", "SEP001122330001").output
    for repr_ in ("None", "False", "True", "{'", "['"):
        assert repr_ not in shown, repr_
    assert "kems                   7914" in shown and "migrated               no" in shown
    assert "product_params         webAccess: 1; " in shown
    assert cli("devices").output.splitlines()[0].split()[:3] == ["NAME", "MODEL", "PROTO"]
    assert cli("report").output.splitlines()[0].startswith("AT (UTC)")


def test_settings_set_of_an_unknown_key_is_one_line_naming_the_keys(cli):
    """S-1..S-5: a typo in a key says which keys exist, in one line, exit status 2 (the command line is wrong)."""
    result = cli("settings", "set", "nosuchkey", "1")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert 'no setting "nosuchkey"' in result.output and "replacement_policy, " in result.output


def test_c15_migrate_asks_on_a_terminal_unless_yes(cli, monkeypatch):
    """C-15: on a terminal the plan is shown and nothing changes without a yes; --yes applies at once."""
    import phoneservice.cli.commands as commands

    monkeypatch.setattr(commands, "on_terminal", lambda: True)
    args = ("migrate", "SEP001122330001", "--mac", "aabb.ccdd.eeff", "--model", "8861")
    declined = cli(*args, input="n\n")
    assert "lines 6 and 7 will move to the KEM" in declined.output and "Apply this migration?" in declined.output
    assert "nothing changed" in declined.output and "SEP001122330001" not in cli("devices", "--migrated").output
    applied = cli(*args, "--yes")
    assert applied.exit_code == 0 and "Apply this migration?" not in applied.output
    assert "migrated SEP001122330001 -> SEPAABBCCDDEEFF" in applied.output
