"""The ``phone-migration`` command: one thin command per engine call.

Every error is one line on stderr and exit status 1; nothing is half-written
because each command is one engine call in one transaction. Here: the main
group, migrate, show, report, settings and ``serve``; the phones (``phones``), the
accounts (``accounts``), BAT files (``bat_files``) and bulk tasks (``tasks``) are
added from their modules.
"""

from __future__ import annotations

import click

from models.rules.names import normalize_device_name
from models.rules.plan import Plan, Target
from models.rules.record_filter import DOORS, OUTCOMES, record_filter
from models.rules.settings import EDITABLE, parse_value
from models.services import reports, site
from models.services.migration import Migrator
from models.services.security_profiles import profile as security_profile
from models.storage.database import URL_ENV
from models.storage.devices import find_device
from models.storage.settings import load_settings, save_settings
from phoneservice.cli.accounts import activation_codes, admins, tokens, users
from phoneservice.cli.bat_files import export_bat_file, import_bat_file
from phoneservice.cli.callcontrol import kamailio_config
from phoneservice.cli.common import EXIT_MACHINE, EXIT_USAGE, OperatorGroup, _db, _fail, on_terminal, readable, refusals
from phoneservice.cli.devicedefaults import device_defaults
from phoneservice.cli.devicepools import device_pools
from phoneservice.cli.phones import devices
from phoneservice.cli.security import security_profiles
from phoneservice.cli.tasks import dhcp_option150, tasks
from phoneservice.cli.undo import undo
from phoneservice.cli.waves import waves
from phoneservice.demo import load_demo_once


@click.group(cls=OperatorGroup)
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
    db = _db(ctx, ready=False)
    db.upgrade()
    if demo:
        load_demo_once(db)
    click.echo(f"database ready: {db.url}")


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
@click.option("--yes", is_flag=True, help="Apply without asking (a terminal is asked after the plan is shown).")
@click.pass_context
@refusals
def migrate(ctx, old, mac, model, protocol, template, description, dry_run, yes) -> None:
    """Migrate OLD (SEP<MAC>) to a new phone (C-15)."""
    if bool(template) == bool(model):
        _fail("give either --model (and --protocol) or --template")
    target = Target(mac=mac, model=model, protocol=protocol, template=template, description=description)
    migrator = Migrator(_db(ctx))
    if not dry_run and not yes and on_terminal():
        _print_plan(migrator.migrate(old, target, door="cli", actor="cli", dry_run=True).plan)
        if not click.confirm("Apply this migration?", default=False):
            click.echo("nothing changed")
            return
    result = migrator.migrate(old, target, door="cli", actor="cli", dry_run=dry_run)
    _print_plan(result.plan)
    click.echo("dry run: nothing changed" if dry_run else f"migrated {result.plan.old.name} -> {result.new_device}")


@main.command()
@click.option("--csv", "as_csv", is_flag=True, help="CSV for a spreadsheet.")
@click.option("--outcome", default="", help=f"One of {', '.join(OUTCOMES)}.")
@click.option("--door", default="", help=f"One of {', '.join(DOORS)}.")
@click.option("--actor", default="", help="A part of the actor, e.g. admin: for every administrator.")
@click.option("--since", default="", metavar="YYYY-MM-DD", help="From this UTC day on.")
@click.option("--until", default="", metavar="YYYY-MM-DD", help="Up to this UTC day, included.")
@click.pass_context
@refusals
def report(ctx, as_csv: bool, outcome: str, door: str, actor: str, since: str, until: str) -> None:
    """The migration report: every migration and refusal (C-13), newest first; the filters combine."""
    where = record_filter(outcome=outcome, door=door, actor=actor, since=since, until=until)
    with _db(ctx).read_session() as session:
        rows = reports.records(session, where=where)
    if as_csv:
        click.echo(reports.report_csv(rows), nl=False)
        return
    click.echo(f"{'AT (UTC)':19} {'DOOR':6} {'OUTCOME':11} {'OLD PHONE':16}    {'NEW PHONE':16} MESSAGE")
    for r in rows:
        click.echo(f"{r.at:%Y-%m-%d %H:%M:%S} {r.door:6} {r.outcome:11} {r.old_device or '-':16} -> {r.new_device or '-':16} {r.message}")


@main.group()
def settings() -> None:
    """Show or change the site settings (S-1..S-5, credential policy)."""


@settings.command("show")
@click.pass_context
def settings_show(ctx) -> None:
    with _db(ctx).session() as session:
        for key, value in load_settings(session).public().items():
            click.echo(f"{key} = {readable(value) if value != '' else chr(34) * 2}")  # "": set to nothing


@settings.command("set")
@click.argument("key")
@click.argument("value")
@click.pass_context
@refusals
def settings_set(ctx, key: str, value: str) -> None:
    """Set KEY (one of the keys `settings show` lists) to VALUE."""
    if key not in EDITABLE:
        _fail(f'no setting "{key}"; the settings are {", ".join(EDITABLE)}', EXIT_USAGE)
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


