"""T-2: the TFTP service, packet by packet, without sockets.

A fake reactor (task.Clock plus a recording listenUDP) stands in for the
network: requests are fed to the listening protocol, each transfer's port
records what it sends, and time moves only with ``advance()``.
"""

from __future__ import annotations

import socket
import struct

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from phoneservice.configfiles import tftp
from phoneservice.configfiles import tftp_wire as wire
from phoneservice.configfiles.tftp import SourceRateLimit, TFTPService
from phoneservice.configfiles.tftp_wire import negotiate, parse_request, to_netascii

PHONE = ("10.1.2.3", 50000)
OTHER_PHONE = ("10.1.2.4", 50001)
CONFIG = bytes(range(256)) * 24  # 6 KB, like a SEP<MAC>.cnf.xml


class FakeSocket:
    def __init__(self) -> None:
        self.options: dict[tuple[int, int], int] = {}

    def setsockopt(self, level: int, name: int, value: int) -> None:
        self.options[level, name] = value

    def getsockopt(self, level: int, name: int) -> int:
        return self.options.get((level, name), 0) * 2  # Linux reports double


class FakePort:
    def __init__(self, number: int, protocol, interface: str) -> None:
        self.number, self.protocol, self.interface = number, protocol, interface
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.closed = False
        self.socket = FakeSocket()

    def write(self, packet: bytes, addr) -> None:
        assert not self.closed, "write on a closed port"
        self.sent.append((packet, addr))

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", self.interface, self.number)

    def stopListening(self):
        self.closed = True
        self.protocol.doStop()
        return defer.succeed(None)

    def receive(self, packet: bytes, addr=PHONE) -> None:
        self.protocol.datagramReceived(packet, addr)

    def decoded(self) -> list[tuple]:
        return [decode(packet) for packet, _ in self.sent]


