"""phoneservice.observe's log handler pieces: the IVR logs through plain ``logging``
(``ivr.log``), and the handler the server installs still drops secret-named fields (A-6)."""

from __future__ import annotations

import io
import json
import logging

from twisted.logger import PredicateResult

from ivr.log import log_event as ivr_log_event
from phoneservice.observe import JsonFormatter, SecretFilter, _not_port_chatter, log_event


def captured(log, *args, **fields) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SecretFilter())  # as setup_logging installs it
    logger = logging.getLogger("phone_migration")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not the attribute: it clears the logger's cached levels
    try:
        log(*args, **fields)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return json.loads(stream.getvalue())


def test_the_handler_drops_secret_fields_an_ivr_record_carries():
    line = captured(ivr_log_event, "ivr_probe", pin="97531", Auth_Code="1234", device="SEP00AA11BB22CC", call=3)
    assert line["event"] == "ivr_probe" and line["level"] == "info"
    assert line["device"] == "SEP00AA11BB22CC" and line["call"] == 3
    assert "pin" not in line and "Auth_Code" not in line


def test_the_server_log_event_drops_them_before_the_handler_too():
    line = captured(log_event, "probe", token="pm_secret", password="x", user="alice")
    assert line["user"] == "alice" and not {"token", "password"} & set(line)


def test_t2_a_transfer_port_s_open_and_close_are_not_logged():
    """T-2: each TFTP transfer has a UDP port of its own; Twisted's line for its start and
    its close is dropped (1,000 lines a 500-phone boot storm), every other line kept."""
    def verdict(text: str) -> PredicateResult:
        return _not_port_chatter({"log_format": "{log_text}", "log_text": text})

    assert verdict("_TransferProtocol starting on 41234") == PredicateResult.no
    assert verdict("(UDP Port 41234 Closed)") == PredicateResult.no
    assert verdict("Site starting on 8080") == PredicateResult.maybe
    assert verdict("_RequestPort starting on 69") == PredicateResult.maybe
    assert _not_port_chatter({"log_format": "TFTP send to {addr} failed"}) == PredicateResult.maybe
