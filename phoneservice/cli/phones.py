"""``phone-migration devices``: list the site's phones, and change, delete or restart one (E-4).

Each sub-command is the service call the API and the admin UI make (``Phones.update``,
``Phones.delete``, C-14's restart sender); registered on the main command by
``phoneservice.cli.commands``.
"""

from __future__ import annotations

import click

from models.rules.catalog import default_catalog
from models.services import reports
from models.services.phones import Phones
from models.tables.devices import REGISTRATION_STATES
from phoneservice.cli.common import EXIT_USAGE, _db, _fail, on_terminal, refusals
from phoneservice.config import ConfigError, load_config


def _phones(ctx: click.Context) -> Phones:
    return Phones(_db(ctx), default_catalog())


@click.group(invoke_without_command=True)
@click.option("--migrated", is_flag=True, help='Only old phones marked migrated ("Migrate (old phone)").')
@click.option("--search", default="", help="Part of a name, MAC, description, DN, owner or model.")
@click.pass_context
def devices(ctx, migrated: bool, search: str) -> None:
    """List phones; `devices edit|delete|restart NAME` changes one."""
    if ctx.invoked_subcommand is not None:
        if migrated or search:
            _fail("--migrated and --search list phones: give them without edit, delete or restart", EXIT_USAGE)
        return
    db = _db(ctx)
    click.echo(f"{'NAME':16} {'MODEL':7} {'PROTO':5} {'OWNER':8} {'LINES':20} {'STATE':14} DESCRIPTION")
    with db.session() as session:
        for device in reports.find_devices(session, search, migrated=True if migrated else None):
            view = reports.device_public(session, device)
            lines = ",".join(l["directory_number"] for l in view.lines)
            state = f"migrated -> {view.successor}" if view.migrated else view.registration
            click.echo(f"{view.name:16} {view.model:7} {view.protocol:5} {view.owner or '-':8} {lines:20} {state:14} {view.description}")


def _params(values: tuple[str, ...], removed: tuple[str, ...]) -> dict[str, str | None]:
    """``--param NAME=VALUE`` and ``--unset-param NAME`` as the API's ``product_params`` patch (null removes)."""
    patch: dict[str, str | None] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f'--param "{item}": give NAME=VALUE', EXIT_USAGE)
        patch[name] = value
    patch.update({name: None for name in removed})
    return patch


@devices.command("edit")
@click.argument("name")
@click.option("--description", default=None, help="The phone's description (empty: none).")
@click.option("--device-pool", default=None, help="Its device pool (T-7's date/time group comes with it).")
@click.option("--calling-search-space", default=None, help="Its calling search space (empty: none).")
@click.option("--location", default=None, help="Its location.")
@click.option("--registration", type=click.Choice(REGISTRATION_STATES), default=None,
              help="Its registration state, as a call control other than the registrar reports it.")
@click.option("--load", "load", default=None, help="A firmware load for this phone alone (T-5).")
@click.option("--default-load", is_flag=True, help="Drop the phone's own load: its model's default load (T-5).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Set a product-specific parameter (repeat for more).")
@click.option("--unset-param", "unset", multiple=True, metavar="NAME", help="Remove a product-specific parameter.")
@click.pass_context
@refusals
def devices_edit(ctx, name, description, device_pool, calling_search_space, location, registration, load,
                 default_load, params, unset) -> None:
    """Change NAME's settings: only the options given change (the API's PATCH /devices/NAME)."""
    if load is not None and default_load:
        _fail("give --load or --default-load, not both", EXIT_USAGE)
    changes = {key: value for key, value in (
        ("description", description), ("device_pool", device_pool), ("calling_search_space", calling_search_space),
        ("location", location), ("registration", registration), ("load_override", load)) if value is not None}
    if default_load:
        changes["load_override"] = None
    if params or unset:
        changes["product_params"] = _params(params, unset)
    if not changes:
        _fail("nothing to change: give --description, --device-pool, --calling-search-space, --location, "
              "--registration, --load, --default-load, --param or --unset-param", EXIT_USAGE)
    device = _phones(ctx).update(name, changes)
    click.echo(f"{device.name} saved ({', '.join(sorted(changes))}); it takes the change with its next config file")


@devices.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Delete without asking (a terminal is asked first).")
@click.pass_context
@refusals
def devices_delete(ctx, name: str, yes: bool) -> None:
    """Delete NAME with its lines, buttons and KEMs (the API's DELETE /devices/NAME)."""
    phones = _phones(ctx)
    device = phones.get(name)  # an unknown phone is said before anything is asked
    if not yes and on_terminal():
        lines = ", ".join(line["directory_number"] for line in device.lines) or "no lines"
        click.echo(f"{device.name}: {device.model} {device.protocol}, owner {device.owner or '-'}, {lines}, "
                   f"{device.description or 'no description'}")
        if not click.confirm(f"Delete {device.name}?", default=False):
            click.echo("nothing changed")
            return
    phones.delete(device.name)
    click.echo(f"{device.name} deleted")


@devices.command("restart")
@click.argument("name")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="The server's TOML settings file (as for serve --config): its [callcontrol] says whether the "
                   "restart goes through Kamailio (R-5).")
@click.pass_context
@refusals
def devices_restart(ctx, name: str, config_file: str | None) -> None:
    """Ask NAME to restart now (C-14), as serve's doors do: through the registrar when there is one."""
    from phoneservice.callcontrol import wiring  # loaded here: the other commands start without it

    try:
        config = load_config(config_file)
    except ConfigError as exc:
        _fail(str(exc))
    phones = _phones(ctx)
    device = phones.get(name)
    sender = wiring.restarts(config.callcontrol, phones.db,
                             wiring.registrations(config.callcontrol, phones.db, phones.catalog))
    if sender.restart(device.name):
        click.echo(f"{device.name} restarts now")
    else:
        click.echo(f"{device.name} could not be reached; it picks up its settings at its next restart or config poll")