@main.command()
@click.option("--demo", is_flag=True, help="Load the demo site first if the database is empty.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="A TOML settings file.")
@click.option("--web-port", type=int, help="Web port (screens, admin, API); default 8080.")
@click.option("--config-port", type=int, help="Config files over HTTP; default 6970.")
@click.option("--tftp-port", type=int, help="TFTP; default 6969 (69 in the container).")
@click.option("--ivr-workers", type=click.IntRange(0, 256),
              help="IVR worker processes, 4 calls each; default 1, 0: no IVR.")
@click.option("--ivr-port", type=click.IntRange(1, 65535),
              help="SIP port of the first IVR worker, the others on the next ones; default 5060 "
                   "(with --kamailio on 5060: 5062).")
@click.option("--web-processes", type=click.IntRange(1, 64),
              help="Processes serving the web port; default 1. One per core for a storm of phones.")
@click.option("--host", help="Listen on this address for every service (default 127.0.0.1); the IVR workers' "
                              "audio too, their SIP stays on loopback behind Kamailio (R-7).")
@click.option("--kamailio", "run_kamailio", is_flag=True,
              help="Run Kamailio in front of the IVR workers as the phones' registrar, and keep it running "
                   "(R-7, R-8; [sip_front] settings).")
@click.option("--sip-listen", multiple=True, metavar="ADDR",
              help="With --kamailio: an address phones and the PBX reach (repeat for more); default --host, "
                   "else 127.0.0.1.")
@click.option("--sip-port", type=click.IntRange(1, 65535), help="With --kamailio: its SIP port; default 5060.")
@click.pass_context
def serve(ctx, demo, config_file, web_port, config_port, tftp_port, ivr_workers, ivr_port, web_processes, host,
          run_kamailio, sip_listen, sip_port) -> None:
    """Run the server: web, config files over HTTP, TFTP and the IVR workers (and Kamailio: --kamailio)."""
    # Loaded here, not at the top: the other commands start without Twisted and Flask.
    from phoneservice.config import ConfigError, load_config
    from phoneservice.observe import setup_logging
    from phoneservice.processes.server import run
    from phoneservice.processes.sip_front import FrontError, kamailio_binary

    overrides: dict = {}
    if ctx.obj["url"]:
        overrides["database"] = {"url": ctx.obj["url"]}
    for section, key, value in (("web", "port", web_port), ("config_http", "port", config_port),
                                ("tftp", "port", tftp_port), ("ivr", "workers", ivr_workers),
                                ("ivr", "port", ivr_port), ("web", "processes", web_processes)):
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    if host:
        for section in ("web", "config_http", "tftp"):
            overrides.setdefault(section, {})["host"] = host
        overrides.setdefault("ivr", {})["media_host"] = host  # the workers' SIP stays on loopback (R-7)
    front = {"run": True} if run_kamailio else {}
    if sip_listen or (host and run_kamailio and host not in ("0.0.0.0", "::")):
        front["listen"] = list(sip_listen) or [host]
    if sip_port is not None:
        front["port"] = sip_port
    if front:
        overrides["sip_front"] = front
    try:
        config = load_config(config_file, **overrides)
    except ConfigError as exc:
        _fail(str(exc))
    if config.sip_front.run:
        try:
            kamailio_binary()
        except FrontError as exc:
            _fail(str(exc), EXIT_MACHINE)
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
        secure = security_profile(session, view.security_profile) if view.security_profile else None
    for key, value in view.model_dump().items():
        if key != "lines":
            click.echo(f"{key:22} {readable(value)}")
        if key == "security_profile" and secure is not None:  # C-3's inputs, and what a migration maps them to
            click.echo(f"{'  mode, TFTP, transport':22} {secure.mode}, TFTP encrypted {readable(secure.tftp_encrypted)}, "
                       f"{secure.transport}, key order {secure.key_order}; migrates to {secure.maps_to}")
    for line in view.lines:
        flags = " shared" * line["shared"] + " intercom" * line["intercom"]
        click.echo(f"line {line['position']:<2} {line['directory_number']:8} {line['partition']:12} {line['label']}{flags}")


# --- the other modules' commands ---------------------------------------------------------
main.add_command(devices)  # list phones; edit, delete, restart one (E-4)
main.add_command(users)  # accounts
main.add_command(admins)
main.add_command(tokens)
main.add_command(activation_codes)
main.add_command(import_bat_file)  # CUCM BAT files
main.add_command(export_bat_file)
main.add_command(tasks)  # F-6 bulk firmware-migration tasks; F-7 DHCP option 150
main.add_command(dhcp_option150)
main.add_command(kamailio_config)  # the registrar's configuration (R-1..R-5)
main.add_command(device_pools)  # T-7: the pools' date/time groups
main.add_command(device_defaults)  # S-6: per model, the default load and onboarding method
main.add_command(security_profiles)  # C-3: the security profiles' four inputs
main.add_command(undo)  # U-1: undo a migration
main.add_command(waves)  # W-1..W-3: replacement waves
