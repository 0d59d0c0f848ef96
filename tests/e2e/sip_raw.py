"""A SIP caller on a plain UDP socket, for what SIPp cannot easily check or do.

The e2e tests of the IVR worker's SIP edges (test_ivr_sip_edges.py) read the
real responses (their Allow header, the SDP answer), send a CANCEL at once, an
INVITE whose responses go to a port nobody reads, or an in-dialog REFER. Every
wait is bounded; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import socket
import time
from dataclasses import dataclass, field

_serial = itertools.count(1)


@dataclass
class Message:
    first: str
    headers: list[tuple[str, str]]
    body: str

    @property
    def status(self) -> int | None:
        parts = self.first.split(" ", 2)
        return int(parts[1]) if self.first.startswith("SIP/2.0 ") else None

    @property
    def method(self) -> str | None:
        return None if self.first.startswith("SIP/2.0 ") else self.first.split(" ", 1)[0]

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def allowed(self) -> set[str]:
        """Every method of every Allow header (one header may repeat)."""
        return {m.strip().upper() for value in self.all("Allow") for m in value.split(",") if m.strip()}


def parse(data: bytes) -> Message:
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    first, *lines = head.split("\r\n")
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return Message(first, headers, body)


def one_request(port: int, method: str, user: str = "probe", timeout: float = 5.0) -> Message:
    """One out-of-dialog request over UDP to 127.0.0.1:port (a Kamailio, a worker); its answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        me, serial = sock.getsockname()[1], next(_serial)
        sock.sendto((f"{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n"
                     f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-one-{serial};rport\r\n"
                     f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=one{serial}\r\n"
                     f"To: <sip:{user}@127.0.0.1>\r\nCall-ID: one-{serial}-{me}@127.0.0.1\r\n"
                     f"CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
        return parse(sock.recv(65535))


def sdp_offer(rtp_port: int, events: str | None = "0-15") -> str:
    fmtp = f"a=fmtp:101 {events}\r\n" if events is not None else ""
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"{fmtp}a=sendrecv\r\n")


@dataclass
class Dialog:
    """One call from this client: what a later ACK, CANCEL, BYE or REFER needs."""

    call_id: str
    tag: str
    branch: str
    via: str
    to_tag: str = ""
    contact: str = ""
    cseq: int = 1
    responses: list[Message] = field(default_factory=list)


class RawCaller:
    """A UDP socket on 127.0.0.1 that sends hand-written requests to one worker."""

    def __init__(self, worker_port: int, caller: str = "9000", route_point: str = "8000") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", worker_port)
        self.caller, self.route_point = caller, route_point
        self.uri = f"sip:{route_point}@127.0.0.1:{worker_port}"

    def close(self) -> None:
        self.sock.close()

    # --- sending ------------------------------------------------------------
    def send(self, text: str) -> None:
        self.sock.sendto(text.encode(), self.target)

    def invite(self, *, events: str | None = "0-15", via_port: int | None = None,
               contact_port: int | None = None, rtp_port: int = 40000) -> Dialog:
        """An INVITE; ``via_port``/``contact_port`` elsewhere send its responses or BYE there."""
        n = next(_serial)
        dialog = Dialog(call_id=f"raw-{n}-{time.monotonic_ns()}@127.0.0.1", tag=f"t{n}", branch=f"z9hG4bKraw{n}x{time.monotonic_ns()}",
                        via=f"SIP/2.0/UDP 127.0.0.1:{via_port or self.port}")
        body = sdp_offer(rtp_port, events)
        self.send(self._request("INVITE", self.uri, dialog, dialog.branch, 1, extra=(
            f"Contact: <sip:{self.caller}@127.0.0.1:{contact_port or self.port}>",
            "Content-Type: application/sdp"), body=body))
        return dialog

    def options(self, timeout: float = 5.0) -> Message:
        """An out-of-dialog OPTIONS, and its final answer."""
        n = next(_serial)
        dialog = Dialog(call_id=f"raw-options-{n}-{time.monotonic_ns()}@127.0.0.1", tag=f"o{n}",
                        branch=f"z9hG4bKopt{n}x{time.monotonic_ns()}", via=f"SIP/2.0/UDP 127.0.0.1:{self.port}")
        self.send(self._request("OPTIONS", self.uri, dialog, dialog.branch, 1, extra=("Accept: application/sdp",)))
        return self.until_final(dialog, timeout, method="OPTIONS")

    def cancel(self, dialog: Dialog) -> None:
        self.send(self._request("CANCEL", self.uri, dialog, dialog.branch, 1, to_tag=False))

    def ack(self, dialog: Dialog, final: Message) -> None:
        """ACK a final response: same branch for a failure, a new one (to the Contact) for a 2xx."""
        if final.status // 100 == 2:
            self.send(self._request("ACK", dialog.contact or self.uri, dialog, dialog.branch + "a", 1))
        else:
            self.send(self._request("ACK", self.uri, dialog, dialog.branch, 1))

    def in_dialog(self, dialog: Dialog, method: str, *extra: str) -> str:
        dialog.cseq += 1
        branch = f"{dialog.branch}{method.lower()}{dialog.cseq}"
        self.send(self._request(method, dialog.contact or self.uri, dialog, branch, dialog.cseq, extra=extra))
        return branch

    def _request(self, method: str, uri: str, dialog: Dialog, branch: str, cseq: int, *, to_tag: bool = True,
                 extra: tuple[str, ...] = (), body: str = "") -> str:
        to = f"<sip:{self.route_point}@127.0.0.1>" + (f";tag={dialog.to_tag}" if to_tag and dialog.to_tag else "")
        lines = [f"{method} {uri} SIP/2.0", f"Via: {dialog.via};branch={branch}",
                 f"From: <sip:{self.caller}@127.0.0.1>;tag={dialog.tag}", f"To: {to}", f"Call-ID: {dialog.call_id}",
                 f"CSeq: {cseq} {method}", "Max-Forwards: 70", "User-Agent: raw-test", *extra,
                 f"Content-Length: {len(body.encode())}"]
        return "\r\n".join(lines) + "\r\n\r\n" + body

    # --- receiving ----------------------------------------------------------
    def receive(self, timeout: float) -> Message | None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, _ = self.sock.recvfrom(65535)
        except (TimeoutError, socket.timeout):
            return None
        return parse(data)

    def until_final(self, dialog: Dialog, timeout: float = 10.0, method: str = "INVITE") -> Message:
        """Responses to ``dialog``'s request of ``method`` until a final one; requests from the worker are answered."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                break
            if message.method is not None:  # a BYE from the worker, in this call or another
                self.answer(message, 200)
                continue
            if message.header("Call-ID") != dialog.call_id:
                continue
            if not (message.header("CSeq") or "").endswith(method):
                continue
            dialog.responses.append(message)
            to = message.header("To") or ""
            if ";tag=" in to:
                dialog.to_tag = to.split(";tag=", 1)[1].split(";", 1)[0]
            contact = message.header("Contact") or message.header("m")
            if contact:
                dialog.contact = contact.strip("<>").split(">", 1)[0]
            if message.status >= 200:
                return message
        raise AssertionError(f"no final response to {method} in {timeout} s: {[r.first for r in dialog.responses]}")

    def answer(self, request: Message, status: int) -> None:
        copied = [f"{n}: {v}" for n, v in request.headers if n.lower() in ("via", "v", "from", "f", "to", "t",
                                                                              "call-id", "i", "cseq")]
        self.sock.sendto(("\r\n".join([f"SIP/2.0 {status} OK", *copied, "Content-Length: 0"]) + "\r\n\r\n").encode(),
                         self.target)

    def hang_up(self, dialog: Dialog, timeout: float = 10.0) -> Message:
        self.in_dialog(dialog, "BYE")
        return self.until_final(dialog, timeout, method="BYE")
