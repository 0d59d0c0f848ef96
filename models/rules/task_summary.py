"""F-6b, F-6d: how every door words a bulk task's state: its headline, its bar, a device's state.

One word a meaning: *failed* is a device the task could not migrate (the push
failed); a device the check left out is *not eligible* or an *unknown device*
(no phone of that MAC in the site); an upload's bad row is *refused*. *Pushed*
is a device whose new load (or license rule) the task wrote; it is *confirmed*
once the phone reports running the target load, and until then *pushed, waiting
for the phone*. A license-only device, or one with no target load, has nothing
to confirm: it is *pushed*.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.rules.phrases import count
from models.rules.tasks import COMPLETE, DRAFT, IN_PROGRESS, REVIEW_ERRORS, Progress

STATE_LABELS = {"error": "Not eligible", "unknown_device": "Unknown device", "ready": "Ready for migration",
                "in_progress": "In progress", "complete": "Pushed", "paused": "Paused", "cancelled": "Cancelled",
                "failed": "Failed"}
CONFIRMED, WAITING = "confirmed", "waiting"
CONFIRMATION_LABELS = {CONFIRMED: "Confirmed by the phone", WAITING: "Pushed, waiting for the phone"}


def confirmation(state: str, target_load: str | None, reported_load: str | None) -> str | None:
    """F-6d: ``confirmed`` when a pushed device's phone reports its target load, ``waiting`` while it
    does not (yet); None when there is nothing to confirm (not pushed, or no load pushed)."""
    if state != "complete" or not target_load:
        return None
    return CONFIRMED if reported_load and reported_load.lower() == target_load.lower() else WAITING


def device_label(state: str, confirmed: str | None = None) -> str:
    """A device's state as every door words it."""
    return CONFIRMATION_LABELS[confirmed] if confirmed else STATE_LABELS.get(state, state)


def headline(progress: Progress) -> str:
    """F-6b: the task in one line; a task that ended with failures says so, with how many."""
    counts, status = progress.counts, progress.status
    failed, pushed = counts.get("failed", 0), counts.get("complete", 0)
    left_out = [count(counts[s], "device") + " " + what for s, what in
                (("error", "not eligible"), ("unknown_device", "unknown to the site"))
                if counts.get(s)]
    if status == DRAFT:
        return "Draft: upload its devices"
    if status == IN_PROGRESS:
        line = f"{'Paused' if progress.paused else 'In progress'}: {progress.done} of " \
               f"{count(progress.total, 'device')} processed"
        return line + (f", {failed} failed" if failed else "")
    if status in (COMPLETE, REVIEW_ERRORS) and not counts.get("ready"):
        cancelled = counts.get("cancelled", 0)
        parts = [f"{pushed} pushed"] + ([f"{cancelled} cancelled"] if cancelled else [])
        if failed:
            return f"Finished with {failed} failed ({', '.join(parts)})"
        return f"Finished: {', '.join(parts)}"
    ready = count(counts.get("ready", 0), "device")
    return f"Ready: {ready} to migrate" + "".join(f", {p}" for p in left_out) + \
        (f", {failed} failed before" if failed else "")


def confirmation_line(progress: Progress) -> str | None:
    """F-6d: pushed vs confirmed, once a load was pushed to some device."""
    if not progress.to_confirm:
        return None
    waiting = progress.to_confirm - progress.confirmed
    return f"{progress.confirmed} of {count(progress.to_confirm, 'pushed device')} confirmed by the phone" + \
        (f"; {waiting} pushed, waiting for the phone" if waiting else "")


@dataclass(frozen=True)
class Segment:
    """One part of the progress bar, as a share of the devices the task migrates (percent)."""

    name: str  # confirmed, pushed, failed, cancelled
    label: str
    devices: int
    start: float
    width: float


def bar(progress: Progress) -> tuple[Segment, ...]:
    """F-6b: the bar shows done and failed apart: confirmed, pushed (waiting), failed and cancelled,
    each from where the one before it ends; what is left is still to do."""
    counts, total = progress.counts, progress.total or 1
    parts = (("confirmed", "Confirmed by the phone", progress.confirmed),
             ("pushed", "Pushed, waiting for the phone", counts.get("complete", 0) - progress.confirmed),
             ("failed", "Failed", counts.get("failed", 0)),
             ("cancelled", "Cancelled", counts.get("cancelled", 0)))
    segments, start = [], 0.0
    for name, label, devices in parts:
        if devices > 0:
            width = round(100 * devices / total, 2)
            segments.append(Segment(name, label, devices, start, width))
            start = round(start + width, 2)
    return tuple(segments)
