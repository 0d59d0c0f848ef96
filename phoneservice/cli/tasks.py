"""``phone-migration tasks ...`` and ``dhcp-option150``: the firmware door of the CLI (F-6, F-7).

Registered on the main command by ``phoneservice.cli``; each command is one
call of ``models.services.tasks.BulkTasks`` or ``models.rules.firmware``.
"""

from __future__ import annotations

import sys

import click

from models.rules.phrases import count
from phoneservice.cli.common import _db, _fail, refusals


@click.group()
def tasks() -> None:
    """F-6 bulk firmware-migration tasks: upload a CSV, check, migrate in batches of 200."""


def _bulk(ctx: click.Context):
    from models.services.tasks import BulkTasks

    return BulkTasks(_db(ctx))


def _macs(macs: tuple[str, ...]) -> list[str] | None:
    return list(macs) or None


@tasks.command("create")
@click.argument("name")
@click.option("--license-only", is_flag=True, help="Generate device licenses only: the CSV has Model and MAC Address.")
@click.option("--direction", type=click.Choice(["e2m", "m2e"]), default="e2m", show_default=True,
              help="e2m: Enterprise -> MPP; m2e: MPP -> Enterprise.")
@click.option("--include-unknown", is_flag=True, help="Migrate devices whose eligibility is unknown too.")
@click.pass_context
@refusals
def tasks_create(ctx, name: str, license_only: bool, direction: str, include_unknown: bool) -> None:
    """Create task NAME (unique; letters, digits, -, _ and . only)."""
    from models.rules.firmware import Direction

    task = _bulk(ctx).create(name, "license_only" if license_only else "license_and_device",
                             Direction.E2M if direction == "e2m" else Direction.M2E, include_unknown)
    click.echo(f"task {task.name} created ({task.kind}, {task.direction}): {task.status}")


@tasks.command("upload")
@click.argument("name")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--errors-out", type=click.Path(dir_okay=False), help="Write the refused rows here, to fix and upload again.")
@click.option("--location", "locations", multiple=True,
              help="A location that exists (repeat); default: the locations of the phones in the database.")
