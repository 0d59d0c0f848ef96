"""Phone button templates (C-4) and phone security profiles (C-3)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

TEMPLATE_KINDS = ("standard", "custom", "universal")
SECURITY_MODES = ("non_secure", "authenticated", "encrypted")
TRANSPORTS = ("tcp", "udp", "tcp_udp", "tls")
KEY_ORDERS = ("rsa", "ec_preferred_rsa_backup", "rsa_preferred_ec_backup", "ec_only")


class PhoneButtonTemplate(SQLModel, table=True):
    __tablename__ = "phone_button_template"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=128)
    kind: str = "standard"  # standard | custom | universal (the UDT button layout)
    model: str | None = None  # catalogue key, None for the universal layout
    protocol: str | None = None


class SecurityProfile(SQLModel, table=True):
    __tablename__ = "security_profile"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=128)
    mode: str = "non_secure"
    tftp_encrypted: bool = False
    transport: str = "tcp"
    key_order: str = "rsa"
    universal: bool = False
