"""The demo site (``--demo``): a dozen users and phones that exercise every rule.

README.md lists who has which PIN and what to try; keep the two in step.
"""

from __future__ import annotations

from sqlmodel import Session

from models.rules import datetime_group, security
from models.rules.clock import utcnow
from models.services.admins import create_admin
from models.services.site import (
    LineSpec,
    create_device,
    create_user,
    get_or_create_dn,
    get_or_create_profile,
    get_or_create_security_profile,
    get_or_create_template,
    set_auth_code,
)
from models.storage.devicepools import save_date_time_group
from models.storage.settings import save_settings
from models.tables.settings import DeviceDefaults
from models.tables.users import CredentialState

AUTH_CODE = "951413"
ADMIN_USER, ADMIN_PASSWORD = "admin", "migrate-demo-2026"  # the admin web UI of the demo site
PT = "Internal_PT"

# user id, first name, extension, PIN
USERS = [
    ("alice", "Alice", "1001", "7314"),
    ("bob", "Bob", "1002", "5093"),
    ("carol", "Carol", "1003", "8162"),
    ("dave", "Dave", "1004", "4729"),
    ("erin", "Erin", "1005", "3851"),
    ("frank", "Frank", "1006", "6207"),
    ("grace", "Grace", "1007", "9436"),
    ("heidi", "Heidi", "1008", "2975"),
    ("ivan", "Ivan", "1009", "5318"),
    ("judy", "Judy", "1010", "7602"),
    ("ken", "Ken", "1011", "8349"),
    ("olivia", "Olivia", "1012", "1739"),
]

# The rows of rule C-3 (docs/rules.md; source Table 2): name, mode, TFTP encrypted, transport, key order.
OLD_PROFILES = [
    ("Cisco 7965 - Standard SCCP Non-Secure Profile", "non_secure", False, "tcp", "rsa"),
    ("Corp Authenticated SIP", "authenticated", False, "tls", "rsa"),
    ("Corp Encrypted SIP", "encrypted", False, "tls", "rsa"),
    ("Corp Encrypted TFTP SIP", "encrypted", True, "tls", "rsa"),
    ("Corp Encrypted TFTP EC SIP", "encrypted", True, "tls", "ec_preferred_rsa_backup"),
    ("Corp Encrypted EC SIP", "encrypted", False, "tls", "ec_preferred_rsa_backup"),
]


def mac(n: int) -> str:
    return f"0011223300{n:02X}"


