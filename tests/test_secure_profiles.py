"""S-8: a phone on a secure profile (Authenticated, Encrypted) needs a trust list (CTLSEP<MAC>.tlv,
ITLSEP<MAC>.tlv) and a signed config file that this product cannot issue (T-1 answers "file not
found"). The site chooses what the config file says, and every door says what such a phone needs
(issue #16)."""

from __future__ import annotations

import pytest

from models.rules import outcomes, security
from models.rules.plan import Target
from models.rules.settings import SiteSettings
from models.services.migration import Migrator
from models.storage.settings import save_settings

BOB = "SEP001122330002"  # 8851 on "Corp Authenticated SIP" (Authenticated, TLS)
OLIVIA = "SEP001122330033"  # 7841 on the Non-Secure universal profile


def test_s8_the_default_writes_secure_profiles_non_secure():
    """S-8: with no trust list to give, the default keeps a secure phone working: Non-Secure over TCP."""
    assert SiteSettings().secure_config_files == "non_secure"
    assert security.rendered_security("authenticated", "tls", "non_secure") == ("non_secure", "tcp")
    assert security.rendered_security("encrypted", "tls", "non_secure") == ("non_secure", "tcp")
    assert security.rendered_security("encrypted", "tls", "mapped") == ("encrypted", "tls")
    assert security.rendered_security("non_secure", "tcp_udp", "mapped") == ("non_secure", "tcp_udp")


def test_s8_the_note_says_what_a_secure_phone_needs_under_either_choice():
    """S-8: one sentence for every door; none for a non-secure profile."""
    assert security.trust_list_note(security.NON_SECURE, "non_secure", "mapped") is None
    mapped = security.trust_list_note(security.ENCRYPTED, "encrypted", "mapped")
    assert "(Encrypted)" in mapped and "use TLS" in mapped and "trust list (CTL/ITL file)" in mapped
    written = security.trust_list_note(security.ENCRYPTED, "encrypted", "non_secure")
    assert "says Non-Secure (site setting secure_config_files: non_secure)" in written
    assert "trust list (CTL/ITL file)" in written


@pytest.mark.parametrize("choice", ["non_secure", "mapped"])
def test_s8_the_preview_of_a_secure_migration_names_the_trust_list(demo_db, choice):
    """S-8 in the preview (C-15): bob's Authenticated profile maps to the Authenticated universal
    profile (C-3); the plan warns, by code, what the new phone needs."""
    with demo_db.session() as s:
        save_settings(s, secure_config_files=choice)
    plan = Migrator(demo_db).preview(BOB, Target(mac="AABBCCDDEE01", model="8861"))
    notes = [n for n in plan.warnings if n.code == outcomes.NEEDS_TRUST_LIST]
    assert len(notes) == 1 and notes[0].params["secure_config_files"] == choice
    assert str(notes[0]) == security.trust_list_note(security.AUTHENTICATED, "authenticated", choice)


def test_s8_no_note_for_a_non_secure_migration(demo_db):
    """S-8: a Non-Secure phone's preview says nothing of trust lists; nor does S-2 non_secure's."""
    plan = Migrator(demo_db).preview(OLIVIA, Target(mac="AABBCCDDEE02", model="8841"))
    assert not outcomes.has(plan.warnings, outcomes.NEEDS_TRUST_LIST)
    with demo_db.session() as s:
        save_settings(s, security_profile_policy="non_secure")
    plan = Migrator(demo_db).preview(BOB, Target(mac="AABBCCDDEE01", model="8861"))
    assert not outcomes.has(plan.warnings, outcomes.NEEDS_TRUST_LIST)


def test_s8_the_cli_preview_report_and_show_say_what_a_secure_phone_needs(cli):
    """S-8 in the CLI: migrate --dry-run (the preview), report --csv (the record's warnings) and show."""
    needs = "trust list (CTL/ITL file)"
    dry = cli("migrate", BOB, "--mac", "AABBCCDDEE01", "--model", "8861", "--dry-run").output
    assert needs in dry and "secure_config_files: non_secure" in dry
    assert cli("migrate", BOB, "--mac", "AABBCCDDEE01", "--model", "8861").exit_code == 0
    report = cli("report", "--csv").output
    assert needs in report.splitlines()[1]
    shown = cli("show", "SEPAABBCCDDEE01").output
    assert "security_note" in shown and needs in shown
    assert cli("settings", "set", "secure_config_files", "mapped").exit_code == 0
    assert "the phone's config file tells it to use TLS" in cli("show", "SEPAABBCCDDEE01").output
    assert needs not in cli("show", OLIVIA).output
