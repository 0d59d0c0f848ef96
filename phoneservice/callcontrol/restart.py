"""R-5: the restart NOTIFY through the registrar, over the connection the phone registered from.

The product asks Kamailio (JSON-RPC ``tm.t_uac_wait_block``) to send the NOTIFY
to the phone's registered contact with the stored received address as the next
hop: over TCP, Kamailio writes it on the phone's own open connection (to its
ephemeral port), which no new connection could reach. Kamailio waits for the
phone's final answer (its ``fr_timer``, 2 s: a silent phone gives 408) and
returns it; ``restart_sent`` logs it with ``via="registrar"``.

What the NOTIFY says is R-5's ``models.rules.registration.restart_request`` for
the phone's model: Cisco's ``service-control`` for a 78xx/88xx, ``check-sync``
for a SIP 7940/7960 (docs/protocol.md).
"""

from __future__ import annotations

import logging

from ivr.restart import Restarts
from models.rules.registration import RestartTarget, aor_user, restart_request
from models.services.registrations import Registrations
from phoneservice.callcontrol.registers import from_location
from phoneservice.callcontrol.rpc import KamailioRpc, RpcError
from phoneservice.observe import log_event


def notify_request(target: RestartTarget, from_uri: str) -> tuple[str, str, str, str, str, str]:
    """The ``tm.t_uac_wait_block`` parameters: method, R-URI, next hop, send socket, headers, body."""
    request = restart_request(target.model, target.call_id)
    headers = (f"From: <{from_uri}>\r\nTo: <{target.contact}>\r\nContact: <{from_uri}>\r\n{request.headers}"
               "User-Agent: phone-migration\r\n")
    return "NOTIFY", target.contact, target.received or "", "", headers, request.body


class RegistrarRestarts(Restarts):
    """C-14 through Kamailio; ``target`` is the device's current registration (R-3)."""

    def __init__(self, registrations: Registrations, rpc: KamailioRpc, from_uri: str = "sip:phone-migration@localhost",
                 timeout: float = 10.0) -> None:
        self.registrations, self.rpc, self.from_uri, self.timeout = registrations, rpc, from_uri, timeout

    def target(self, name: str, result=None) -> RestartTarget | None:
        target = self.registrations.restart_target(name)
        if target is None and result is not None and getattr(result, "sip_contact", None):
            target = self._bound(name, result)
        if target is None:
            log_event("restart_skipped", device=name,
                      reason="not registered with the registrar: the phone restarts at its next config poll")
        return target

    def _bound(self, name: str, result) -> RestartTarget | None:
        """The binding Kamailio still holds for the contact a migration read. The migration can make
        the DN the phone registered foreign to it (an auto-registered phone's temporary DN), and a
        reconciliation in between then no longer counts it registered; the phone is still there,
        on its connection, waiting for this restart."""
        contact = result.sip_contact
        try:
            found = self.rpc.call("ul.lookup", "location", aor_user(contact)) or {}
        except RpcError:
            return None
        for item in found.get("Contacts") or []:
            reg = from_location(str(found.get("AoR", "")), item.get("Contact") or {})
            if reg is not None and reg.contact == contact:
                model = getattr(getattr(result, "plan", None), "new_model", "") or ""
                return RestartTarget(name, reg.contact, reg.received, reg.transport, reg.call_id, model)
        return None

    def send(self, name: str, target: RestartTarget) -> bool:
        try:
            answer = self.rpc.call("tm.t_uac_wait_block", *notify_request(target, self.from_uri),
                                   timeout=self.timeout) or {}
            status, reason = int(answer.get("code", 0)) or None, str(answer.get("text", ""))
        except (RpcError, ValueError, TypeError, AttributeError) as exc:
            status, reason = None, str(exc)
        ok = status is not None and 200 <= status < 300
        log_event("restart_sent", logging.INFO if ok else logging.WARNING, device=name, contact=target.contact,
                  received=target.received, transport=target.transport, via="registrar", status=status, ok=ok,
                  reason=reason)
        return ok
