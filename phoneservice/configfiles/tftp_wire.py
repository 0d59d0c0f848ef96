"""T-2: the TFTP wire format and one read transfer's lock-step rules (RFC 1350, 2347-2349).

Plain code with no I/O and no clock, tested packet by packet: ``parse_request``
decodes what reaches the main port, ``negotiate`` answers the options,
``ReadTransfer`` steps one read by its ACKs and timeouts. ``phoneservice.configfiles.tftp``
moves the datagrams. Written here for the reasons given in that module.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

RRQ, WRQ, DATA, ACK, ERROR, OACK = range(1, 7)
# RFC 1350 error codes, plus 8 from RFC 2347.
ERR_UNDEFINED, ERR_NOT_FOUND, ERR_ACCESS, ERR_ILLEGAL, ERR_UNKNOWN_TID, ERR_OPTIONS = 0, 1, 2, 4, 5, 8

DEFAULT_BLKSIZE = 512
BLKSIZE_RANGE = (8, 65464)  # RFC 2348
TIMEOUT_RANGE = (1, 255)  # RFC 2349

_CONTROL = re.compile("[\x00-\x1f\x7f]")  # never in a file name; keeps logs one line each
# T-6: an RRQ option a proxying server adds, so the peer answers from what it
# knows itself (no auto-registration, no peers of its own: two clusters that
# name each other never ask in a loop). Servers ignore options they don't know
# (RFC 2347), so any TFTP server can be a peer.
FORWARDED = "pm-forwarded"


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

    @property
    def forwarded(self) -> bool:
        """T-6: asked by another server proxying for a phone it doesn't know."""
        return any(name.lower() == FORWARDED for name, _ in self.options)


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
