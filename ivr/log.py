"""The IVR's log events: the standard ``logging`` module, one record per event.

``log_event("ivr_call_ended", call=3, device="SEP...")`` logs the event name
as the message and its fields as the record's ``fields`` attribute, on the
``phone_migration`` logger every part of the server shares. How a record is
written (one JSON line) and the dropping of any field whose name says it
holds a secret (A-6) belong to the process that sets up logging:
``phoneservice.observe.setup_logging``, in the IVR worker too
(``python -m phoneservice.processes.ivr_worker``). The IVR never passes a
PIN or a code to a log in the first place.
"""

from __future__ import annotations

import logging

LOGGER = "phone_migration"
logger = logging.getLogger(LOGGER)


def log_event(event: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, event, extra={"fields": fields})


def error_text(exc: BaseException) -> str:
    """What happened, in words: a pjsua2 ``Error`` by its title and reason (its repr is a bare
    SWIG object name), anything else by its class and message."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        title = getattr(exc, "title", "") or type(exc).__name__
        status = getattr(exc, "status", None)
        return f"{title}: {reason}" + (f" (status {status})" if status else "")
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
