"""``phone-migration waves stage|list|show|cancel|report``: replacement waves (W-1..W-3) on the one
service the admin UI, the API and the config files call; registered on the main command by
``phoneservice.cli.commands``."""

from __future__ import annotations

import click

from models.services.waves import Waves, WaveView
from phoneservice.cli.common import _db, _fail, refusals


@click.group()
def waves() -> None:
    """W-1..W-3 replacement waves: stage old phone + new MAC rows; each applies when its new phone first asks for its file."""


def _counts(view: WaveView) -> str:
    return ", ".join(f"{state} {n}" for state, n in view.counts.items() if n)


@waves.command("stage")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="The wave's name: letters, digits, '-', '_' or '.'.")
@click.option("--errors-out", type=click.Path(dir_okay=False), help="Write the refused rows here, to fix and stage again.")
@click.pass_context
@refusals
def waves_stage(ctx, csv_file: str, name: str, errors_out: str | None) -> None:
    """Stage wave NAME from FILE.csv (Old Device, New MAC, optional Model, Template, Description)."""
    try:
        with open(csv_file, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        _fail(f"{csv_file} is not UTF-8 text: save it as CSV UTF-8")
    service = Waves(_db(ctx))
    view = service.stage(name, text, by="cli")
    click.echo(f"wave {view.name}: {len(view.rows)} rows staged, {len(view.errors)} refused")
    for row in view.rows:
        for note in row.summary:
            click.echo(f"  row {row.row} {row.old_device} -> {row.new_device}: {note}")
    for error in view.errors:
        click.echo(f"  row {error['row']}{' ' + error['column'] if error['column'] else ''}: {error['message']}")
    if errors_out and view.errors:
        with open(errors_out, "w", encoding="utf-8", newline="") as f:
            f.write(service.errors_csv(name))
        click.echo(f"refused rows written to {errors_out}: fix them and stage them as another wave")


@waves.command("list")
@click.pass_context
def waves_list(ctx) -> None:
    """Every wave, newest first, with its rows' counts."""
    for view in Waves(_db(ctx)).waves():
        click.echo(f"{view.name:24} {view.created:%Y-%m-%d %H:%M} {_counts(view)}")


@waves.command("show")
@click.argument("name")
@click.pass_context
@refusals
def waves_show(ctx, name: str) -> None:
    """Wave NAME's rows: staged / applied / confirmed / failed / cancelled / held, with the reason."""
    view = Waves(_db(ctx)).show(name)
    click.echo(f"wave {view.name}, staged {view.created:%Y-%m-%d %H:%M} by {view.created_by or '-'}: {_counts(view)}")
    for row in view.rows:
        why = f"  {row.reason}" if row.reason else ""
        click.echo(f"{row.row:>5} {row.old_device:16} -> {row.new_device:16} {row.state:10}{why}")


@waves.command("cancel")
@click.argument("name")
@click.argument("row", type=int)
@click.pass_context
@refusals
def waves_cancel(ctx, name: str, row: int) -> None:
    """Cancel ROW of wave NAME (as numbered in its CSV, the header being row 1) before it applies."""
    done = Waves(_db(ctx)).cancel(name, row)
    click.echo(f"row {done.row} cancelled: {done.old_device} stays, {done.new_device} will not replace it")


@waves.command("report")
@click.argument("name")
@click.option("--errors", is_flag=True, help="The refused rows of the upload instead (Row, Column, Error).")
@click.pass_context
@refusals
def waves_report(ctx, name: str, errors: bool) -> None:
    """Wave NAME's report as CSV on standard output."""
    service = Waves(_db(ctx))
    click.echo(service.errors_csv(name) if errors else service.report_csv(name), nl=False)
