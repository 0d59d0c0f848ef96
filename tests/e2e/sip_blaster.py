"""Sends SIP messages over UDP from many loopback sources, a few at a time, and
tells what came back (tests/e2e/sip_torture.py, R-7).

Each ``Probe`` is sent from one of the blaster's sockets, which serves one
probe at a time: its first message, then whatever answers arrive (matched by
the probe's token when it has one). A 2xx to an INVITE is acknowledged and
the call hung up at once through the route set (Kamailio), as a phone would;
a probe with no final answer within ``wait`` seconds gets its teardown (the
PROTOS CANCEL) and is done. Every loop is bounded by a deadline.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

HEADER_NAMES = {"i": "call-id", "f": "from", "t": "to", "m": "contact", "v": "via"}


@dataclass
class Probe:
    name: str
    build: object  # (source (ip, port)) -> (first message, teardown or None)
    token: bytes | None = None  # in every answer to this probe (Call-ID, branch)
    teardown: bytes | None = None  # sent when no final answer came in time
    statuses: list[int] = field(default_factory=list)
    hung_up: bool = False  # answered 2xx, then ACK and BYE sent

    @property
    def final(self) -> int | None:
        return next((s for s in self.statuses if s >= 200), None)


def parse(data: bytes) -> tuple[int | None, dict[str, list[str]]]:
    """A response's status and headers (lower-case full names); (None, {}) for anything else."""
    text = data.decode("latin-1")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    match = re.match(r"SIP/2\.0 (\d{3}) ", head[0] + " ")
    if not match:
        return None, {}
    headers: dict[str, list[str]] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers.setdefault(HEADER_NAMES.get(key, key), []).append(value.strip())
    return int(match.group(1)), headers


def in_dialog(method: str, headers: dict[str, list[str]], source: tuple[str, int], branch: str) -> bytes | None:
    """ACK or BYE for a 2xx, to its Contact, through its Record-Route (reversed: the caller's route set)."""
    contact = re.search(r"<([^>]+)>", (headers.get("contact") or [""])[0])
    cseq = (headers.get("cseq") or [""])[0].split()
    if not contact or not cseq or not cseq[0].isdigit() or not headers.get("call-id"):
        return None
    routes = [r for value in headers.get("record-route", []) for r in re.findall(r"<[^>]+>", value)][::-1]
    number = int(cseq[0]) + (1 if method == "BYE" else 0)
    lines = [f"{method} {contact.group(1)} SIP/2.0", f"Via: SIP/2.0/UDP {source[0]}:{source[1]};branch={branch};rport"]
    lines += [f"Route: {', '.join(routes)}"] if routes else []
    lines += [f"From: {headers['from'][0]}", f"To: {headers['to'][0]}", f"Call-ID: {headers['call-id'][0]}",
              f"CSeq: {number} {method}", "Max-Forwards: 70", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("latin-1")


class Blaster:
    """One UDP socket per source (a loopback address, or an (address, port)), sending to ``target``."""

    def __init__(self, sources: list[str | tuple[str, int]], target: tuple[str, int]) -> None:
        self.target = target
        self.socks = []
        for source in sources:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(source if isinstance(source, tuple) else (source, 0))
            sock.setblocking(False)
            self.socks.append(sock)
        self.sent = 0  # datagrams
        self._branch = 0

    def close(self) -> None:
        for sock in self.socks:
            sock.close()

    def _send(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendto(data, self.target)
            self.sent += 1
        except OSError:  # a fuzzed message too big for a datagram: not sent
            pass

    def run(self, probes: list[Probe], wait: float = 1.0, pace: float = 0.0, deadline: float = 120.0) -> float:
        """Send every probe (at most one per ``pace`` seconds); returns the seconds it took."""
        began = time.monotonic()
        queue = list(reversed(probes))
        busy: dict[socket.socket, tuple[Probe, float, str]] = {}  # probe, sent at, phase
        next_send, turn = began, 0
        while (queue or busy) and time.monotonic() - began < deadline:
            now = time.monotonic()
            for offset in range(len(self.socks)):  # round robin: every source sends at the same pace
                sock = self.socks[(turn + offset) % len(self.socks)]
                if sock not in busy and queue and now >= next_send:
                    turn = (turn + offset + 1) % len(self.socks)
                    probe = queue.pop()
                    first, teardown = probe.build(sock.getsockname())
                    probe.teardown = teardown
                    self._send(sock, first)
                    busy[sock] = (probe, now, "sent")
                    next_send = now + pace
            readable, _, _ = select.select(list(busy), [], [], 0.02)
            for sock in readable:
                self._receive(sock, busy)
            now = time.monotonic()
            for sock, (probe, since, phase) in list(busy.items()):
                if now - since < wait:
                    continue
                if phase == "sent" and probe.final is None and probe.teardown:
                    self._send(sock, probe.teardown)
                del busy[sock]
        return time.monotonic() - began

    def _receive(self, sock: socket.socket, busy: dict) -> None:
        for _ in range(50):  # bounded: what is queued on this socket now
            try:
                data = sock.recv(65535)
            except (BlockingIOError, OSError):
                return
            if sock not in busy:
                continue
            probe, since, phase = busy[sock]
            if probe.token is not None and probe.token not in data:
                continue  # a late answer to an earlier probe
            status, headers = parse(data)
            if status is None:
                continue
            method = ((headers.get("cseq") or [" "])[0].split() or ["", ""])[-1]
            if phase == "bye":
                if method == "BYE" and status >= 200:
                    del busy[sock]
                continue
            probe.statuses.append(status)
            if status < 200 or method != "INVITE":
                if status >= 200:
                    del busy[sock]
                continue
            if 200 <= status < 300:
                source = sock.getsockname()
                self._branch += 1
                ack = in_dialog("ACK", headers, source, f"z9hG4bKack{self._branch}")
                bye = in_dialog("BYE", headers, source, f"z9hG4bKbye{self._branch}")
                if ack and bye:
                    self._send(sock, ack)
                    self._send(sock, bye)
                    probe.hung_up = True
                    busy[sock] = (probe, time.monotonic(), "bye")
                    continue
            del busy[sock]


def summary(probes: list[Probe]) -> dict:
    """What came back: answered (any response), final statuses, calls answered and hung up."""
    finals = Counter(str(p.final) if p.final is not None else "none" for p in probes)
    return {"sent": len(probes), "answered": sum(bool(p.statuses) for p in probes),
            "calls_answered": sum(p.hung_up for p in probes), "finals": dict(sorted(finals.items()))}
