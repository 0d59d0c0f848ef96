"""The ``phone-migration`` command: one thin command per engine call.

Every error is one line on stderr and exit status 1; nothing is half-written
because each command is one engine call in one transaction.
"""

from __future__ import annotations

import sys

import click

from models import reports, site
from models.database import URL_ENV, Database
from models.devices import normalize_device_name
from models.migration import Migrator, find_device
from models.plan import Plan, Target
from models.settings import EDITABLE, load_settings, parse_value, save_settings
from phoneservice.cli.common import _db, _fail, refusals
from phoneservice.cli.tasks import dhcp_option150, tasks


@click.group()
@click.option("--database", "database_url", envvar=URL_ENV, default=None,
              help="Database URL (default: sqlite:///phone-migration.db; env PHONE_MIGRATION_DATABASE_URL)")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """Replace Cisco IP phones and carry their configuration over."""
    ctx.obj = {"url": database_url}


@main.command("init-db")
@click.option("--demo", is_flag=True, help="Load the demo site (users, PINs, phones; see README).")
@click.pass_context
@refusals
def init_db(ctx: click.Context, demo: bool) -> None:
    """Create or upgrade the schema; with --demo, load the demo site."""
    db = _db(ctx)
    db.upgrade()
    if demo:
        load_demo_once(db)
    click.echo(f"database ready: {db.url}")


def load_demo_once(db: Database) -> bool:
    """Load the demo site into an empty database; False when it has devices already."""
    from models.demo import load_demo

    with db.session() as session:
        if reports.find_devices(session, limit=1):
            return False
        load_demo(session)
    return True


def _print_plan(plan: Plan) -> None:
    click.echo(f"old phone:  {plan.old.name} ({plan.old.model} {plan.old.protocol})")
    click.echo(f"new phone:  {plan.new_name} ({plan.new_model} {plan.new_protocol})")
    click.echo(f"template:   {plan.template_name} ({plan.template_kind})")
    click.echo(f"security:   {plan.security_profile}")
    click.echo(f"KEM:        {', '.join(plan.kems) or 'none'}")
    click.echo(f"lines:      {len(plan.lines)} ({sum(b.on_kem for b in plan.lines)} on the KEM)")
    click.echo(f"old phone afterwards: {'deleted' if plan.replacement_policy == 'delete' else 'kept, marked migrated'}")
    for line in plan.losses:
        click.echo(f"  will be lost: {line}")
    for line in plan.warnings:
        click.echo(f"  note: {line}")


@main.command()
@click.argument("old")
@click.option("--mac", required=True, help="The new phone's MAC address.")
@click.option("--model", help="The new phone's model, e.g. 8861.")
@click.option("--protocol", type=click.Choice(["SIP", "SCCP"], case_sensitive=False))
@click.option("--template", help="A phone template naming the new model and protocol.")
@click.option("--description", default=None)
@click.option("--dry-run", is_flag=True, help="Show the plan and what will be lost; change nothing.")
@click.pass_context
@refusals
def migrate(ctx, old, mac, model, protocol, template, description, dry_run) -> None:
    """Migrate OLD (SEP<MAC>) to a new phone (C-15)."""
    if bool(template) == bool(model):
        _fail("give either --model (and --protocol) or --template")
    target = Target(mac=mac, model=model, protocol=protocol, template=template, description=description)
    migrator = Migrator(_db(ctx))
    result = migrator.migrate(old, target, door="cli", actor="cli", dry_run=dry_run)
    _print_plan(result.plan)
    click.echo("dry run: nothing changed" if dry_run else f"migrated {result.plan.old.name} -> {result.new_device}")


