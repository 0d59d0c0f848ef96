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
