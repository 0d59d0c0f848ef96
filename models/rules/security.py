"""C-3 and S-2: which security profile a migrated phone gets.

Source Table 2 maps (mode, TFTP-encrypted config, transport, key order) of the
old profile to a universal profile. Rows the source does not list are mapped
as rule C-3 (docs/rules.md) decides: Non-Secure -> Non-Secure, Authenticated -> Authenticated,
Encrypted follows the TFTP-encrypted and key-order columns.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "Universal Device Template - Security Profile - "
NON_SECURE = PREFIX + "Non-Secure"
AUTHENTICATED = PREFIX + "Authenticated"
ENCRYPTED = PREFIX + "Encrypted"
ENCRYPTED_DEVICE_TFTP = PREFIX + "Encrypted - Device_TFTP"
ENCRYPTED_EC_PREFERRED = PREFIX + "Encrypted EC preferred"


@dataclass(frozen=True)
class ProfileSpec:
    """What a profile is, whatever its name."""

    name: str
    mode: str
    tftp_encrypted: bool
    transport: str
    key_order: str


UNIVERSAL_PROFILES = {
    NON_SECURE: ProfileSpec(NON_SECURE, "non_secure", False, "tcp", "rsa"),
    AUTHENTICATED: ProfileSpec(AUTHENTICATED, "authenticated", False, "tls", "rsa"),
    ENCRYPTED: ProfileSpec(ENCRYPTED, "encrypted", False, "tls", "rsa"),
    ENCRYPTED_DEVICE_TFTP: ProfileSpec(ENCRYPTED_DEVICE_TFTP, "encrypted", True, "tls", "rsa"),
    ENCRYPTED_EC_PREFERRED: ProfileSpec(
        ENCRYPTED_EC_PREFERRED, "encrypted", False, "tls", "ec_preferred_rsa_backup"
    ),
}


def mapped_profile(mode: str | None, tftp_encrypted: bool, key_order: str, policy: str = "mapped") -> str:
    """C-3: the name of the new phone's profile; S-2 ``non_secure`` forces Non-Secure.

    A phone with no profile at all is treated as Non-Secure.
    """
    if policy == "non_secure" or mode in (None, "non_secure"):
        return NON_SECURE
    if mode == "authenticated":
        return AUTHENTICATED
    if mode != "encrypted":
        raise ValueError(f"unknown security mode {mode!r}")
    if tftp_encrypted:
        return ENCRYPTED_DEVICE_TFTP
    if key_order == "ec_preferred_rsa_backup":
        return ENCRYPTED_EC_PREFERRED
    return ENCRYPTED


# S-8 / T-1: a phone in a secure mode (Authenticated, Encrypted) is told to use TLS and to check
# its call control's certificate against a trust list (CTLSEP<MAC>.tlv / ITLSEP<MAC>.tlv), and
# takes a signed config file (.cnf.xml.sgn). This product issues none of them (they answer "file
# not found"), so the site chooses what the config file says (SiteSettings.secure_config_files).
SECURE_MODES = frozenset({"authenticated", "encrypted"})
MODE_NAMES = {"non_secure": "Non-Secure", "authenticated": "Authenticated", "encrypted": "Encrypted"}


def rendered_security(mode: str, transport: str, secure_config_files: str) -> tuple[str, str]:
    """S-8: the (mode, transport) a config file says: the profile's own under ``mapped``; under
    ``non_secure`` a secure profile is written as the Non-Secure universal profile is, over TCP."""
    if mode in SECURE_MODES and secure_config_files == "non_secure":
        return "non_secure", UNIVERSAL_PROFILES[NON_SECURE].transport
    return mode, transport


def trust_list_note(profile: str, mode: str | None, secure_config_files: str) -> str | None:
    """S-8: what a phone on a secure profile needs, as every door says it; None for a non-secure one."""
    if mode not in SECURE_MODES:
        return None
    needs = ("a secure phone needs a trust list (CTL/ITL file) and a signed config file, "
             "which this product cannot issue")
    if secure_config_files == "non_secure":
        return (f"{profile} is a secure profile ({MODE_NAMES[mode]}), but the phone's config file says "
                f"Non-Secure (site setting secure_config_files: non_secure): {needs}")
    return (f"{profile} is a secure profile ({MODE_NAMES[mode]}): the phone's config file tells it to use TLS, "
            f"but {needs}; until one is installed on it, the phone cannot trust its call control")