def load_demo(session: Session) -> None:
    save_settings(session, authentication="users_and_admins", autoreg_start_dn="9000", autoreg_end_dn="9099")
    set_auth_code(session, AUTH_CODE)
    create_admin(session, ADMIN_USER, ADMIN_PASSWORD)
    get_or_create_profile(session, "Standard Users", phone_limit=10, allow_self_provisioning=True)
    get_or_create_profile(session, "Hot Desk Users", phone_limit=2, allow_reassign_from_other_user=True)
    for name, mode, tftp, transport, key_order in OLD_PROFILES:
        get_or_create_security_profile(session, name, mode=mode, tftp_encrypted=tftp, transport=transport, key_order=key_order)
    get_or_create_template(session, "Custom 7965 SCCP", "custom", "7965", "SCCP")
    get_or_create_template(session, "Universal Device Template Button layout", "universal")
    session.add(DeviceDefaults(model="8851", onboarding_method="activation_code"))
    # T-7: the HQ pool's clock (a name from CUCM's time zone list, 12-hour US dates, two NTP servers);
    # the pool named Default keeps the default group (Greenwich, no NTP).
    save_date_time_group(session, "HQ_DP", datetime_group.checked(
        "HQ Eastern", "Eastern Standard/Daylight Time", "America/New_York", "M/D/YA", ["192.0.2.123", "ntp.hq.example.com"]))

    for user_id, first, ext, pin in USERS:
        profile = "Hot Desk Users" if user_id == "olivia" else "Standard Users"
        create_user(session, user_id, extension=ext, partition=PT, pin=pin, profile=profile,
                    self_service_id=f"5{ext}", first_name=first, last_name="Demo")
    # S-3: 1010 also exists in a second partition.
    get_or_create_dn(session, "1010", "Branch_PT", description="Branch office 1010")
    intercom = get_or_create_dn(session, "3001", "Intercom_PT", is_intercom=True)

    def line(ext, label, **kw):
        return LineSpec(ext, kw.pop("partition", PT), label=label, display_name=label, **kw)

    # alice: SCCP 7965, custom template, 7914 KEM, 7 lines (one shared with bob), an intercom line.
    create_device(
        session, mac(1), "7965", "SCCP", owner="alice", description="Alice's desk (old 7965)",
        template="Custom 7965 SCCP", security_profile=OLD_PROFILES[0][0], kems=["7914"],
        lines=[line("1001", "Alice"), line("1002", "Bob (shared)"), line("1020", "Sales"), line("1021", "Support"),
               line("1022", "Billing"), line("1023", "Night"), line("1024", "Overflow"),
               LineSpec(intercom.pattern, intercom.partition, label="Intercom", intercom=True)],
        features=[("speed_dial", "1003", "Carol"), ("blf", "1004", "Dave"), ("speed_dial", "911", "Emergency")],
        product_params={"webAccess": "1", "settingsAccess": "0", "loggingDisplay": "0"},
        device_pool="HQ_DP", calling_search_space="Internal_CSS", location="HQ", registration="unregistered",
    )
    # bob: 8851 with a BEKEM; line 2 shares alice's 1001.
    create_device(
        session, mac(2), "8851", "SIP", owner="bob", description="Bob's desk (8851)", kems=["BEKEM"],
        security_profile=OLD_PROFILES[1][0],
        lines=[line("1002", "Bob"), line("1001", "Alice (shared)")], features=[("blf", "1001", "Alice")],
        product_params={"lineMode": "1"}, device_pool="HQ_DP", registration="unregistered",
    )
    # Table 3 scenarios: carol 1 (R,U), dave 2 (R,R,U), erin 3 (R,U,U), frank 4 (U,U,U),
    # grace 5 (R,R,R), heidi 6 (more than 3).
    mixes = {
        "carol": [("8841", "registered"), ("7841", "unregistered")],
        "dave": [("8811", "registered"), ("7821", "registered"), ("8841", "unregistered")],
        "erin": [("7861", "registered"), ("8841", "unregistered"), ("7841", "unregistered")],
        "frank": [("8851", "unregistered"), ("7841", "unregistered"), ("8811", "unregistered")],
        "grace": [("8841", "registered"), ("8851", "registered"), ("7841", "registered")],
        "heidi": [("8841", "registered"), ("8841", "unregistered"), ("7841", "registered"), ("7821", "unregistered")],
    }
    n = 0x10
    profiles = iter([p[0] for p in OLD_PROFILES[2:]])
    for (user_id, first, ext, _pin) in USERS:
        for i, (model, state) in enumerate(mixes.get(user_id, []), 1):
            extra = {}
            if i == 1:
                extra["security_profile"] = next(profiles, None)
            if user_id == "dave" and i == 1:
                extra.update(em_enabled=True, em_logged_in_user="erin")
            create_device(session, mac(n), model, "SIP", owner=user_id, description=f"{first}'s {model} #{i}",
                          lines=[line(ext, first)], registration=state, **extra)
            n += 1
    # ivan: a video 8865 with a video KEM; EM-enabled and CTI controlled.
    create_device(session, mac(0x30), "8865", "SIP", owner="ivan", description="Ivan's video phone", kems=["CP-8800-Video"],
                  lines=[line("1009", "Ivan")], registration="unregistered", em_enabled=True, cti_controlled=True, locked=True)
    # judy: her 1010 is in two partitions (S-3: self-service refused).
    create_device(session, mac(0x31), "8841", "SIP", owner="judy", description="Judy's desk", lines=[line("1010", "Judy")],
                  registration="unregistered")
    # ken: locked out since the demo was loaded.
    ken_phone = create_device(session, mac(0x32), "8841", "SIP", owner="ken", description="Ken's desk",
                              lines=[line("1011", "Ken")], registration="unregistered")
    session.add(CredentialState(user_id=ken_phone.owner_id, failures=3,
                                first_failure_at=utcnow(), locked_at=utcnow()))
    # olivia: one phone, universal button layout, hot-desk profile.
    create_device(session, mac(0x33), "7841", "SIP", owner="olivia", description="Olivia's desk",
                  template="Universal Device Template Button layout", lines=[line("1012", "Olivia")],
                  registration="unregistered", security_profile=security.NON_SECURE)
    # The lobby: a common-area phone with no owner, reached with the authentication code.
    create_device(session, mac(0x40), "7945", "SCCP", description="Lobby phone", lines=[line("2000", "Lobby")],
                  registration="unregistered", location="HQ")
    # A new phone that already auto-registered with a temporary DN (T-4): try P-1 or the IVR with it.
    create_device(session, "00AA11BB22CC", "8851", "SIP", description="Auto 00AA11BB22CC", auto_registered=True,
                  lines=[LineSpec("9000", "", label="9000")], registration="registered")
    dn = get_or_create_dn(session, "9000", "")
    dn.auto_registered = True
    session.add(dn)

