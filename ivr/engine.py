"""The engine, in a thread: a flow's ``RunEngine`` as a ``SelfService`` call, and its answer as an event.

Runs off the reactor thread (the adapter's ``in_thread``); the flow only ever
sees plain data, never a model object, and a ``Refused`` becomes
``EngineFailed`` with its code.
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.python.failure import Failure

from ivr import flow
from ivr.log import error_text, log_event
from models.rules import outcomes
from models.rules.attempt import Attempt
from models.rules.refusals import Refused


def engine_value(op: str, result: Any) -> object:
    """The flow's view of a ``SelfService`` answer: plain data, no model objects."""
    if op == "select":
        describe = lambda c: {"name": c.name, "model": c.model, "mac": c.mac, "description": c.description}  # noqa: E731
        if result.chosen is not None:
            return {"chosen": describe(result.chosen)}
        return {"choices": [describe(c) for c in result.choices]}
    if op == "preview":
        return {"losses": len(result.losses), "kem_moves": outcomes.has(result.warnings, outcomes.LINES_TO_KEM)}
    if op == "replace":
        return {"new_device": result.new_device}
    if op == "provision":
        return {"new_device": result}
    return None


def run_engine(service: Any, attempt: Attempt, op: str, arg: str | None) -> object:
    """RunEngine(op, arg) -> ``SelfService.<op>`` on the call's Attempt. Off the reactor thread."""
    if op in ("identify", "authenticate"):
        getattr(service, op)(attempt, arg or "")
        return None
    if op in ("select", "provision"):
        return engine_value(op, getattr(service, op)(attempt))
    if op in ("preview", "replace"):
        return engine_value(op, getattr(service, op)(attempt, arg or ""))
    if op == "abandon":  # C-13, after the hang-up: arg is the caller's choice
        service.abandon(attempt, arg)
        return None
    raise ValueError(f"unknown engine operation {op!r}")


def engine_failure(op: str, failure: Failure) -> flow.EngineFailed:
    if failure.check(Refused):
        refusal = failure.value
        return flow.EngineFailed(op, refusal.code, refusal.final)
    log_event("ivr_engine_error", logging.ERROR, op=op, error=error_text(failure.value))
    return flow.EngineFailed(op, "error", final=True)  # nothing the caller can retype
