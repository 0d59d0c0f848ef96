"""T-2: a small Twisted-native, read-only TFTP server over a per-request resolver.

Why no library serves: tftpy 0.8.7, the only maintained pure-Python server,
was measured unfit (PROTOCOL.md, "TFTP"): with a dynamic file object the whole
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
with no I/O and no clock (``parse_request``, ``negotiate``, ``ReadTransfer``);
``_TransferProtocol`` and ``_RequestPort`` only move datagrams and timers;
``TFTPService`` admits requests (limits, resolver) and keeps the counters.
"""

from __future__ import annotations

import re
import socket
import struct
from dataclasses import dataclass
from typing import Callable, Union

from twisted.application.service import Service
from twisted.internet import defer, error
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

RRQ, WRQ, DATA, ACK, ERROR, OACK = range(1, 7)
# RFC 1350 error codes, plus 8 from RFC 2347.
ERR_UNDEFINED, ERR_NOT_FOUND, ERR_ACCESS, ERR_ILLEGAL, ERR_UNKNOWN_TID, ERR_OPTIONS = 0, 1, 2, 4, 5, 8

DEFAULT_BLKSIZE = 512
BLKSIZE_RANGE = (8, 65464)  # RFC 2348
TIMEOUT_RANGE = (1, 255)  # RFC 2349
RECEIVE_BUFFER = 4 * 1024 * 1024  # a 500-phone burst overflows the default ~200 requests

_CONTROL = re.compile("[\x00-\x1f\x7f]")  # never in a file name; keeps logs one line each

Resolver = Callable[[str, tuple[str, int]], Union[bytes, None, "defer.Deferred[bytes | None]"]]
Peer = tuple[str, int]

log = Logger()


# --- wire format -------------------------------------------------------------


