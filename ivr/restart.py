"""C-14: tell a phone to restart with an out-of-dialog SIP NOTIFY.

Why by hand: the one SIP stack in the project, pjsua2, allows a single
Endpoint per process and lives in the IVR workers; the web process (screens,
admin, API) must still restart a phone. Every door sends it from here, the
IVR worker too (in a thread, so no pool thread ever touches pjsua2); it lives
in ``ivr`` because it is SIP, and ``phoneservice`` may import ``ivr``, never
the other way round. A NOTIFY is one UDP request and one final answer, so a
small sender over a plain socket does the job; what it says is R-5's
``models.rules.registration.restart_request`` for the phone's model
(docs/protocol.md).
Retransmits as RFC 3261 Timer E (0.5 s doubling) within a bounded time.

R-5: with a registrar (Kamailio) the NOTIFY goes through it instead, over the
connection the phone registered from: ``Restarts`` is what every door calls,
``UdpRestarts`` is this plain UDP sender (only for a UDP contact), and the
registrar's sender (``phoneservice.callcontrol.restart``) is injected by the
composition root, since ``ivr`` imports nothing of ``phoneservice``.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ivr.log import log_event
from models.rules.catalog import UnknownModel, default_catalog
from models.rules.registration import restart_request

CONTACT = re.compile(r"^<?sips?:(?:(?P<user>[^@;>]+)@)?(?P<host>\[[0-9a-fA-F:.]+\]|[^:;>]+)(?::(?P<port>\d+))?")


@dataclass(frozen=True)
class RestartResult:
    sent: bool
    status: int | None  # the final SIP status, None when nothing answered
    reason: str = ""


def parse_contact(contact: str) -> tuple[str, str, int]:
    match = CONTACT.match((contact or "").strip())
    if not match:
        raise ValueError(f"not a SIP contact: {contact!r}")
    host = match.group("host").strip("[]")
    return match.group("user") or "", host, int(match.group("port") or 5060)


def contact_transport(contact: str) -> str:
    """``udp``, ``tcp`` or ``tls``: the URI's transport parameter (``sips:`` is TLS)."""
    text = (contact or "").strip().lstrip("<").lower()
    found = re.search(r";transport=([a-z]+)", text)
    if found:
        return found.group(1)
    return "tls" if text.startswith("sips:") else "udp"


def build_notify(contact: str, local: tuple[str, int], register_call_id: str | None = None,
                 model: str | None = None) -> tuple[bytes, str]:
    """The NOTIFY (R-5's ``restart_request`` for the phone's model) and its Call-ID."""
    user, host, port = parse_contact(contact)
    uri = f"sip:{user + '@' if user else ''}{'[' + host + ']' if ':' in host else host}:{port}"
    local_host = f"[{local[0]}]" if ":" in local[0] else local[0]
    call_id = f"{secrets.token_hex(8)}@{local_host}"
    request = restart_request(model, register_call_id)
    message = (
        f"NOTIFY {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {local_host}:{local[1]};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:phone-migration@{local_host}>;tag={secrets.token_hex(4)}\r\n"
        f"To: <{uri}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 NOTIFY\r\n"
        f"Contact: <sip:phone-migration@{local_host}:{local[1]}>\r\n"
        f"{request.headers}"
        f"User-Agent: phone-migration\r\n"
        f"Content-Length: {len(request.body.encode())}\r\n\r\n{request.body}"
    )
    return message.encode(), call_id


def send_restart(contact: str, register_call_id: str | None = None, *, model: str | None = None,
                 timeout: float = 4.0) -> RestartResult:
    """Send the NOTIFY and wait (bounded) for a final answer."""
    try:
        _, host, port = parse_contact(contact)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            local = sock.getsockname()[:2]
            message, call_id = build_notify(contact, local, register_call_id, model)
            deadline, interval, next_send = time.monotonic() + timeout, 0.5, 0.0
            while (now := time.monotonic()) < deadline:
                if now >= next_send:
                    sock.send(message)
                    next_send, interval = now + interval, min(interval * 2, 4.0)
                sock.settimeout(max(0.01, min(next_send, deadline) - time.monotonic()))
                try:
                    answer = sock.recv(65535).decode("utf-8", "replace")
                except (socket.timeout, ConnectionRefusedError):
                    continue
                status = _final_status(answer, call_id)
                if status is not None:
                    return RestartResult(200 <= status < 300, status)
    except (OSError, ValueError) as exc:
        return RestartResult(False, None, str(exc))
    return RestartResult(False, None, "no answer")


