"""``phone-migration device-pools list|set``: each device pool's date/time group (T-7), the clock
its phones' config files carry; registered on the main command by ``phoneservice.cli.commands``."""

from __future__ import annotations

import click

from models.services.devicepools import DevicePools
from phoneservice.cli.common import _db, refusals


@click.group("device-pools")
def device_pools() -> None:
    """Device pools and their date/time groups (time zone, date template, NTP servers)."""


@device_pools.command("list")
@click.pass_context
@refusals
def device_pools_list(ctx) -> None:
    """Every pool, its phones and its group; '(default)' where the site holds no group for it."""
    for pool in DevicePools(_db(ctx)).list():
        group = pool["date_time_group"]
        ntp = ", ".join(group["ntp_servers"]) or "no NTP server"
        default = "" if pool["configured"] else " (default)"
        click.echo(f"{pool['name']:24} {pool['phones']:5} phones  {group['name']}{default}: {group['time_zone']}, "
                   f"{group['date_template']}, {ntp}")


@device_pools.command("set")
@click.argument("pool")
@click.option("--group", "group_name", required=True, help="The date/time group's name, e.g. 'HQ Eastern'.")
@click.option("--time-zone", required=True, help="As phones read it, e.g. 'Eastern Standard/Daylight Time'.")
@click.option("--olson", default="", help="The Olson name, e.g. America/New_York.")
@click.option("--date-template", default="M/D/Y", show_default=True,
              help="D/M/Y, M/D/Y or Y/M/D with - . or /; YY: 4-digit year; A: 12-hour clock.")
@click.option("--ntp", multiple=True, help="An NTP server for the phones (up to 4; repeat the option).")
@click.pass_context
@refusals
def device_pools_set(ctx, pool: str, group_name: str, time_zone: str, olson: str, date_template: str,
                     ntp: tuple[str, ...]) -> None:
    """Give POOL a date/time group; its phones take it with their next config file."""
    done = DevicePools(_db(ctx)).set_group(pool, name=group_name, time_zone=time_zone, olson_time_zone=olson,
                                           date_template=date_template, ntp_servers=ntp)
    group = done["date_time_group"]
    click.echo(f"{done['name']}: {group['name']}, {group['time_zone']}, {group['date_template']}, "
               f"NTP {', '.join(group['ntp_servers']) or 'none'}")
