"""``phone-migration security-profiles list|show|set``: C-3's inputs of each security profile,
on the service the admin UI and the API use; registered on the main command by
``phoneservice.cli.commands``."""

from __future__ import annotations

import click

from models.services.security_profiles import list_profiles, profile, set_profile
from models.tables.templates import KEY_ORDERS, SECURITY_MODES, TRANSPORTS
from phoneservice.cli.common import _db, readable, refusals


@click.group("security-profiles")
def security_profiles() -> None:
    """Security profiles: mode, TFTP-encrypted config, transport, key order (C-3)."""


@security_profiles.command("list")
@click.pass_context
def security_profiles_list(ctx) -> None:
    """Every profile, its four C-3 inputs, its phones and the universal profile it maps to."""
    with _db(ctx).read_session() as session:
        rows = list_profiles(session)
    click.echo(f"{'MODE':13} {'TFTP-ENC':8} {'TRANSPORT':9} {'KEY ORDER':24} {'PHONES':6} PROFILE -> MIGRATES TO")
    for p in rows:
        click.echo(f"{p.mode:13} {readable(p.tftp_encrypted):8} {p.transport:9} {p.key_order:24} {p.phones:6} "
                   f"{p.name} -> {p.maps_to}")


@security_profiles.command("show")
@click.argument("name")
@click.pass_context
@refusals
def security_profiles_show(ctx, name: str) -> None:
    with _db(ctx).read_session() as session:
        p = profile(session, name)
    for key, value in (("name", p.name), ("mode", p.mode), ("tftp encrypted", p.tftp_encrypted),
                       ("transport", p.transport), ("key order", p.key_order), ("universal", p.universal),
                       ("phones", p.phones), ("migrates to", p.maps_to)):
        click.echo(f"{key:15} {readable(value)}")


@security_profiles.command("set")
@click.argument("name")
@click.option("--mode", type=click.Choice(SECURITY_MODES), required=True)
@click.option("--tftp-encrypted/--no-tftp-encrypted", default=False, show_default=True)
@click.option("--transport", type=click.Choice(TRANSPORTS), required=True)
@click.option("--key-order", type=click.Choice(KEY_ORDERS), default="rsa", show_default=True)
@click.pass_context
@refusals
def security_profiles_set(ctx, name: str, mode: str, tftp_encrypted: bool, transport: str, key_order: str) -> None:
    """Make or change NAME (not a universal profile)."""
    with _db(ctx).session() as session:
        p = set_profile(session, name, mode=mode, tftp_encrypted=tftp_encrypted, transport=transport,
                        key_order=key_order)
    click.echo(f"{p.name}: {p.mode}, TFTP encrypted {readable(p.tftp_encrypted)}, {p.transport}, {p.key_order}; "
               f"migrates to {p.maps_to}")
