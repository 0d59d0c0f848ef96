"""The boot storm's phones (``bench/tftp_bootstorm.py``): each fetches its boot files
by TFTP the way a Cisco phone does, lock-step, with retransmissions, and the
storm counts files, bytes, retransmits and wrong bytes."""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.internet.protocol import DatagramProtocol

RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6


def wait_ready(port: int, seconds: float = 20.0) -> None:
    """Ask for a missing file until the server answers (bounded)."""
    probe = struct.pack("!H", RRQ) + b"bench-probe-missing.bin\0octet\0"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        for _ in range(int(seconds / 0.2)):
            s.sendto(probe, ("127.0.0.1", port))
            try:
                s.recvfrom(2048)
                return
            except OSError:
                continue
    raise SystemExit(f"no TFTP answer on 127.0.0.1:{port} after {seconds} s")


def mac(i: int) -> str:
    return f"00AB{i:08X}"


def phone_address(i: int, spread: bool) -> str:
    return f"127.{1 + i // 62500}.{i // 250 % 250}.{1 + i % 250}" if spread else "127.0.0.1"


@dataclass
class StormResult:
    server: str
    phones: int
    wall: float = 0.0
    files_ok: int = 0
    failures: int = 0
    retransmits: int = 0
    phone_times: list[float] = field(default_factory=list)
    cpu: float | None = None  # the server process's own CPU seconds (ours)
    other_cpu: float = 0.0  # machine CPU seconds outside this bench process (server + anything else)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def files_per_s(self) -> float:
        return self.files_ok / self.wall if self.wall else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.phone_times)
        return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * q + 0.999999) - 1))] if ordered else 0.0


class _Socket(DatagramProtocol):
    """One file's UDP port (the client's transfer ID, RFC 1350): late answers to an
    earlier file's requests (a retransmitted request answered twice, and an error
    names no file) reach that file's port and are dropped there."""

    noisy = False

    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    def datagramReceived(self, packet: bytes, addr) -> None:
        if self.phone.socket is self:
            self.phone.datagramReceived(packet, addr)


class Phone:
    """One phone: its boot files one after another, lock-step, with retransmits,
    each file from a port of its own."""

    def __init__(self, storm: Storm, index: int, expected: bytes, address: str) -> None:
        self.storm, self.expected, self.address = storm, expected, address
        self.queue = [f"CTLSEP{mac(index)}.tlv", f"ITLSEP{mac(index)}.tlv", f"SEP{mac(index)}.cnf.xml"]
        self.server = ("127.0.0.1", storm.port)
        self.started = self.finished = 0.0
        self.tid: int | None = None
        self.timer = None
        self.socket: _Socket | None = None
        self.listening = None

    @property
    def transport(self):
        return self.listening

    def _new_port(self) -> None:
        old, self.socket = self.listening, _Socket(self)
        self.listening = self.storm.reactor.listenUDP(0, self.socket, interface=self.address)
        if old is not None:
            old.stopListening()

    def begin(self) -> None:
        self.started = time.perf_counter()
        self.next_file()

    def next_file(self) -> None:
        if not self.queue:
            self.finished = time.perf_counter()
            self.storm.phone_done(self)
            return
        self.name = self.queue.pop(0)
        self._new_port()
        self.tid, self.block, self.blksize, self.chunks, self.retries = None, 0, 512, [], 0
        request = struct.pack("!H", RRQ) + f"{self.name}\0octet\0blksize\0{self.storm.blksize}\0tsize\00\0".encode()
        self.send(request, self.server)

    def send(self, packet: bytes, addr) -> None:
        self.last = (packet, addr)
        self.transport.write(packet, addr)
        if self.timer is not None and self.timer.active():
            self.timer.reset(self.storm.retransmit_after)
        else:
            self.timer = self.storm.reactor.callLater(self.storm.retransmit_after, self.timed_out)

    def timed_out(self) -> None:
        if self.retries >= self.storm.retries:
            self.file_done(ok=False, why="timeout")
            return
        self.retries += 1
        self.storm.result.retransmits += 1
        self.transport.write(*self.last)
        self.timer = self.storm.reactor.callLater(self.storm.retransmit_after, self.timed_out)

    def file_done(self, ok: bool, why: str = "") -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        if ok:
            self.storm.result.files_ok += 1
        else:
            self.storm.result.failures += 1
            self.storm.result.errors[why] = self.storm.result.errors.get(why, 0) + 1
        self.next_file()

    def datagramReceived(self, packet: bytes, addr) -> None:
        if not self.queue and self.finished or addr[0] != self.server[0]:
            return
        if self.tid is None:
            self.tid = addr[1]
        elif addr[1] != self.tid:
            return
        if len(packet) < 4:
            return
        opcode, number = struct.unpack_from("!HH", packet)
        peer = (addr[0], self.tid)
        if opcode == ERROR:
            missing_as_expected = number == 1 and self.name.endswith(".tlv")
            self.file_done(ok=missing_as_expected, why=f"error {number}")
        elif opcode == OACK and self.block == 0:
            fields = packet[2:].split(b"\0")
            options = dict(zip(fields[0::2], fields[1::2]))
            self.blksize = int(options.get(b"blksize", 512))
            self.send(struct.pack("!HH", ACK, 0), peer)
        elif opcode == DATA and number == (self.block + 1) & 0xFFFF:
            self.block += 1
            self.chunks.append(packet[4:])
            self.retries = 0
            self.send(struct.pack("!HH", ACK, number), peer)
            if len(packet) - 4 < self.blksize:
                ok = self.storm.any_content or b"".join(self.chunks) == self.expected
                self.file_done(ok=ok, why="" if ok else "wrong bytes")
        elif opcode == DATA and number == self.block & 0xFFFF:
            self.transport.write(struct.pack("!HH", ACK, number), peer)  # our ACK was lost


class Storm:
    def __init__(self, reactor, args, server, files: dict[str, bytes]) -> None:
        self.reactor, self.port = reactor, server.port
        self.blksize, self.retries, self.retransmit_after = args.blksize, args.retries, args.retransmit
        self.any_content = args.any_content
        self.result = StormResult(server.name, args.phones)
        self.remaining = args.phones
        self.done = defer.Deferred()
        self.phones = []
        for i in range(args.phones):
            self.phones.append(Phone(self, i, files[f"SEP{mac(i)}.cnf.xml"], phone_address(i, args.source == "spread")))

    def phone_done(self, phone: Phone) -> None:
        self.result.phone_times.append(phone.finished - phone.started)
        self.remaining -= 1
        if not self.remaining and not self.done.called:
            self.done.callback(None)

    @defer.inlineCallbacks
    def run(self, ramp: float, deadline: float):
        start = time.perf_counter()
        for i, phone in enumerate(self.phones):
            if ramp:
                self.reactor.callLater(ramp * i / len(self.phones), phone.begin)
            else:
                phone.begin()
        self.done.addTimeout(deadline, self.reactor)
        try:
            yield self.done
        except defer.TimeoutError:
            pass
        ends = [p.finished for p in self.phones if p.finished]
        self.result.wall = (max(ends) if ends else time.perf_counter()) - start
        unfinished = [p for p in self.phones if not p.finished]
        for phone in unfinished:
            self.result.failures += 1 + len(phone.queue)
            self.result.errors["deadline"] = self.result.errors.get("deadline", 0) + 1 + len(phone.queue)
            if phone.timer is not None and phone.timer.active():
                phone.timer.cancel()
        yield defer.gatherResults([defer.maybeDeferred(p.listening.stopListening) for p in self.phones
                                   if p.listening is not None])
        return self.result