@click.pass_context
@refusals
def tasks_upload(ctx, name: str, csv_file: str, errors_out: str | None, locations: tuple[str, ...]) -> None:
    """Add the devices of FILE.csv to task NAME; rows with errors are refused, the others added."""
    import os

    try:
        with open(csv_file, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        _fail(f"{csv_file} is not UTF-8 text: save it as CSV UTF-8")
    result = _bulk(ctx).upload(name, text, file_name=os.path.basename(csv_file), locations=locations or None)
    click.echo(f"Added: {result.added}\nRefused rows: {result.refused}\nTotal uploaded: {result.total}")
    for error in result.errors:
        click.echo(f"  row {error.row}{' ' + error.column if error.column else ''}: {error.message}")
    if errors_out and result.errors:
        with open(errors_out, "w", encoding="utf-8", newline="") as f:
            f.write(result.errors_csv)
        click.echo(f"refused rows written to {errors_out}: fix them and upload that file again")


@tasks.command("list")
@click.pass_context
def tasks_list(ctx) -> None:
    """Every task: kind, direction, devices done of devices to migrate, its headline (F-6b)."""
    from models.rules.task_summary import headline

    bulk = _bulk(ctx)
    for task in bulk.tasks():
        progress = bulk.progress(task.name)
        click.echo(f"{task.name:24} {task.kind:18} {task.direction:18} {progress.done:>4}/{progress.total:<4} "
                   f"{headline(progress)}")


@tasks.command("show")
@click.argument("name")
@click.option("--eligibility", type=click.Choice(["eligible", "ineligible", "unknown"]))
@click.option("--state", type=click.Choice(["error", "unknown_device", "ready", "in_progress", "complete", "paused",
                                            "cancelled", "failed", "confirmed", "waiting"]),
              help="confirmed / waiting: pushed devices whose phone reports the target load / not yet (F-6d).")
@click.option("--search", default="", help="Part of any attribute, any case (MAC, user, location, model, reason...).")
@click.pass_context
@refusals
def tasks_show(ctx, name: str, eligibility: str | None, state: str | None, search: str) -> None:
    """Task NAME: its headline, the actions its state allows, and its devices."""
    from models.rules.task_summary import confirmation_line, device_label, headline
    from models.rules.tasks import allowed_actions

    bulk = _bulk(ctx)
    task, progress = bulk.get(name), bulk.progress(name)
    click.echo(f"task {task.name}: {headline(progress)}")
    click.echo(f"{task.kind}, {task.direction}, unknown eligibility "
               f"{'included' if task.include_unknown else 'not included'}")
    if confirmation_line(progress):
        click.echo(confirmation_line(progress))
    click.echo("devices: " + ", ".join(f"{s} {n}" for s, n in sorted(progress.counts.items())) if progress.counts
               else "devices: none")
    click.echo("actions: " + (", ".join(allowed_actions(task.status, task.paused, progress.counts)) or "none"))
    for row in bulk.device_page(name, eligibility=eligibility, state=state, search=search, limit=None).rows:
        d = row.device
        click.echo(f"{d.mac} {d.model:7} {d.eligibility:10} {device_label(d.state, row.confirmation):29} "
                   f"{d.username or '-':28} {d.location or '-':12} {d.error or d.reason}")


def _run_batches(bulk, name: str) -> None:
    """The batches, with a progress bar on stderr; a pause or cancel from anywhere stops it after a batch."""
    from tqdm import tqdm

    start = bulk.progress(name)
    with tqdm(total=start.total, initial=start.done, desc=name, unit="phone", file=sys.stderr, leave=False) as bar:
        while True:
            result = bulk.run_next_batch(name)
            if result.batch is None:
                break
            bar.update(result.processed)
    end = bulk.progress(name)
    counts = ", ".join(f"{s} {n}" for s, n in sorted(end.counts.items()))
    if end.paused:
        click.echo(f"task {name} paused after {end.done}/{count(end.total, 'device')} ({counts}); "
                   f"continue with: phone-migration tasks resume {name}")
    elif end.status == "In progress":
        click.echo(f"task {name} in progress, {end.done}/{count(end.total, 'device')} ({counts}): "
                   "the others are paused one by one")
    else:
        click.echo(f"task {name}: {end.status} ({counts})")


@tasks.command("start")
@click.argument("name")
@click.option("--tftp-server", help="Host or address the phones fetch their <MAC>.lic from (kept with the task).")
@click.pass_context
@refusals
def tasks_start(ctx, name: str, tftp_server: str | None) -> None:
    """Migrate task NAME in batches of 200 (continues it when it is in progress already)."""
    bulk = _bulk(ctx)
    bulk.start(name, tftp_server)
    _run_batches(bulk, name)


@tasks.command("pause")
@click.argument("name")
@click.option("--mac", "macs", multiple=True, help="Only this device (repeat).")
@click.pass_context
@refusals
def tasks_pause(ctx, name: str, macs: tuple[str, ...]) -> None:
    """Pause task NAME after the batch under way (or only some devices)."""
    done = _bulk(ctx).pause(name, _macs(macs))
    click.echo(f"{count(done, 'device')} paused" if macs else f"task {name} pauses after the batch under way")


@tasks.command("resume")
@click.argument("name")
@click.option("--mac", "macs", multiple=True, help="Only this device (repeat).")
@click.option("--no-run", is_flag=True, help="Only lift the pause; run the batches later with tasks start.")
@click.pass_context
@refusals
def tasks_resume(ctx, name: str, macs: tuple[str, ...], no_run: bool) -> None:
    """Resume task NAME and run its remaining batches (or resume only some devices)."""
    bulk = _bulk(ctx)
    done = bulk.resume(name, _macs(macs))
    if macs:
        click.echo(f"{count(done, 'device')} resumed")
    elif no_run:
        click.echo(f"task {name} resumed: run its batches with phone-migration tasks start {name}")
    else:
        _run_batches(bulk, name)


@tasks.command("cancel")
@click.argument("name")
@click.option("--mac", "macs", multiple=True, help="Only this device (repeat).")
@click.pass_context
@refusals
def tasks_cancel(ctx, name: str, macs: tuple[str, ...]) -> None:
    """Cancel task NAME: devices done stay done, the others are cancelled (or only some devices)."""
    done = _bulk(ctx).cancel(name, _macs(macs))
    click.echo(f"{count(done, 'device')} cancelled")


@tasks.command("retry")
@click.argument("name")
@click.option("--mac", "macs", multiple=True, help="Only this device (repeat).")
@click.pass_context
@refusals
def tasks_retry(ctx, name: str, macs: tuple[str, ...]) -> None:
    """Check errored and failed devices again; those that pass are ready for migration again."""
    done = _bulk(ctx).retry(name, _macs(macs))
    click.echo(f"{count(done, 'device')} ready for migration again")


@tasks.command("refresh")
@click.argument("name")
@click.pass_context
@refusals
def tasks_refresh(ctx, name: str) -> None:
    """Check eligibility again and read the loads the migrated phones report."""
    done = _bulk(ctx).refresh(name)
    click.echo(f"{count(done, 'device')} changed state")


@tasks.command("report")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (default: standard output).")
@click.pass_context
@refusals
def tasks_report(ctx, name: str, output: str | None) -> None:
    """The status report of task NAME as CSV."""
    text = _bulk(ctx).report_csv(name)
    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        click.echo(f"status report written to {output}", err=True)
    else:
        click.echo(text, nl=False)


@tasks.command("export")
@click.argument("name")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False),
              help="Write one bulk-update CSV per model group here.")
@click.pass_context
@refusals
def tasks_export(ctx, name: str, directory: str) -> None:
    """Manual completion: one bulk-update file per model group (load chosen by model)."""
    from pathlib import Path

    files = _bulk(ctx).export(name)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (folder / file_name).write_text(text, encoding="utf-8", newline="")
        devices = len(text.splitlines()) - 1
        click.echo(f"{folder / file_name}: {count(devices, 'device')}")
    if not files:
        click.echo("no device to export")


@click.command("dhcp-option150")
@click.argument("addresses", metavar="IP...", nargs=-1, required=True)
def dhcp_option150(addresses: tuple[str, ...]) -> None:
    """F-7: DHCP option 150 (TFTP servers) for IP..., as hex."""
    from models.rules.firmware import dhcp_option_150

    try:
        network, reversed_ = dhcp_option_150(*addresses)
    except ValueError as exc:
        _fail(str(exc))
    click.echo(f"option 150 (network byte order): {network}")
    click.echo(f"byte-reversed (what tftpd32 and some Windows DHCP tools expect): {reversed_}")
