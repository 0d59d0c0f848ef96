"""I-5: how often an IVR worker hands pjsua its events, and the wake-up when SIP arrives while idle.

The worker's reactor thread is pjsua's main thread and calls
``libHandleEvents`` (``ivr.worker``). A 10 ms pump costs a worker about
1.5 % of a core, most of it Twisted waking up, and 200 calls need 50 workers;
so the pump is fast only while something is under way (``next_poll``), and
while it is slow the reactor watches the worker's SIP UDP socket
(``SipWake``): a datagram there runs the pump at once, so a new INVITE or
OPTIONS is read as soon as it arrives rather than up to an idle poll later.
pjsip still reads the socket itself; the reactor only learns it is readable.
A wake takes the socket off the reactor until the next scheduled pump, so a
datagram pjsip leaves unread can cost at most one extra pump a fast poll,
never a busy loop. SIP over TCP has no wake-up: it waits for the idle poll.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReadDescriptor
from zope.interface import implementer

POLL = 0.01  # seconds between libHandleEvents while a call or a restart is under way
IDLE_POLL = 0.1  # seconds between them otherwise (a datagram wakes the pump earlier; docs/benchmarks.md session 8)
BUSY_TAIL = 2.0  # seconds polled fast after a call or a restart ended (the next call comes in at once)


def next_poll(now: float, busy_until: float, events: int, active: bool, idle_poll: float) -> tuple[float, float]:
    """The delay to the next ``libHandleEvents`` and until when to stay fast.

    Fast (``POLL``) while a call, a restart or a drain is under way (``active``)
    and for ``BUSY_TAIL`` seconds after, so a busy worker picks up its next
    call at once; right after a poll that handled a SIP event (an OPTIONS, a
    request that follows at once); ``idle_poll`` otherwise. An event alone
    buys no tail: Kamailio's OPTIONS ping every 5 s would keep a worker fast.
    """
    if active:
        busy_until = now + BUSY_TAIL
    return (POLL if events > 0 or now < busy_until else idle_poll), busy_until


def udp_socket_fd(host: str, port: int, fd_dir: str = "/proc/self/fd") -> int | None:
    """The descriptor of this process's UDP socket bound to ``host:port`` (pjsip's SIP transport), or None."""
    for name in os.listdir(fd_dir):
        try:
            fd = int(name)
            if not os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                continue
            probe = socket.socket(fileno=os.dup(fd))
        except (ValueError, OSError):
            continue
        with probe:
            try:
                bound = probe.getsockname()
            except OSError:
                continue
            if probe.type == socket.SOCK_DGRAM and bound[:2] == (host, port):
                return fd
    return None


@implementer(IReadDescriptor)
class SipWake:
    """Tells ``wake`` that SIP arrived on ``fd``; watched only between ``arm`` and the next wake."""

    def __init__(self, reactor: Any, fd: int, wake: Callable[[], None]) -> None:
        self.reactor, self.fd, self.wake = reactor, fd, wake
        self.armed = False

    def arm(self) -> None:
        if not self.armed:
            self.armed = True
            self.reactor.addReader(self)

    def disarm(self) -> None:
        if self.armed:
            self.armed = False
            self.reactor.removeReader(self)

    # IReadDescriptor
    def fileno(self) -> int:
        return self.fd

    def doRead(self) -> None:
        self.disarm()
        self.wake()

    def connectionLost(self, reason: Any) -> None:
        self.armed = False

    def logPrefix(self) -> str:
        return "sip-wake"