@main.command()
@click.option("--migrated", is_flag=True, help='Only old phones marked migrated ("Migrate (old phone)").')
@click.option("--search", default="", help="Part of a name, MAC, description, DN, owner or model.")
@click.pass_context
def devices(ctx, migrated: bool, search: str) -> None:
    """List phones."""
    with _db(ctx).session() as session:
        for device in reports.find_devices(session, search, migrated=True if migrated else None):
            view = reports.device_public(session, device)
            lines = ",".join(l["directory_number"] for l in view.lines)
            state = f"migrated -> {view.successor}" if view.migrated else view.registration
            click.echo(f"{view.name:16} {view.model:7} {view.protocol:5} {view.owner or '-':8} {lines:20} {state:14} {view.description}")


@main.command()
@click.option("--csv", "as_csv", is_flag=True, help="CSV for a spreadsheet.")
@click.pass_context
def report(ctx, as_csv: bool) -> None:
    """The migration report: every migration and refusal (C-13)."""
    with _db(ctx).session() as session:
        rows = reports.records(session)
    if as_csv:
        click.echo(reports.report_csv(rows), nl=False)
        return
    for r in rows:
        click.echo(f"{r.at:%Y-%m-%d %H:%M:%S} {r.door:6} {r.outcome:11} {r.old_device or '-':16} -> {r.new_device or '-':16} {r.message}")


@main.group()
def users() -> None:
    """Set PINs, unlock users."""


@users.command("set-pin")
@click.argument("user_id")
@click.option("--pin", prompt=True, hide_input=True, confirmation_prompt=True)
@click.pass_context
@refusals
def users_set_pin(ctx, user_id: str, pin: str) -> None:
    with _db(ctx).session() as session:
        site.set_pin(session, user_id, pin)
    click.echo(f"PIN set for {user_id}")


@users.command("show")
@click.argument("user_id")
@click.pass_context
@refusals
def users_show(ctx, user_id: str) -> None:
    """A user: extension, profile, whether a PIN is set, whether locked (A-4). Never the PIN."""
    from models.auth import is_locked
    from models.clock import utcnow
    from models.lines import DirectoryNumber
    from models.users import CredentialState, UserProfile

    with _db(ctx).session() as session:
        user = site.find_user(session, user_id)
        dn = session.get(DirectoryNumber, user.primary_extension_id) if user.primary_extension_id else None
        profile = session.get(UserProfile, user.profile_id) if user.profile_id else None
        locked = is_locked(session.get(CredentialState, user.id), load_settings(session), utcnow())
    click.echo(f"user: {user.user_id}\nname: {user.display_name}\nextension: {dn.pattern + ' (' + dn.partition + ')' if dn else '-'}")
    click.echo(f"self-service id: {user.self_service_id or '-'}\nprofile: {profile.name if profile else '-'}")
    click.echo(f"PIN set: {'yes' if user.pin_hash else 'no'}\nlocked: {'yes' if locked else 'no'}")


@users.command("unlock")
@click.argument("user_id")
@click.pass_context
@refusals
def users_unlock(ctx, user_id: str) -> None:
    with _db(ctx).session() as session:
        site.unlock(session, user_id)
    click.echo(f"{user_id} unlocked")


@main.group()
def settings() -> None:
    """Show or change the site settings (S-1..S-5, credential policy)."""


@settings.command("show")
@click.pass_context
def settings_show(ctx) -> None:
    with _db(ctx).session() as session:
        for key, value in load_settings(session).public().items():
            click.echo(f"{key} = {value}")


@settings.command("set")
@click.argument("key", type=click.Choice(EDITABLE))
@click.argument("value")
@click.pass_context
@refusals
def settings_set(ctx, key: str, value: str) -> None:
    with _db(ctx).session() as session:
        save_settings(session, **{key: parse_value(key, value)})
    click.echo(f"{key} set")


@settings.command("set-auth-code")
@click.option("--code", prompt=True, hide_input=True, confirmation_prompt=True)
@click.pass_context
@refusals
def settings_set_auth_code(ctx, code: str) -> None:
    """The system authentication code (S-4), stored hashed."""
    with _db(ctx).session() as session:
        site.set_auth_code(session, code)
    click.echo("authentication code set")