class PacketError(Exception):
    """A packet answered with an ERROR instead of being served."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ReadRequest:
    filename: str
    mode: str  # "octet" or "netascii"
    options: tuple[tuple[str, str], ...]  # (name, value) as the client spelled them


def error_packet(code: int, message: str) -> bytes:
    return struct.pack("!HH", ERROR, code) + message.encode("utf-8")[:500] + b"\0"


def oack_packet(options: tuple[tuple[str, str], ...]) -> bytes:
    return struct.pack("!H", OACK) + b"".join(f"{n}\0{v}\0".encode("ascii") for n, v in options)


def data_packet(block: int, payload: bytes) -> bytes:
    return struct.pack("!HH", DATA, block & 0xFFFF) + payload


def parse_request(packet: bytes) -> ReadRequest | None:
    """T-2: decode a packet sent to the main port.

    Returns the read request, None for a packet that must not be answered (an
    ERROR), or raises PacketError carrying the answer (read-only, bad mode,
    malformed, stray DATA/ACK).
    """
    if len(packet) < 2:
        raise PacketError(ERR_ILLEGAL, "malformed packet")
    opcode = int.from_bytes(packet[:2], "big")
    if opcode == ERROR:
        return None
    if opcode == WRQ:
        raise PacketError(ERR_ACCESS, "read-only server")
    if opcode in (DATA, ACK):
        raise PacketError(ERR_UNKNOWN_TID, "unknown transfer ID")
    if opcode != RRQ:
        raise PacketError(ERR_ILLEGAL, "illegal TFTP operation")
    fields = packet[2:].split(b"\0")
    if len(fields) < 3 or fields[-1] != b"":
        raise PacketError(ERR_ILLEGAL, "malformed request")
    raw_name, raw_mode, *rest = fields[:-1]
    mode = raw_mode.decode("ascii", "replace").lower()
    if mode == "mail":
        raise PacketError(ERR_ILLEGAL, "mail mode not supported")
    if mode not in ("octet", "netascii"):
        raise PacketError(ERR_ILLEGAL, "unknown transfer mode")
    try:
        filename = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise PacketError(ERR_ACCESS, "invalid file name") from None
    if not filename or _CONTROL.search(filename):
        raise PacketError(ERR_ACCESS, "invalid file name")
    options = []
    for name, value in zip(rest[0::2], rest[1::2]):  # a dangling name is dropped
        if name and name.isascii() and value.isascii():
            options.append((name.decode("ascii"), value.decode("ascii")))
    return ReadRequest(filename, mode, tuple(options))


@dataclass(frozen=True)
class Negotiation:
    blksize: int = DEFAULT_BLKSIZE
    timeout: int | None = None  # None: the server's default
    oack: tuple[tuple[str, str], ...] = ()  # empty: no OACK, DATA 1 at once


def _count(value: str) -> int | None:
    return int(value) if value.isdigit() and value.isascii() and len(value) <= 10 else None


def negotiate(options: tuple[tuple[str, str], ...], size: int) -> Negotiation:
    """T-2: RFC 2347-2349 for a read of ``size`` bytes.

    Names are case-insensitive; only options the client asked for and we
    accept are echoed. An unusable value (blksize outside 8..65464 or not a
    number, timeout outside 1..255) drops that option rather than failing,
    as RFC 2347 allows; unknown options are dropped the same way. ``tsize``
    is left out for an empty file: curl (7.88) aborts on ``tsize=0`` in an
    OACK without telling the server, and no client needs to be told "0".
    """
    blksize, timeout, oack, seen = DEFAULT_BLKSIZE, None, [], set()
    for name, value in options:
        key, number = name.lower(), _count(value)
        if key in seen or number is None:
            continue
        if key == "blksize" and BLKSIZE_RANGE[0] <= number <= BLKSIZE_RANGE[1]:
            blksize = number
        elif key == "timeout" and TIMEOUT_RANGE[0] <= number <= TIMEOUT_RANGE[1]:
            timeout = number
        elif key == "tsize" and size > 0:
            number = size  # a read asks with 0 and gets the real size
        else:
            continue
        seen.add(key)
        oack.append((name, str(number)))
    return Negotiation(blksize, timeout, tuple(oack))


def to_netascii(data: bytes) -> bytes:
    """RFC 1350 netascii: CR -> CR NUL, LF -> CR LF."""
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


class ReadTransfer:
    """T-2: the server side of one read, lock-step, with no I/O and no clock.

    Each step returns the packet to send, or None. Only the ACK of the block
    in flight advances; older or duplicate ACKs send nothing (the Sorcerer's
    Apprentice bug). Block numbers wrap 65535 -> 0. A size that is an exact
    multiple of the block size (0 included) ends with one empty block.
    """

    def __init__(self, data: bytes, negotiation: Negotiation, max_retries: int) -> None:
        self._data = data
        self._blksize = negotiation.blksize
        self._last = len(data) // self._blksize + 1
        self._max_retries = max_retries
        self.retries = 0
        self.finished = False
        if negotiation.oack:
            self._block, self.packet = 0, oack_packet(negotiation.oack)  # wait for ACK 0
        else:
            self._block, self.packet = 1, self._data_block(1)

    def _data_block(self, block: int) -> bytes:
        start = (block - 1) * self._blksize
        return data_packet(block, self._data[start:start + self._blksize])

    def on_ack(self, block: int) -> bytes | None:
        if self.finished or block != self._block & 0xFFFF:
            return None
        if self._block == self._last:
            self.finished = True
            return None
        self._block += 1
        self.retries = 0
        self.packet = self._data_block(self._block)
        return self.packet

    def on_timeout(self) -> bytes | None:
        """The packet to send again, or None when the retries are spent."""
        if self.retries >= self._max_retries:
            return None
        self.retries += 1
        return self.packet


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
    answered after ``resolve_timeout`` seconds fails the request.
    """

    name = "tftp"

    def __init__(self, resolve: Resolver, *, port: int = 6969, interface: str = "127.0.0.1",
                 reactor=None, timeout: float = 1.0, retries: int = 5, max_transfers: int = 1000,
                 rate: float = 50.0, burst: int = 100, receive_buffer: int = RECEIVE_BUFFER,
                 resolve_timeout: float = 10.0, stop_grace: float = 10.0,
                 on_event: Callable[[TFTPEvent], None] | None = None) -> None:
        _check_settings(port=(port, 0 <= port <= 65535), timeout=(timeout, timeout > 0),
                        retries=(retries, retries >= 0), max_transfers=(max_transfers, max_transfers >= 1),
                        burst=(burst, burst >= 1), receive_buffer=(receive_buffer, receive_buffer >= 0),
                        resolve_timeout=(resolve_timeout, resolve_timeout > 0),
                        stop_grace=(stop_grace, stop_grace >= 0))
        if reactor is None:
            from twisted.internet import reactor
        self.clock = reactor
        self._resolve, self._port_number, self._interface = resolve, port, interface
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
        pending = defer.maybeDeferred(self._resolve, request.filename, peer)
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
