"""E-4 from the CLI: a phone edited, deleted and restarted (C-14) with ``devices edit|delete|restart``,
through the service calls the API and the admin UI make (``Phones.update``, ``Phones.delete``, the restart
sender), errors one line with the CLI's exit statuses; and the README's commands for it, run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from models.rules.catalog import default_catalog
from models.services.phones import Phones
from models.storage.database import Database
from tests.test_api import sip_phone  # noqa: F401  (a phone's SIP UA answering one NOTIFY)

ALICE_7965 = "SEP001122330001"
LOBBY = "SEP001122330040"


@pytest.fixture
def phones(sqlite_url, cli):
    db = Database(sqlite_url)
    yield Phones(db, default_catalog())
    db.dispose()


def test_e4_devices_edit_changes_only_what_is_given(cli, phones):
    """E-4 (Phones.update, as PATCH /devices/NAME): only the options given change; parameters merge and
    --unset-param removes one; --default-load clears the phone's own load (T-5)."""
    result = cli("devices", "edit", "001122330001", "--description", "Alice's desk, 3rd floor",
                 "--location", "Branch", "--param", "pcPort=1", "--unset-param", "garp", "--load", "SCCP45.9-4-2SR3S")
    assert result.exit_code == 0, result.output
    assert f"{ALICE_7965} saved (description, load_override, location, product_params)" in result.output
    device = phones.get(ALICE_7965)
    assert (device.description, device.location, device.device_pool) == ("Alice's desk, 3rd floor", "Branch", "HQ_DP")
    assert device.product_params["pcPort"] == "1" and "garp" not in device.product_params
    assert device.product_params["webAccess"] == "1" and device.load_override == "SCCP45.9-4-2SR3S"
    assert cli("devices", "edit", ALICE_7965, "--default-load").exit_code == 0
    assert phones.get(ALICE_7965).load_override is None
    assert "Alice's desk, 3rd floor" in cli("devices", "--search", "3rd floor").output


@pytest.mark.parametrize("args,status,message", [
    (["devices", "edit", "SEP0000000000AA", "--description", "x"], 1, "no phone named"),
    (["devices", "edit", ALICE_7965, "--device-pool", ""], 1, '"device_pool": give a name'),
    (["devices", "edit", ALICE_7965, "--load", "not a load!"], 1, "is not a load name"),
    (["devices", "edit", ALICE_7965, "--param", "1bad=x"], 1, "not an XML name"),
    (["devices", "edit", ALICE_7965, "--param", "noequals"], 2, "give NAME=VALUE"),
    (["devices", "edit", ALICE_7965], 2, "nothing to change"),
    (["devices", "edit", ALICE_7965, "--load", "SCCP45.9-4-2SR3S", "--default-load"], 2, "not both"),
    (["devices", "delete", "SEP0000000000AA", "--yes"], 1, "no phone named"),
    (["devices", "restart", "SEP0000000000AA"], 1, "no phone named"),
    (["devices", "--search", "x", "delete", ALICE_7965], 2, "without edit, delete or restart"),
])
def test_e4_devices_errors_are_one_line_with_the_cli_exit_status(cli, args, status, message):
    """E-4: a refusal is one line and exit 1 (the service's own sentence), a wrong command line exit 2."""
    result = cli(*args)
    assert result.exit_code == status, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_e4_devices_delete_asks_on_a_terminal_unless_yes(cli, phones, monkeypatch):
    """E-4 (Phones.delete, as DELETE /devices/NAME): on a terminal the phone is shown and nothing is deleted
    without a yes; --yes (or no terminal) deletes at once."""
    import phoneservice.cli.phones as cli_phones

    monkeypatch.setattr(cli_phones, "on_terminal", lambda: True)
    declined = cli("devices", "delete", ALICE_7965.lower(), input="n\n")
    assert declined.exit_code == 0 and f"Delete {ALICE_7965}?" in declined.output
    assert "7965 SCCP, owner alice, 1001" in declined.output and "nothing changed" in declined.output
    assert phones.get(ALICE_7965).name == ALICE_7965
    deleted = cli("devices", "delete", ALICE_7965, "--yes")
    assert deleted.exit_code == 0 and "Delete" not in deleted.output and f"{ALICE_7965} deleted" in deleted.output
    assert ALICE_7965 not in cli("devices").output
    monkeypatch.setattr(cli_phones, "on_terminal", lambda: False)
    assert cli("devices", "delete", LOBBY).exit_code == 0 and LOBBY not in cli("devices").output


def test_c14_devices_restart_sends_the_notify_every_door_sends(cli, phones, sip_phone):  # noqa: F811
    """C-14 (R-5 without a registrar: the plain UDP NOTIFY): the phone's registered contact is asked to
    restart; a phone with no contact known is told to wait for its next config poll, exit 0 as the API's 200."""
    port, received = sip_phone
    phones.set_registration(LOBBY, "registered", f"sip:2000@127.0.0.1:{port}")
    result = cli("devices", "restart", LOBBY.lower())
    assert result.exit_code == 0 and f"{LOBBY} restarts now" in result.output, result.output
    assert received and received[0].startswith(f"NOTIFY sip:2000@127.0.0.1:{port} SIP/2.0")
    unreachable = cli("devices", "restart", ALICE_7965)
    assert unreachable.exit_code == 0 and "could not be reached" in unreachable.output


def test_e4_the_readme_phone_commands_run_as_written(cli):
    """E-4: README.md's "Changing one phone" commands, run on the demo site as written."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("Changing one phone from the CLI", 1)[1]
    commands = re.search(r"```sh\n(.*?)```", section, re.S).group(1).splitlines()
    assert len(commands) >= 3
    for command in commands:
        words = shlex.split(command, comments=True)
        assert words[0] == ".venv/bin/phone-migration", command
        result = cli(*words[1:])
        assert result.exit_code == 0, (command, result.output)
    assert LOBBY not in cli("devices").output

