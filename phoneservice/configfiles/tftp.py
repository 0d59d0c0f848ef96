"""T-2: a small Twisted-native, read-only TFTP server over a per-request resolver.

Why no library serves: tftpy 0.8.7, the only maintained pure-Python server,
was measured unfit (docs/protocol.md, "TFTP"): with a dynamic file object the whole
server dies after the first transfer (it tries to lock a BytesIO, upstream
msoulier/tftpy#155); a non-ASCII file name, a 3-byte ACK to the main port or
``blksize=abc`` stops it; about 1,100 open transfers crash its ``select()``
loop; its OACK adds a ``blksize`` the client never asked for (RFC 2347
violation, strict clients abort with error 8); option names are
case-sensitive; ``blksize`` 65535 is accepted; there is no ``timeout``
option; transfer IDs are not checked (a foreign port's ACK advances another
transfer); uploads are accepted by default. What the phones need is a read
path only, so it is written here, small and tested packet by packet.

The file resolver is kept apart: this module never touches the filesystem or
the database. ``resolve(filename, client_address)`` returns the bytes to
serve, None for "file not found", or a Deferred of either; root checks,
rendering and auto-registration (T-1, T-4) live behind it.

Layout: the wire format and one transfer's lock-step rules are plain code
with no I/O and no clock, in ``phoneservice.configfiles.tftp_wire``;
``_TransferProtocol`` and ``_RequestPort`` only move datagrams and timers;
``TFTPService`` admits requests (limits, resolver) and keeps the counters.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Callable, Union

from twisted.application.service import Service
from twisted.internet import defer, error
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from phoneservice.configfiles.tftp_wire import (
    ACK,
    ERR_ACCESS,
    ERR_ILLEGAL,
    ERR_NOT_FOUND,
    ERR_OPTIONS,
    ERR_UNDEFINED,
    ERR_UNKNOWN_TID,
    ERROR,
    PacketError,
    ReadRequest,
    ReadTransfer,
    error_packet,
    negotiate,
    parse_request,
    to_netascii,
)

RECEIVE_BUFFER = 4 * 1024 * 1024  # a 500-phone burst overflows the default ~200 requests

Resolver = Callable[[str, tuple[str, int]], Union[bytes, None, "defer.Deferred[bytes | None]"]]
Peer = tuple[str, int]

log = Logger()


# --- counters and limits -----------------------------------------------------


@dataclass
class TFTPStats:
    """Every admitted request ends as exactly one of completed, failed, not_found, refused."""

    started: int = 0  # read requests admitted (a slot taken)
    completed: int = 0  # last block acknowledged
    failed: int = 0  # timeout, client error, resolver error, shutdown
    not_found: int = 0  # error 1
    refused: int = 0  # errors before any transfer: write, bad request, access violation
    busy: int = 0  # over max_transfers, error 0 "server busy"
    rate_limited: int = 0  # over a source's budget, dropped silently
    duplicates: int = 0  # a request already in flight (the client retransmitted it), ignored
    retransmits: int = 0
    active: int = 0  # resolving or transferring


@dataclass(frozen=True)
class TFTPEvent:
    kind: str  # started completed failed not_found refused busy rate_limited duplicate retransmit
    peer: Peer
    filename: str | None = None
    detail: str = ""


class SourceRateLimit:
    """A token bucket per source IP: ``rate`` packets/s, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, max_sources: int = 65536) -> None:
        self._rate, self._burst, self._max_sources = rate, burst, max_sources
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, source: str, now: float) -> bool:
        if self._rate <= 0:
            return True
        tokens, last = self._buckets.get(source, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1
        self._buckets[source] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > self._max_sources:
            self._forget_idle(now)
        return allowed

    def _forget_idle(self, now: float) -> None:
        full = [s for s, (t, last) in self._buckets.items() if t + (now - last) * self._rate >= self._burst]
        for source in full:
            del self._buckets[source]
        if len(self._buckets) > self._max_sources:  # a flood of sources: start over, generously
            self._buckets.clear()


def _check_settings(**settings: tuple[object, bool]) -> None:
    for key, (value, valid) in settings.items():
        if not valid:
            raise ValueError(f"tftp.{key}: invalid value {value!r}")


# --- the reactor side ----------------------------------------------------------


class _TransferProtocol(DatagramProtocol):
    """One read on its own ephemeral port (the RFC's server TID)."""

    noisy = False

    def __init__(self, service: TFTPService, transfer: ReadTransfer, peer: Peer, filename: str,
                 timeout: float) -> None:
        self._service, self._transfer, self.peer = service, transfer, peer
        self.filename, self._timeout = filename, timeout
        self._timer = None
        self.ended = False

    def startProtocol(self) -> None:
        self._send(self._transfer.packet)

    def datagramReceived(self, packet: bytes, addr: Peer) -> None:
        if self.ended:
            return
        if tuple(addr[:2]) != self.peer:
            self._write(error_packet(ERR_UNKNOWN_TID, "unknown transfer ID"), addr)
            return
        if len(packet) < 4:
            return  # truncated: the retransmit timer covers a lost ACK
        opcode, block = struct.unpack_from("!HH", packet)
        if opcode == ACK:
            reply = self._transfer.on_ack(block)
            if reply is not None:
                self._send(reply)
            elif self._transfer.finished:
                self.end("completed")
        elif opcode == ERROR:
            self.end("failed", "client refused options" if block == ERR_OPTIONS else f"client error {block}")
        else:
            self._write(error_packet(ERR_ILLEGAL, "illegal TFTP operation"), self.peer)
            self.end("failed", f"opcode {opcode} during a read")

    def _send(self, packet: bytes) -> None:
        self._write(packet, self.peer)
        if self._timer is not None and self._timer.active():
            self._timer.reset(self._timeout)
        else:
            self._timer = self._service.clock.callLater(self._timeout, self._timed_out)

    def _timed_out(self) -> None:
        packet = self._transfer.on_timeout()
        if packet is None:
            self._write(error_packet(ERR_UNDEFINED, "timeout"), self.peer)
            self.end("failed", "timeout")
            return
        self._service.retransmitted(self)
        self._send(packet)

    def abort(self, message: str) -> None:
        self._write(error_packet(ERR_UNDEFINED, message), self.peer)
        self.end("failed", message)

    def end(self, outcome: str, detail: str = "") -> None:
        if self.ended:
            return
        self.ended = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self.transport is not None:
            self.transport.stopListening()
        self._service.transfer_ended(self, outcome, detail)

    def _write(self, packet: bytes, addr: Peer) -> None:
        try:
            self.transport.write(packet, addr)
        except (OSError, error.MessageLengthError) as e:  # the retransmit timer tries again
            log.warn("TFTP send to {addr} failed: {e}", addr=addr, e=e)


class _RequestPort(DatagramProtocol):
    """The well-known port: each datagram goes to the service as one request."""

    noisy = False

    def __init__(self, service: TFTPService) -> None:
        self._service = service

    def datagramReceived(self, packet: bytes, addr: Peer) -> None:
        self._service.request_received(packet, tuple(addr[:2]))


class TFTPService(Service):
    """T-2: read-only TFTP on ``interface``:``port``, files from ``resolve``.

    Limits: at most ``max_transfers`` requests in flight (resolving or
    sending); one more gets error 0 "server busy" at once. Each source IP has
    a token bucket of ``rate`` requests/s and ``burst``; over it, datagrams
    are dropped silently, because an answer would be traffic towards an
    address that may be spoofed, and a real phone retransmits its request
    anyway (``rate`` <= 0 turns the limit off). A request identical to one
    in flight (same client port, same name: the client retransmitted it) is
    ignored, so a slow resolver is not asked twice. A resolver that has not
    answered after ``resolve_timeout`` seconds fails the request. A request
    another server forwarded (T-6, the ``pm-forwarded`` option) goes to
    ``resolve_forwarded`` when one is given.
    """

    name = "tftp"

    def __init__(self, resolve: Resolver, *, port: int = 6969, interface: str = "127.0.0.1",
                 reactor=None, timeout: float = 1.0, retries: int = 5, max_transfers: int = 1000,
                 rate: float = 50.0, burst: int = 100, receive_buffer: int = RECEIVE_BUFFER,
                 resolve_timeout: float = 10.0, stop_grace: float = 10.0,
                 on_event: Callable[[TFTPEvent], None] | None = None,
                 resolve_forwarded: Resolver | None = None) -> None:
        _check_settings(port=(port, 0 <= port <= 65535), timeout=(timeout, timeout > 0),
                        retries=(retries, retries >= 0), max_transfers=(max_transfers, max_transfers >= 1),
                        burst=(burst, burst >= 1), receive_buffer=(receive_buffer, receive_buffer >= 0),
                        resolve_timeout=(resolve_timeout, resolve_timeout > 0),
                        stop_grace=(stop_grace, stop_grace >= 0))
        if reactor is None:
            from twisted.internet import reactor
        self.clock = reactor
        self._resolve, self._port_number, self._interface = resolve, port, interface
        self._resolve_forwarded = resolve_forwarded or resolve
        self._timeout, self._retries, self._max_transfers = timeout, retries, max_transfers
        self._limit = SourceRateLimit(rate, burst)
        self._receive_buffer, self._resolve_timeout, self._stop_grace = receive_buffer, resolve_timeout, stop_grace
        self._on_event = on_event
        self.stats = TFTPStats()
        self._port = None
        self._resolving: set[defer.Deferred] = set()
        self._transfers: set[_TransferProtocol] = set()
        self._in_flight: set[tuple[Peer, str]] = set()
        self._drained: defer.Deferred | None = None

    @property
    def address(self) -> Peer | None:
        """(host, port) actually bound, e.g. after listening on port 0."""
        if self._port is None:
            return None
        host = self._port.getHost()
        return host.host, host.port

    def startService(self) -> None:
        self._port = self.clock.listenUDP(self._port_number, _RequestPort(self),
                                          interface=self._interface, maxPacketSize=2048)
        sock = getattr(self._port, "socket", None)
        if sock is not None and self._receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
            granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux reports double
            if granted < self._receive_buffer:
                log.warn("TFTP receive buffer {granted} bytes, asked {asked}: raise net.core.rmem_max",
                         granted=granted, asked=self._receive_buffer)
        super().startService()

    def stopService(self) -> defer.Deferred:
        """Stop listening; in-flight transfers finish within ``stop_grace`` seconds, then are aborted."""
        super().stopService()
        port, self._port = self._port, None
        stopped = defer.maybeDeferred(port.stopListening) if port is not None else defer.succeed(None)
        if not self.stats.active:
            return stopped
        self._drained = defer.Deferred()
        grace = self.clock.callLater(self._stop_grace, self._abort_all)
        self._drained.addBoth(lambda result: grace.cancel() if grace.active() else None)
        return defer.gatherResults([stopped, self._drained])

    def _abort_all(self) -> None:
        for pending in list(self._resolving):
            pending.cancel()
        for transfer in list(self._transfers):
            transfer.abort("server shutting down")

    # -- admission --

    def request_received(self, packet: bytes, peer: Peer) -> None:
        if not self._limit.allow(peer[0], self.clock.seconds()):
            self.stats.rate_limited += 1
            self._emit("rate_limited", peer)
            return
        try:
            request = parse_request(packet)
        except PacketError as refusal:
            if refusal.code != ERR_UNKNOWN_TID:
                self.stats.refused += 1
                self._emit("refused", peer, None, refusal.message)
            self._reply(error_packet(refusal.code, refusal.message), peer)
            return
        if request is None:
            return
        if (peer, request.filename) in self._in_flight:
            self.stats.duplicates += 1
            self._emit("duplicate", peer, request.filename)
            return
        if self.stats.active >= self._max_transfers:
            self.stats.busy += 1
            self._emit("busy", peer, request.filename)
            self._reply(error_packet(ERR_UNDEFINED, "server busy"), peer)
            return
        self.stats.started += 1
        self.stats.active += 1
        self._in_flight.add((peer, request.filename))
        self._emit("started", peer, request.filename)
        resolve = self._resolve_forwarded if request.forwarded else self._resolve
        pending = defer.maybeDeferred(resolve, request.filename, peer)
        if not pending.called:
            self._resolving.add(pending)
            pending.addTimeout(self._resolve_timeout, self.clock)
            pending.addBoth(self._forget_pending, pending)
        pending.addBoth(self._settle, request, peer)

    def _forget_pending(self, result, pending: defer.Deferred):
        self._resolving.discard(pending)
        return result

    def _settle(self, result, request: ReadRequest, peer: Peer) -> None:
        """Start the transfer, or answer the error and release the slot at once."""
        refusal = self._start_or_refuse(result, request, peer)
        if refusal is not None:
            outcome, code, message = refusal
            self._reply(error_packet(code, message), peer)
            self._done(peer, request.filename, outcome, message)

    def _start_or_refuse(self, result, request: ReadRequest, peer: Peer) -> tuple[str, int, str] | None:
        if isinstance(result, Failure):
            if result.check(FileNotFoundError):
                return "not_found", ERR_NOT_FOUND, "file not found"
            if result.check(PermissionError):
                return "refused", ERR_ACCESS, "access violation"
            if result.check(defer.TimeoutError, defer.CancelledError):
                return "failed", ERR_UNDEFINED, "timeout"
            log.failure("TFTP resolver failed for {filename!r} from {peer}", result,
                        filename=request.filename, peer=peer)
            return "failed", ERR_UNDEFINED, "internal error"
        if result is None:
            return "not_found", ERR_NOT_FOUND, "file not found"
        if not isinstance(result, (bytes, bytearray, memoryview)):
            log.error("TFTP resolver returned {kind} for {filename!r}", kind=type(result).__name__,
                      filename=request.filename)
            return "failed", ERR_UNDEFINED, "internal error"
        data = to_netascii(bytes(result)) if request.mode == "netascii" else bytes(result)
        negotiation = negotiate(request.options, len(data))
        protocol = _TransferProtocol(self, ReadTransfer(data, negotiation, self._retries), peer,
                                     request.filename, negotiation.timeout or self._timeout)
        self._transfers.add(protocol)
        try:
            self.clock.listenUDP(0, protocol, interface=self._interface, maxPacketSize=1024)
        except Exception:  # CannotListenError: out of ports or descriptors
            log.failure("TFTP cannot open a transfer port")
            self._transfers.discard(protocol)
            return "failed", ERR_UNDEFINED, "server busy"
        return None

    # -- transfer callbacks --

    def retransmitted(self, transfer: _TransferProtocol) -> None:
        self.stats.retransmits += 1
        self._emit("retransmit", transfer.peer, transfer.filename)

    def transfer_ended(self, transfer: _TransferProtocol, outcome: str, detail: str) -> None:
        self._transfers.discard(transfer)
        self._done(transfer.peer, transfer.filename, outcome, detail)

    def _done(self, peer: Peer, filename: str, outcome: str, detail: str = "") -> None:
        setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        self.stats.active -= 1
        self._in_flight.discard((peer, filename))
        self._emit(outcome, peer, filename, detail)
        if not self.stats.active and self._drained is not None:
            drained, self._drained = self._drained, None
            drained.callback(None)

    def _reply(self, packet: bytes, peer: Peer) -> None:
        if self._port is None:
            return  # stopped: the client retries elsewhere
        try:
            self._port.write(packet, peer)
        except (OSError, error.MessageLengthError) as e:
            log.warn("TFTP reply to {peer} failed: {e}", peer=peer, e=e)

    def _emit(self, kind: str, peer: Peer, filename: str | None = None, detail: str = "") -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(TFTPEvent(kind, peer, filename, detail))
        except Exception:
            log.failure("TFTP on_event hook failed")