class FakeReactor(Clock):
    """Clock + IReactorUDP, recording each port opened."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[FakePort] = []
        self.fail_listen = False

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        if self.fail_listen and port == 0:
            from twisted.internet.error import CannotListenError
            raise CannotListenError(interface, port, OSError("out of descriptors"))
        fake = FakePort(port or 40000 + len(self.ports), protocol, interface)
        self.ports.append(fake)
        protocol.makeConnection(fake)
        return fake


def decode(packet: bytes) -> tuple:
    opcode = struct.unpack_from("!H", packet)[0]
    if opcode == wire.DATA:
        return ("DATA", struct.unpack_from("!H", packet, 2)[0], packet[4:])
    if opcode == wire.ERROR:
        return ("ERROR", struct.unpack_from("!H", packet, 2)[0], packet[4:-1].decode())
    if opcode == wire.OACK:
        fields = packet[2:].split(b"\0")[:-1]
        return ("OACK", dict(zip((f.decode() for f in fields[0::2]), (f.decode() for f in fields[1::2]))))
    return ("OPCODE", opcode, packet[2:])


def rrq(name: str | bytes, mode: str = "octet", *options: tuple[str, str]) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    packet = struct.pack("!H", wire.RRQ) + raw + b"\0" + mode.encode() + b"\0"
    return packet + b"".join(f"{n}\0{v}\0".encode() for n, v in options)


def ack(block: int) -> bytes:
    return struct.pack("!HH", wire.ACK, block & 0xFFFF)


def client_error(code: int, message: str = "") -> bytes:
    return struct.pack("!HH", wire.ERROR, code) + message.encode() + b"\0"


class Harness:
    def __init__(self, files: dict | None = None, **settings) -> None:
        self.files = {"SEP001122334455.cnf.xml": CONFIG} if files is None else files
        self.asked: list[tuple[str, tuple[str, int]]] = []
        self.events: list[tftp.TFTPEvent] = []
        self.reactor = FakeReactor()
        settings.setdefault("rate", 0)
        self.service = TFTPService(self.resolve, port=6969, reactor=self.reactor,
                                   on_event=self.events.append, **settings)
        self.service.startService()
        self.listener = self.reactor.ports[0]

    def resolve(self, name, peer):
        self.asked.append((name, peer))
        found = self.files.get(name)
        if isinstance(found, BaseException):
            raise found
        return found

    def request(self, packet: bytes, peer=PHONE) -> FakePort | None:
        before = len(self.reactor.ports)
        self.listener.receive(packet, peer)
        return self.reactor.ports[-1] if len(self.reactor.ports) > before else None

    def fetch(self, name: str, *options, mode: str = "octet") -> tuple[bytes, list[tuple]]:
        """Run one read to the end as a well-behaved client; return the bytes and every packet."""
        port = self.request(rrq(name, mode, *options))
        assert port is not None, self.listener.decoded()
        chunks, seen = [], 0
        for _ in range(200_000):
            packets = [decode(packet) for packet, _ in port.sent[seen:]]
            seen += len(packets)
            assert len(packets) == 1, packets
            kind, *rest = packets[0]
            if kind == "OACK":
                port.receive(ack(0))
                continue
            assert kind == "DATA", packets
            block, payload = rest
            chunks.append(payload)
            port.receive(ack(block))
            if port.closed:
                return b"".join(chunks), port.decoded()
        raise AssertionError("transfer did not end")

    @property
    def stats(self):
        return self.service.stats


@pytest.fixture
def h() -> Harness:
    return Harness()


# --- plain reads ---------------------------------------------------------------


def test_plain_read_serves_the_file_from_a_new_port(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    assert port is not h.listener and port.number != 6969
    assert h.asked == [("SEP001122334455.cnf.xml", PHONE)]
    assert port.sent == [(wire.data_packet(1, CONFIG[:512]), PHONE)]
    assert h.listener.sent == []


def test_plain_read_to_the_end(h):
    data, packets = h.fetch("SEP001122334455.cnf.xml")
    assert data == CONFIG
    assert [p[1] for p in packets] == list(range(1, 14))  # 6144 = 12 * 512: then one empty block
    assert packets[-1] == ("DATA", 13, b"")
    assert (h.stats.started, h.stats.completed, h.stats.active) == (1, 1, 0)


def test_small_file_completes_on_its_last_ack(h):
    h.files["small"] = b"x" * 100
    port = h.request(rrq("small"))
    assert port.decoded() == [("DATA", 1, b"x" * 100)]
    port.receive(ack(1))
    assert port.closed
    assert (h.stats.started, h.stats.completed, h.stats.active) == (1, 1, 0)
    assert [e.kind for e in h.events] == ["started", "completed"]


def test_empty_file_is_one_empty_block(h):
    h.files["empty"] = b""
    data, packets = h.fetch("empty")
    assert data == b"" and packets == [("DATA", 1, b"")]
    assert h.stats.completed == 1


@pytest.mark.parametrize("size, blocks", [(511, 1), (512, 2), (513, 2), (1024, 3)])
def test_exact_multiple_of_512_ends_with_exactly_one_empty_block(h, size, blocks):
    h.files["f"] = b"a" * size
    data, packets = h.fetch("f")
    assert data == b"a" * size
    assert len(packets) == blocks
    assert [len(p[2]) for p in packets].count(0) == (1 if size % 512 == 0 else 0)


def test_exact_multiple_of_negotiated_blksize_ends_with_one_empty_block(h):
    h.files["f"] = bytes(1468 * 3)
    data, packets = h.fetch("f", ("blksize", "1468"), ("tsize", "0"))
    assert data == bytes(1468 * 3)
    assert packets[0] == ("OACK", {"blksize": "1468", "tsize": "4404"})
    assert [(p[1], len(p[2])) for p in packets[1:]] == [(1, 1468), (2, 1468), (3, 1468), (4, 0)]


def test_netascii_converts_line_ends_and_tsize_counts_the_converted_bytes(h):
    h.files["t"] = b"a\nb\rc"
    data, packets = h.fetch("t", ("tsize", "0"), mode="NetASCII")
    assert data == b"a\r\nb\r\0c"
    assert packets[0] == ("OACK", {"tsize": "7"})


def test_non_ascii_utf8_name_reaches_the_resolver(h):
    h.files["répertoire.xml"] = b"ok"
    assert h.fetch("répertoire.xml")[0] == b"ok"


# --- option negotiation --------------------------------------------------------


def test_no_options_no_oack(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    assert port.decoded()[0][0] == "DATA"


def test_only_unknown_options_means_no_oack(h):
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("windowsize", "4"), ("multicast", "")))
    assert port.decoded() == [("DATA", 1, CONFIG[:512])]


def test_oack_waits_for_ack_zero_before_data_one(h):
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("blksize", "1468")))
    assert port.decoded() == [("OACK", {"blksize": "1468"})]
    port.receive(ack(1))  # not the ACK of the OACK
    assert len(port.sent) == 1
    port.receive(ack(0))
    assert port.decoded()[1] == ("DATA", 1, CONFIG[:1468])


@pytest.mark.parametrize("value, accepted", [
    ("7", False), ("8", True), ("512", True), ("65464", True), ("65465", False), ("65535", False),
    ("abc", False), ("", False), ("-8", False), ("+8", False), ("1e3", False), ("9" * 40, False),
])
def test_blksize_bounds(h, value, accepted):
    h.files["f"] = bytes(70000)
    port = h.request(rrq("f", "octet", ("blksize", value)))
    if accepted:
        assert port.decoded() == [("OACK", {"blksize": value})]
        port.receive(ack(0))
        assert len(port.decoded()[1][2]) == int(value)
    else:
        assert port.decoded() == [("DATA", 1, bytes(512))]


@pytest.mark.parametrize("value, accepted", [("0", False), ("1", True), ("255", True), ("256", False),
                                             ("x", False)])
def test_timeout_bounds(h, value, accepted):
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("timeout", value)))
    if accepted:
        assert port.decoded() == [("OACK", {"timeout": value})]
        wait = int(value)
    else:
        assert port.decoded()[0][0] == "DATA"
        wait = 1  # the server's default
    h.reactor.advance(wait - 0.01)
    assert len(port.sent) == 1
    h.reactor.advance(0.02)
    assert len(port.sent) == 2 and port.sent[1] == port.sent[0]


def test_tsize_only_when_asked_and_with_the_real_size(h):
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("blksize", "1024")), ("10.0.0.1", 1001))
    assert port.decoded() == [("OACK", {"blksize": "1024"})]
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("tsize", "0")), ("10.0.0.2", 1002))
    assert port.decoded() == [("OACK", {"tsize": str(len(CONFIG))})]
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("tsize", "abc")), ("10.0.0.3", 1003))
    assert port.decoded()[0][0] == "DATA"


def test_tsize_is_left_out_for_an_empty_file(h):
    h.files["empty"] = b""
    assert h.request(rrq("empty", "octet", ("tsize", "0"))).decoded() == [("DATA", 1, b"")]
    port = h.request(rrq("empty", "octet", ("tsize", "0"), ("blksize", "1468")), OTHER_PHONE)
    assert port.decoded() == [("OACK", {"blksize": "1468"})]


def test_option_names_are_case_insensitive_and_echoed_as_sent(h):
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("BLKSIZE", "1468"), ("TSize", "0"),
                         ("TIMEOUT", "3")))
    assert port.decoded() == [("OACK", {"BLKSIZE": "1468", "TSize": "6144", "TIMEOUT": "3"})]


def test_first_usable_value_of_a_repeated_option_wins():
    assert negotiate((("blksize", "abc"), ("blksize", "1024"), ("BlkSize", "2048")), 10).blksize == 1024


def test_client_refusing_the_oack_with_error_8_ends_the_transfer(h):
    port = h.request(rrq("SEP001122334455.cnf.xml", "octet", ("blksize", "1468")))
    port.receive(client_error(8, "option refused"))
    assert port.closed and h.stats.failed == 1 and h.stats.active == 0
    h.reactor.advance(30)
    assert len(port.sent) == 1
    assert h.events[-1].detail == "client refused options"


# --- loss, duplicates, errors, timeouts ---------------------------------------


def test_lost_data_is_sent_again_after_the_timeout(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    port.receive(ack(1))
    h.reactor.advance(1.0)
    assert port.decoded()[1:] == [("DATA", 2, CONFIG[512:1024])] * 2
    assert h.stats.retransmits == 1
    port.receive(ack(2))
    assert port.decoded()[-1] == ("DATA", 3, CONFIG[1024:1536])


def test_lost_ack_gets_the_block_again_then_the_transfer_goes_on(h):
    h.files["f"] = b"z" * 700
    port = h.request(rrq("f"))
    h.reactor.advance(1.0)  # the client's ACK 1 was lost
    assert port.decoded() == [("DATA", 1, b"z" * 512)] * 2
    port.receive(ack(1))
    port.receive(ack(1))  # the client acknowledges both copies
    assert port.decoded()[2:] == [("DATA", 2, b"z" * 188)]
    port.receive(ack(2))
    assert port.closed and h.stats.completed == 1


def test_duplicate_ack_does_not_send_twice(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    for _ in range(5):
        port.receive(ack(1))
    assert [p[1] for p in port.decoded()] == [1, 2]


def test_an_ack_resets_the_timer(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    h.reactor.advance(0.9)
    port.receive(ack(1))
    h.reactor.advance(0.9)
    assert h.stats.retransmits == 0 and len(port.sent) == 2


def test_error_from_the_client_ends_the_transfer(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    port.receive(client_error(0, "disk full"))
    assert port.closed and (h.stats.failed, h.stats.active) == (1, 0)
    h.reactor.advance(60)
    assert len(port.sent) == 1 and not h.reactor.getDelayedCalls()


def test_silent_client_gets_bounded_retries_then_error_timeout_and_the_slot_back():
    h = Harness(retries=3, timeout=2.0)
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    for _ in range(20):
        h.reactor.advance(2.0)
    assert port.decoded() == [("DATA", 1, CONFIG[:512])] * 4 + [("ERROR", 0, "timeout")]
    assert port.closed and not h.reactor.getDelayedCalls()
    assert (h.stats.retransmits, h.stats.failed, h.stats.active) == (3, 1, 0)


def test_foreign_tid_gets_error_5_and_does_not_touch_the_transfer(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    intruder = (PHONE[0], PHONE[1] + 1)
    port.receive(ack(1), intruder)
    port.receive(client_error(0, "stop"), OTHER_PHONE)
    assert port.sent[1:] == [(wire.error_packet(5, "unknown transfer ID"), intruder),
                             (wire.error_packet(5, "unknown transfer ID"), OTHER_PHONE)]
    assert not port.closed
    port.receive(ack(1))
    assert port.decoded()[-1] == ("DATA", 2, CONFIG[512:1024])


def test_truncated_ack_on_the_transfer_port_is_ignored(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    port.receive(b"\x00\x04\x00")
    port.receive(b"")
    assert len(port.sent) == 1 and not port.closed


def test_other_opcode_from_the_client_during_a_read_ends_it(h):
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    port.receive(struct.pack("!HH", wire.DATA, 1) + b"up")
    assert port.decoded()[-1] == ("ERROR", 4, "illegal TFTP operation")
    assert port.closed and h.stats.failed == 1


def test_block_numbers_roll_over_past_65535():
    size = 8 * 65540 + 3
    h = Harness({"big": bytes(i % 251 for i in range(size))})
    data, packets = h.fetch("big", ("blksize", "8"))
    assert data == h.files["big"]
    blocks = [p[1] for p in packets[1:]]
    assert len(blocks) == 65541
    assert blocks[65534:65538] == [65535, 0, 1, 2]
    assert h.stats.completed == 1


# --- requests refused ------------------------------------------------------------


def only_reply(h, packet, peer=PHONE) -> tuple | None:
    before = len(h.listener.sent)
    assert h.request(packet, peer) is None, "no transfer port may open"
    replies = h.listener.decoded()[before:]
    assert len(replies) <= 1
    return replies[0] if replies else None


def test_write_request_is_refused(h):
    wrq = struct.pack("!H", wire.WRQ) + b"SEP001122334455.cnf.xml\0octet\0"
    assert only_reply(h, wrq) == ("ERROR", 2, "read-only server")
    assert h.stats.refused == 1 and h.asked == []


def test_mail_mode_and_unknown_modes_are_refused(h):
    assert only_reply(h, rrq("f", "mail")) == ("ERROR", 4, "mail mode not supported")
    assert only_reply(h, rrq("f", "binary")) == ("ERROR", 4, "unknown transfer mode")
    assert h.asked == []


@pytest.mark.parametrize("packet", [
    b"", b"\x00", b"\x00\x01", b"\x00\x01name", b"\x00\x01name\0octet", b"\x00\x01\0",
])
def test_malformed_requests_get_error_4(h, packet):
    assert only_reply(h, packet)[:2] == ("ERROR", 4)


def test_unknown_opcode_gets_error_4(h):
    assert only_reply(h, b"\x00\x09whatever\0") == ("ERROR", 4, "illegal TFTP operation")
    assert only_reply(h, b"\xff\xff") == ("ERROR", 4, "illegal TFTP operation")


def test_stray_ack_and_data_get_error_5_and_stray_error_gets_nothing(h):
    assert only_reply(h, ack(1)) == ("ERROR", 5, "unknown transfer ID")
    assert only_reply(h, struct.pack("!HH", wire.DATA, 1) + b"x") == ("ERROR", 5, "unknown transfer ID")
    assert only_reply(h, client_error(0, "x")) is None


@pytest.mark.parametrize("name", [b"\xff\xfe.cnf.xml", b"SEP\xc3(.xml", b"", b"a\nb", b"a\x7f"])
def test_bad_names_get_an_access_violation(h, name):
    assert only_reply(h, rrq(name)) == ("ERROR", 2, "invalid file name")
    assert h.asked == []


def test_a_nul_inside_the_name_splits_it_and_the_rest_is_a_bad_mode(h):
    assert only_reply(h, rrq(b"SEP00\0evil")) == ("ERROR", 4, "unknown transfer mode")


def test_parse_request_drops_a_dangling_option_name():
    request = parse_request(rrq("f", "octet", ("blksize", "1024")) + b"tsize\0")
    assert request.options == (("blksize", "1024"),)


# --- the resolver ----------------------------------------------------------------


def test_resolver_none_answers_file_not_found_at_once_and_frees_the_slot(h):
    assert only_reply(h, rrq("CTLSEP001122334455.tlv")) == ("ERROR", 1, "file not found")
    assert (h.stats.not_found, h.stats.active, h.stats.started) == (1, 0, 1)
    assert h.listener.sent[0][1] == PHONE


@pytest.mark.parametrize("raised, reply, counter", [
    (FileNotFoundError("gone"), ("ERROR", 1, "file not found"), "not_found"),
    (PermissionError("outside the root"), ("ERROR", 2, "access violation"), "refused"),
    (RuntimeError("database down"), ("ERROR", 0, "internal error"), "failed"),
])
def test_resolver_exceptions(h, raised, reply, counter):
    h.files["f"] = raised
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        assert only_reply(h, rrq("f")) == reply
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert getattr(h.stats, counter) == 1 and h.stats.active == 0
    failures = [e for e in logged if "log_failure" in e]
    assert len(failures) == (1 if isinstance(raised, RuntimeError) else 0)
    assert "database down" not in str(reply)


def test_resolver_returning_something_else_than_bytes_is_an_internal_error(h):
    h.files["f"] = "text, not bytes"
    assert only_reply(h, rrq("f")) == ("ERROR", 0, "internal error")
    assert h.stats.failed == 1 and h.stats.active == 0


def test_resolver_deferred_serves_when_it_fires(h):
    rendered = defer.Deferred()
    h.files["SEPAABBCCDDEEFF.cnf.xml"] = rendered
    h.resolve = lambda name, peer: h.files[name]
    h.service._resolve = h.resolve
    assert h.request(rrq("SEPAABBCCDDEEFF.cnf.xml")) is None
    assert h.stats.active == 1
    rendered.callback(b"<device/>")
    port = h.reactor.ports[-1]
    assert port.decoded() == [("DATA", 1, b"<device/>")]


def test_resolver_deferred_none_and_never_firing():
    pending = {"missing": defer.Deferred(), "stuck": defer.Deferred()}
    h = Harness(resolve_timeout=5.0)
    h.service._resolve = lambda name, peer: pending[name]
    h.request(rrq("missing"))
    h.request(rrq("stuck"))
    pending["missing"].callback(None)
    assert h.listener.decoded() == [("ERROR", 1, "file not found")]
    h.reactor.advance(5.0)
    assert h.listener.decoded()[1] == ("ERROR", 0, "timeout")
    assert (h.stats.not_found, h.stats.failed, h.stats.active) == (1, 1, 0)


def test_no_free_port_for_the_transfer_answers_busy_and_frees_the_slot(h):
    h.reactor.fail_listen = True
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        assert only_reply(h, rrq("SEP001122334455.cnf.xml")) == ("ERROR", 0, "server busy")
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert h.stats.failed == 1 and h.stats.active == 0


# --- limits ------------------------------------------------------------------------


def test_concurrency_limit_answers_busy_at_once_and_frees_with_the_transfers():
    h = Harness({"a": b"1", "b": b"2", "c": b"3"}, max_transfers=2)
    first = h.request(rrq("a"))
    h.request(rrq("b"), OTHER_PHONE)
    assert only_reply(h, rrq("c"), ("10.9.9.9", 1000)) == ("ERROR", 0, "server busy")
    assert h.stats.busy == 1 and h.stats.active == 2
    first.receive(ack(1))
    assert h.request(rrq("c"), ("10.9.9.9", 1001)) is not None


def test_requests_still_resolving_count_against_the_limit():
    h = Harness(max_transfers=1)
    h.service._resolve = lambda name, peer: defer.Deferred()
    h.request(rrq("a"))
    assert only_reply(h, rrq("b"), OTHER_PHONE) == ("ERROR", 0, "server busy")


def test_rate_limit_per_source_drops_silently_and_refills():
    h = Harness({"f": b"x"}, rate=2.0, burst=3)
    for port in range(3):
        assert h.request(rrq("f"), (PHONE[0], 2000 + port)) is not None
    assert only_reply(h, rrq("f"), (PHONE[0], 3000)) is None
    assert only_reply(h, b"\x00", (PHONE[0], 3001)) is None  # junk is charged too
    assert h.request(rrq("f"), OTHER_PHONE) is not None  # another source is not affected
    assert h.stats.rate_limited == 2 and h.stats.started == 4
    h.reactor.advance(0.5)
    assert h.request(rrq("f"), (PHONE[0], 4000)) is not None


def test_rate_limit_forgets_idle_sources():
    limit = SourceRateLimit(rate=10, burst=2, max_sources=3)
    for i in range(3):
        assert limit.allow(f"10.0.0.{i}", now=0.0)
    assert limit.allow("10.0.0.9", now=10.0)
    assert len(limit._buckets) == 1


def test_a_retransmitted_request_in_flight_is_ignored(h):
    waiting = defer.Deferred()
    h.service._resolve = lambda name, peer: (h.asked.append(name), waiting)[1]
    h.request(rrq("SEPAABBCCDDEEFF.cnf.xml"))
    assert h.request(rrq("SEPAABBCCDDEEFF.cnf.xml")) is None  # the phone's RRQ retransmitted
    assert h.asked == ["SEPAABBCCDDEEFF.cnf.xml"] and h.stats.duplicates == 1
    waiting.callback(b"x" * 10)
    port = h.reactor.ports[-1]
    assert h.request(rrq("SEPAABBCCDDEEFF.cnf.xml")) is None  # still in flight: being sent
    assert h.stats.duplicates == 2 and h.listener.sent == []
    port.receive(ack(1))
    h.service._resolve = h.resolve
    assert h.request(rrq("SEP001122334455.cnf.xml")) is not None  # done: a new request is served
    assert h.request(rrq("SEP001122334455.cnf.xml"), OTHER_PHONE) is not None  # another phone, same file


@pytest.mark.parametrize("setting", [{"port": 70000}, {"timeout": 0}, {"retries": -1}, {"max_transfers": 0},
                                     {"burst": 0}, {"resolve_timeout": 0}, {"stop_grace": -1}])
def test_invalid_settings_name_their_key(setting):
    key = next(iter(setting))
    with pytest.raises(ValueError, match=f"tftp.{key}"):
        TFTPService(lambda name, peer: None, reactor=FakeReactor(), **setting)


def test_listening_socket_gets_a_large_receive_buffer(h):
    assert h.listener.socket.options[socket.SOL_SOCKET, socket.SO_RCVBUF] == 4 * 1024 * 1024
    assert h.service.address == ("127.0.0.1", 6969)


# --- stop, events ----------------------------------------------------------------


def test_stop_without_transfers_is_immediate(h):
    stopped = h.service.stopService()
    assert stopped.called and h.listener.closed and h.service.address is None


def test_stop_lets_an_in_flight_transfer_finish():
    h = Harness({"f": b"y" * 600})
    port = h.request(rrq("f"))
    stopped = h.service.stopService()
    assert h.listener.closed and not stopped.called
    port.receive(ack(1))
    assert not stopped.called
    port.receive(ack(2))
    assert stopped.called and h.stats.completed == 1
    assert not h.reactor.getDelayedCalls()


def test_stop_aborts_what_is_left_after_the_grace_time():
    h = Harness(stop_grace=3.0, timeout=10.0)
    port = h.request(rrq("SEP001122334455.cnf.xml"))
    waiting = defer.Deferred()
    h.service._resolve = lambda name, peer: waiting
    h.request(rrq("slow"), OTHER_PHONE)
    stopped = h.service.stopService()
    h.reactor.advance(2.9)
    assert not stopped.called
    h.reactor.advance(0.1)
    assert stopped.called
    assert port.decoded()[-1] == ("ERROR", 0, "server shutting down")
    assert (h.stats.failed, h.stats.active) == (2, 0)
    assert not h.reactor.getDelayedCalls()


def test_events_and_a_broken_hook(h):
    h.files["f"] = b"1"
    h.request(rrq("f")).receive(ack(1))
    only_reply(h, rrq("CTLSEP001122334455.tlv"))
    assert [(e.kind, e.filename) for e in h.events] == [
        ("started", "f"), ("completed", "f"), ("started", "CTLSEP001122334455.tlv"),
        ("not_found", "CTLSEP001122334455.tlv")]

    def broken(event):
        raise ValueError("metrics down")

    h.service._on_event = broken
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        h.request(rrq("f")).receive(ack(1))
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert h.stats.completed == 2
    assert any("log_failure" in e for e in logged)


def test_ipv6_peers(h):
    peer = ("::1", 40001)
    port = h.request(rrq("SEP001122334455.cnf.xml"), peer)
    assert port.sent[0][1] == peer
    port.receive(ack(1), peer)
    assert port.decoded()[-1][1] == 2


def test_to_netascii():
    assert to_netascii(b"a\r\nb") == b"a\r\0\r\nb"