def _final_status(answer: str, call_id: str) -> int | None:
    first, _, rest = answer.partition("\r\n")
    match = re.match(r"^SIP/2\.0 (\d{3})", first)
    if not match or call_id not in rest:
        return None
    status = int(match.group(1))
    return status if status >= 200 else None


class Restarts(ABC):
    """C-14's sender as every door calls it: ``target`` finds where the phone is
    (None: nothing to send, logged ``restart_skipped``), ``send`` sends and logs
    ``restart_sent`` with the phone's answer; ``restart`` does both and waits."""

    @abstractmethod
    def target(self, name: str, result=None):
        """Where the phone's restart goes, or None (logged ``restart_skipped``)."""

    @abstractmethod
    def send(self, name: str, target) -> bool:
        """Send the restart to ``target``; True when the phone answered 2xx."""

    def restart(self, name: str, result=None) -> bool:
        """True when the phone answered 2xx; False when it did not or nothing was sent."""
        target = self.target(name, result)
        return self.send(name, target) if target is not None else False


class UdpRestarts(Restarts):
    """The NOTIFY over plain UDP to the device's SIP contact: used only when no
    registrar is configured, and only for a UDP contact (R-5)."""

    def __init__(self, db) -> None:
        self.db = db

    def target(self, name: str, result=None) -> tuple[str, str | None, str | None] | None:
        contact, call_id, model = _contact(self.db, name, result)
        if contact and contact_transport(contact) != "udp":
            log_event("restart_skipped", device=name, contact=contact,
                      reason="the contact is not UDP and no registrar is configured: the phone restarts at its "
                             "next config poll")
            return None
        return (contact, call_id, model) if contact else None

    def send(self, name: str, target: tuple[str, str | None, str | None]) -> bool:
        return _send_logged(name, *target)


def restart_device(db, name: str, result=None) -> bool:
    """C-14 for any door: NOTIFY the phone when its SIP contact is known; False otherwise.
    ``result``: the migration's result, which carries the contact (no read).
    Waits for the phone's answer (up to 4 s): for the doors that report it."""
    return UdpRestarts(db).restart(name, result)


class BackgroundRestarts:
    """C-14 off the request thread, for the screens: the new phone itself is
    waiting for the answer page, and a phone that never answers would hold one
    of the few screen threads for the NOTIFY's 4 s. The page says a restart is
    coming; how it went is logged (``restart_sent``). ``sender``: the
    ``Restarts`` to use (default: plain UDP)."""

    def __init__(self, db, workers: int = 2, sender: Restarts | None = None) -> None:
        self.db = db
        self.sender = sender or UdpRestarts(db)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restart")

    def request(self, name: str, result=None) -> bool:
        """True: a NOTIFY is on its way; False: no contact known, the next config poll will do."""
        target = self.sender.target(name, result)
        if target is None:
            return False
        self._pool.submit(self.sender.send, name, target)
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=True)  # bounded: each NOTIFY gives up after a few seconds


def _contact(db, name: str, result) -> tuple[str | None, str | None, str | None]:
    """The device's SIP contact, its REGISTER's Call-ID and its model key (R-5 picks the request by it)."""
    from sqlmodel import select

    from models.tables.devices import Device

    if result is not None:
        contact, call_id = result.sip_contact, result.register_call_id
        model = getattr(getattr(result, "plan", None), "new_model", None)
    else:
        with db.read_session() as session:
            contact, call_id, model = session.exec(
                select(Device.sip_contact, Device.register_call_id, Device.model).where(Device.name == name)
            ).first() or (None, None, None)
    if not contact:
        log_event("restart_skipped", device=name, reason="no SIP contact known: the phone restarts at its next config poll")
    return contact, call_id, _model_key(model)


def _model_key(model: str | None) -> str | None:
    try:
        return default_catalog().model(model).key if model else None
    except UnknownModel:
        return model


def _send_logged(name: str, contact: str, call_id: str | None, model: str | None) -> bool:
    result = send_restart(contact, call_id, model=model)
    log_event("restart_sent", device=name, contact=contact, via="udp", status=result.status, ok=result.sent,
              reason=result.reason)
    return result.sent
