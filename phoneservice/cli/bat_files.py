"""``phone-migration import-bat|export-bat``: CUCM BAT CSV files in and out.

Registered on the main command by ``phoneservice.cli.commands``.
"""

from __future__ import annotations

import sys

import click

from models.rules.phrases import count
from phoneservice.cli.common import _db, _fail, refusals


@click.command("import-bat")
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
    from models.services import bat

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


@click.command("export-bat")
@click.option("--format", "fmt", type=click.Choice(["all-details", "bat"]), default="all-details", show_default=True,
              help='"Export Phones – All Details", or the default BAT phone format.')
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (default: standard output).")
@click.pass_context
@refusals
def export_bat_file(ctx, fmt: str, output: str | None) -> None:
    """Export every phone as a CUCM BAT CSV file."""
    from models.services import bat

    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            exported = bat.export_bat(_db(ctx), f, fmt=fmt)
        click.echo(f"exported {count(exported, 'phone')} to {output}", err=True)
    else:
        click.echo(bat.export_text(_db(ctx), fmt), nl=False)
    if fmt == "bat":
        click.echo("note: the BAT phone format has no device type, button template, security profile, KEM or "
                   "intercom column: import it with --model and --protocol, or export all-details", err=True)