@main.group()
def admins() -> None:
    """Administrator accounts for the admin web UI."""


@admins.command("add")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.pass_context
@refusals
def admins_add(ctx, username: str, password: str) -> None:
    from models.admins import create_admin

    with _db(ctx).session() as session:
        create_admin(session, username, password)
    click.echo(f"administrator {username} added")


@main.group()
def tokens() -> None:
    """API tokens for /api/v1 (scopes read, write)."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "write"]), default=["read"], show_default=True)
@click.pass_context
@refusals
def tokens_create(ctx, name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; it is printed once and stored hashed."""
    from models.admins import create_token

    with _db(ctx).session() as session:
        token, row = create_token(session, name, list(scopes))
    click.echo(f"token {row.id} ({', '.join(row.scopes)}): {token}")


@tokens.command("list")
@click.pass_context
def tokens_list(ctx) -> None:
    from sqlmodel import select

    from models.admins import ApiToken

    with _db(ctx).session() as session:
        for row in session.exec(select(ApiToken)):
            used = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "never used"
            click.echo(f"{row.id:4} {row.name:20} {','.join(row.scopes):11} {'revoked' if row.revoked else 'active':8} {used}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
@refusals
def tokens_revoke(ctx, token_id: int) -> None:
    from models.admins import revoke_token

    with _db(ctx).session() as session:
        revoke_token(session, token_id)
    click.echo(f"token {token_id} revoked")


@main.group("activation-codes")
def activation_codes() -> None:
    """M-5: codes that bind a new phone to a device built for a user."""


@activation_codes.command("issue")
@click.argument("user_id")
@click.argument("model")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 365))
@click.pass_context
@refusals
def activation_issue(ctx, user_id: str, model: str, days: int) -> None:
    """Issue a code for USER_ID's new MODEL; the code is shown once."""
    from models import activation
    from models.catalog import default_catalog

    with _db(ctx).session() as session:
        code, row = activation.issue(session, user_id, model, default_catalog(), days=days)
    click.echo(f"activation code for {user_id} ({row.model}): {code[:4]}-{code[4:8]}-{code[8:12]}-{code[12:]}"
               f" (valid until {row.expires_at:%Y-%m-%d %H:%M} UTC; shown only now)")


@activation_codes.command("list")
@click.pass_context
def activation_list(ctx) -> None:
    from models import activation

    with _db(ctx).session() as session:
        for row in activation.listing(session):
            click.echo(f"{row.id:4} ...{row.hint} {row.user:10} {row.model:7} {row.status:8} {row.used_by or ''}")


@activation_codes.command("revoke")
@click.argument("code_id", type=int)
@click.pass_context
@refusals
def activation_revoke(ctx, code_id: int) -> None:
    from models import activation

    with _db(ctx).session() as session:
        activation.revoke(session, code_id)
    click.echo(f"activation code {code_id} revoked")


