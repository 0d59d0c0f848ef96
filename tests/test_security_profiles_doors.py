"""C-3's inputs (mode, TFTP-encrypted config, transport, key order) seen and set through the API,
the admin UI and the CLI on one service (``models.services.security_profiles``), and kept by a BAT
import from the profile's name (``models.rules.bat_format.profile_fields``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from models.rules.bat_format import profile_fields
from models.rules.security import ENCRYPTED_DEVICE_TFTP, ENCRYPTED_EC_PREFERRED, NON_SECURE, mapped_profile
from phoneservice.cli import main
from tests.test_api import api, failing_field, problem_of  # noqa: F401  (the API fixture)


@pytest.mark.parametrize("name, fields, maps_to", [
    ("Encrypted TFTP EC", dict(mode="encrypted", tftp_encrypted=True, transport="tls",
                               key_order="ec_preferred_rsa_backup"), ENCRYPTED_DEVICE_TFTP),
    ("Corp Encrypted EC SIP", dict(mode="encrypted", tftp_encrypted=False, transport="tls",
                                   key_order="ec_preferred_rsa_backup"), ENCRYPTED_EC_PREFERRED),
    ("Non-Encrypted TFTP UDP", dict(mode="non_secure", tftp_encrypted=False, transport="udp", key_order="rsa"),
     NON_SECURE),
])
def test_c3_a_bat_profile_name_gives_all_four_inputs(name, fields, maps_to):
    """C-3: "Encrypted TFTP EC" is Encrypted, TFTP-encrypted, TLS, EC preferred: Encrypted - Device_TFTP."""
    assert profile_fields(name) == fields
    assert mapped_profile(fields["mode"], fields["tftp_encrypted"], fields["key_order"]) == maps_to


def test_c3_security_profiles_through_the_api(api):  # noqa: F811
    """C-3: list, get and put a profile's four inputs; a universal profile is fixed."""
    items = {p["name"]: p for p in api.get("/security-profiles").get_json()["items"]}
    tftp_ec = items["Corp Encrypted TFTP EC SIP"]
    assert (tftp_ec["mode"], tftp_ec["tftp_encrypted"], tftp_ec["transport"], tftp_ec["key_order"]) == \
        ("encrypted", True, "tls", "ec_preferred_rsa_backup")
    assert tftp_ec["maps_to"] == ENCRYPTED_DEVICE_TFTP and tftp_ec["phones"] == 1
    put = api.put("/security-profiles/Corp Encrypted TFTP EC SIP",
                  {"mode": "encrypted", "tftp_encrypted": False, "transport": "tls", "key_order": "ec_preferred_rsa_backup"})
    assert put.status_code == 200 and put.get_json()["maps_to"] == ENCRYPTED_EC_PREFERRED
    assert api.get("/security-profiles/Corp Encrypted TFTP EC SIP").get_json()["tftp_encrypted"] is False
    made = api.put("/security-profiles/Branch Authenticated", {"mode": "authenticated", "transport": "tls"})
    assert made.status_code == 200 and made.get_json()["phones"] == 0
    assert failing_field(api.put("/security-profiles/X", {"mode": "paranoid", "transport": "tls"})) == ["mode"]
    problem_of(api.put(f"/security-profiles/{NON_SECURE}", {"mode": "encrypted", "transport": "tls"}), 422, "bad_profile")
    problem_of(api.get("/security-profiles/Nope"), 404, "unknown_security_profile")


def test_c3_security_profiles_page(services):
    """C-3: the admin UI's Security profiles tab lists the inputs and saves a profile."""
    from phoneservice.web.app import create_app
    from tests.test_admin import Browser, text_of

    admin = Browser(create_app(services).test_client())
    admin.login()
    page = "/admin/security-profiles"
    text = admin.text(page)
    assert "Corp Encrypted TFTP EC SIP encrypted yes tls ec_preferred_rsa_backup 1 " + ENCRYPTED_DEVICE_TFTP in text
    admin.submit(page, page, {"name": "Branch Encrypted", "mode": "encrypted", "tftp_encrypted": "on",
                              "transport": "tls", "key_order": "rsa"})
    assert "Branch Encrypted encrypted yes tls rsa 0 " + ENCRYPTED_DEVICE_TFTP in admin.text(page)
    refused = admin.submit(page, page, {"name": NON_SECURE, "mode": "encrypted", "transport": "tls",
                                        "key_order": "rsa"}, status=422)
    assert "is a universal profile" in text_of(refused)


def test_c3_security_profiles_through_the_cli(sqlite_url):
    """C-3: list (with a header), set, and show prints a phone's profile inputs."""
    runner = CliRunner()

    def cli(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert cli("init-db", "--demo").exit_code == 0
    listed = cli("security-profiles", "list").output.splitlines()
    assert listed[0].split()[:2] == ["MODE", "TFTP-ENC"]
    assert any("Corp Encrypted TFTP EC SIP -> " + ENCRYPTED_DEVICE_TFTP in line for line in listed)
    done = cli("security-profiles", "set", "Branch", "--mode", "encrypted", "--transport", "tls",
               "--key-order", "ec_preferred_rsa_backup")
    assert done.exit_code == 0 and ENCRYPTED_EC_PREFERRED in done.output
    assert "tftp encrypted  no" in cli("security-profiles", "show", "Branch").output
    assert cli("security-profiles", "show", "Nope").exit_code == 1
    shown = cli("show", "SEP001122330001").output
    assert "non_secure, TFTP encrypted no, tcp, key order rsa; migrates to " + NON_SECURE in shown
