"""``phone-migration undo RECORD_ID [--yes]``: undo a migration (U-1) on the one service the
admin UI and the API call; registered on the main command by ``phoneservice.cli.commands``."""

from __future__ import annotations

import click

from models.services.undo import Undoer, UndoPreview
from phoneservice.cli.common import _db, on_terminal, refusals


def _print(preview: UndoPreview) -> None:
    click.echo(f"migration {preview.record_id}: {preview.old_device} -> {preview.new_device}")
    click.echo(f"{preview.old_device} gets back:")
    for line in preview.lines:
        click.echo(f"  line {line}")
    for button in preview.features:
        click.echo(f"  button {button}")
    click.echo(f"  KEM: {', '.join(preview.kems) or 'none'}")
    for restored in preview.restored:
        click.echo(f"  {restored}")
    click.echo(f"{preview.new_device} is deleted: its MAC is served XMLDefault.cnf.xml again")


@click.command("undo")
@click.argument("record_id", type=int)
@click.option("--yes", is_flag=True, help="Undo without asking (without it: the preview, then a question on a "
                                          "terminal; elsewhere the preview only).")
@click.pass_context
@refusals
def undo(ctx, record_id: int, yes: bool) -> None:
    """Undo migration RECORD_ID (U-1): the old phone gets back what it had, the new one is deleted."""
    undoer = Undoer(_db(ctx))
    if not yes:
        _print(undoer.preview(record_id))
        if not (on_terminal() and click.confirm("Undo this migration?", default=False)):
            click.echo("nothing changed" + ("" if on_terminal() else " (give --yes to undo)"))
            return
    done = undoer.undo(record_id, door="cli", actor="cli")
    if yes:
        _print(done)
    click.echo(f"undone: migration {record_id}; {done.old_device} is back, {done.new_device} deleted "
               f"(record {done.undo_record_id})")
