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