@main.command()
@click.option("--demo", is_flag=True, help="Load the demo site first if the database is empty.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="A TOML settings file.")
@click.option("--web-port", type=int, help="Web port (screens, admin, API); default 8080.")
@click.option("--config-port", type=int, help="Config files over HTTP; default 6970.")
@click.option("--tftp-port", type=int, help="TFTP; default 6969 (69 in the container).")
@click.option("--ivr-workers", type=click.IntRange(0, 256),
              help="IVR worker processes, 4 calls each; default 1, 0: no IVR.")
@click.option("--ivr-port", type=click.IntRange(1, 65535),
              help="SIP port of the first IVR worker, the others on the next ones; default 5060.")
@click.option("--web-processes", type=click.IntRange(1, 64),
              help="Processes serving the web port; default 1. One per core for a storm of phones.")
@click.option("--host", help="Listen on this address for every service (default 127.0.0.1).")
@click.pass_context
def serve(ctx, demo, config_file, web_port, config_port, tftp_port, ivr_workers, ivr_port, web_processes, host) -> None:
    """Run the server: web, config files over HTTP, TFTP and the IVR workers."""
    from phoneservice.config import ConfigError, load_config
    from phoneservice.observe import setup_logging
    from phoneservice.processes.server import run

    overrides: dict = {}
    if ctx.obj["url"]:
        overrides["database"] = {"url": ctx.obj["url"]}
    for section, key, value in (("web", "port", web_port), ("config_http", "port", config_port),
                                ("tftp", "port", tftp_port), ("ivr", "workers", ivr_workers),
                                ("ivr", "port", ivr_port), ("web", "processes", web_processes)):
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    if host:
        for section in ("web", "config_http", "tftp", "ivr"):
            overrides.setdefault(section, {})["host"] = host
    try:
        config = load_config(config_file, **overrides)
    except ConfigError as exc:
        _fail(str(exc))
    setup_logging(config.log.level, config.log.format)
    run(config, demo=demo or config.demo)


@main.command()
@click.argument("name")
@click.pass_context
@refusals
def show(ctx, name: str) -> None:
    """One phone: lines, KEMs, template, security profile, state."""
    with _db(ctx).session() as session:
        view = reports.device_public(session, find_device(session, normalize_device_name(name)))
    for key, value in view.model_dump().items():
        if key != "lines":
            click.echo(f"{key:22} {value}")
    for line in view.lines:
        flags = " shared" * line["shared"] + " intercom" * line["intercom"]
        click.echo(f"line {line['position']:<2} {line['directory_number']:8} {line['partition']:12} {line['label']}{flags}")


@main.command("import-bat")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", help="The phones' model, for a BAT phone format file (it has no Device Type column).")
@click.option("--protocol", type=click.Choice(["SIP", "SCCP"], case_sensitive=False), help="Their protocol (with --model).")
@click.option("--dry-run", is_flag=True, help="Check every row and count what would be created; change nothing.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
@refusals
def import_bat_file(ctx, csv_file: str, model, protocol, dry_run: bool, quiet: bool) -> None:
    """Import phones from a CUCM BAT CSV file: every row, or none when one is bad.

    Missing DNs, owners (no PIN) and button templates are created; a security
    profile not known here is created Non-Secure unless its name says
    Authenticated or Encrypted.
    """
    from models import bat

    with open(csv_file, "rb") as f:
        data = f.read()
    try:
        summary = bat.import_bat(_db(ctx), data, model=model, protocol=protocol, dry_run=dry_run,
                                 progress=None if quiet else sys.stderr)
    except bat.BatRejected as rejected:
        for line in rejected.lines():
            click.echo(line, err=True)
        _fail(rejected.message)
    click.echo(str(summary))
    if summary.ignored_columns:
        click.echo(f"ignored columns: {', '.join(summary.ignored_columns)}")


@main.command("export-bat")
@click.option("--format", "fmt", type=click.Choice(["all-details", "bat"]), default="all-details", show_default=True,
              help='"Export Phones – All Details", or the default BAT phone format.')
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (default: standard output).")
@click.pass_context
@refusals
def export_bat_file(ctx, fmt: str, output: str | None) -> None:
    """Export every phone as a CUCM BAT CSV file."""
    from models import bat

    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            count = bat.export_bat(_db(ctx), f, fmt=fmt)
        click.echo(f"exported {count} phones to {output}", err=True)
    else:
        click.echo(bat.export_text(_db(ctx), fmt), nl=False)
    if fmt == "bat":
        click.echo("note: the BAT phone format has no device type, button template, security profile, KEM or "
                   "intercom column: import it with --model and --protocol, or export all-details", err=True)


# --- F-6 bulk firmware-migration tasks; F-7 DHCP option 150 --------------------------------



main.add_command(tasks)
main.add_command(dhcp_option150)


if __name__ == "__main__":
    main()
