"""T-6 proxy TFTP without a server process: the client against peers on loopback
sockets, ``PeerFiles`` with a fake fetch and clock, the resolver's hook, the
forwarded marker, the settings. tests/e2e/test_proxy_tftp_peers.py runs real peers."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time

import pytest

from models.rules.catalog import default_catalog
from models.storage.settings import save_settings
from phoneservice.config import ConfigError, load_config, peer_address
from phoneservice.configfiles import tftp_client
from phoneservice.configfiles import tftp_wire as wire
from phoneservice.configfiles.cnf import ServerInfo
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.configfiles.peers import PeerFiles
from phoneservice.observe import Metrics
from tests.handclock import HandClock
from tests.test_tftp import Harness, rrq

FILE = bytes(range(256)) * 13  # 3,328 bytes: several blocks of either size


def options_of(packet: bytes) -> dict[str, str]:
    fields = packet[2:].split(b"\0")[:-1]
    return {k.decode().lower(): v.decode() for k, v in zip(fields[2::2], fields[3::2])}


class FakePeer:
    """A TFTP peer on a loopback socket, in a thread, playing one scripted answer per request."""

    def __init__(self, behaviour: str, data: bytes = FILE) -> None:
        self.behaviour, self.data = behaviour, data
        self.main = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.main.bind(("127.0.0.1", 0))
        self.main.settimeout(0.2)
        self.port = self.main.getsockname()[1]
        self.requests: list[bytes] = []
        self.stray_answers: list[bytes] = []
        self.client_errors: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.main.close()

    def _run(self) -> None:
        for _ in range(500):  # bounded: at most 100 s
            if self._stop.is_set():
                return
            try:
                packet, client = self.main.recvfrom(2048)
            except TimeoutError:
                continue
            self.requests.append(packet)
            if self.behaviour != "dead":
                self._answer(packet, client)

    def _answer(self, packet: bytes, client) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tid:
            tid.bind(("127.0.0.1", 0))
            tid.settimeout(2)
            if self.behaviour == "not_found":
                tid.sendto(struct.pack("!HH", wire.ERROR, 1) + b"File not found\0", client)
                return
            blksize = 512
            if self.behaviour == "oack":
                blksize = int(options_of(packet)["blksize"])
                tid.sendto(struct.pack("!H", wire.OACK) + f"blksize\0{blksize}\0".encode(), client)
                assert tid.recvfrom(100)[0] == struct.pack("!HH", wire.ACK, 0)
            if self.behaviour == "stranger":  # another port answers first with other bytes
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                    tid.sendto(wire.data_packet(1, self.data[:512]), client)
                    tid.recvfrom(100)
                    other.sendto(wire.data_packet(2, b"EVIL" * 128), client)
                    other.settimeout(2)
                    self.stray_answers.append(other.recvfrom(100)[0])
                    tid.sendto(wire.data_packet(2, self.data[512:1024]), client)
                    tid.recvfrom(100)
                    block, start = 3, 1024
            else:
                block, start = 1, 0
            for _ in range(len(self.data) // blksize + 2):
                chunk = self.data[start:start + blksize]
                tid.sendto(wire.data_packet(block, chunk), client)
                reply = tid.recvfrom(100)[0]
                if reply != struct.pack("!HH", wire.ACK, block):
                    self.client_errors.append(reply)
                    return
                if len(chunk) < blksize:
                    return
                block, start = block + 1, start + blksize


@pytest.fixture
def peer_factory():
    made = []

    def make(behaviour: str, data: bytes = FILE) -> FakePeer:
        made.append(FakePeer(behaviour, data))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


# --- the client ------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["plain", "oack"])
def test_t6_client_fetches_the_whole_file_and_marks_it_forwarded(peer_factory, behaviour):
    """T-6: the whole file, with or without option negotiation; the request says it is forwarded."""
    peer = peer_factory(behaviour)
    assert tftp_client.fetch("127.0.0.1", peer.port, "SEP001122334455.cnf.xml", 2.0) == FILE
    first = peer.requests[0]
    assert first[2:].split(b"\0")[0] == b"SEP001122334455.cnf.xml"
    assert options_of(first)[wire.FORWARDED] == "1"


def test_t6_client_not_found_is_file_not_found(peer_factory):
    """T-6: a peer's error 1 is FileNotFoundError, at once."""
    peer = peer_factory("not_found")
    with pytest.raises(FileNotFoundError):
        tftp_client.fetch("127.0.0.1", peer.port, "SEP001122334455.cnf.xml", 2.0)


def test_t6_client_dead_peer_times_out_within_its_timeout(peer_factory):
    """T-6: a peer that never answers costs its timeout, not more; the request was sent again meanwhile."""
    peer = peer_factory("dead")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        tftp_client.fetch("127.0.0.1", peer.port, "SEP001122334455.cnf.xml", 1.2)
    assert 1.1 < time.monotonic() - started < 2.0
    assert len(peer.requests) >= 2


def test_t6_client_ignores_a_foreign_transfer_id(peer_factory):
    """T-6 (T-2's transfer IDs): a DATA from another port is answered error 5 and never enters the file."""
    peer = peer_factory("stranger")
    assert tftp_client.fetch("127.0.0.1", peer.port, "SEP001122334455.cnf.xml", 3.0) == FILE
    assert peer.stray_answers and struct.unpack_from("!HH", peer.stray_answers[0]) == (wire.ERROR, 5)


def test_t6_client_refuses_an_answer_over_the_cap(peer_factory):
    """T-6: a peer can't make the proxy hold an unbounded answer."""
    peer = peer_factory("plain", data=b"x" * 5000)
    with pytest.raises(tftp_client.PeerError):
        tftp_client.fetch("127.0.0.1", peer.port, "SEP001122334455.cnf.xml", 2.0, max_bytes=2048)
    for _ in range(50):  # the peer is told why (error 3) rather than left retransmitting
        if peer.client_errors:
            break
        time.sleep(0.02)
    assert struct.unpack_from("!HH", peer.client_errors[0]) == (wire.ERROR, tftp_client.ERR_DISK_FULL)


# --- PeerFiles -------------------------------------------------------------------


def scripted(answers: dict, clock: HandClock, asked: list):
    """A fetch where each peer port answers bytes, 'missing', or 'dead' (the timeout passes)."""

    def fetch(host, port, name, timeout):
        asked.append((port, name))
        answer = answers[port]
        if answer == "dead":
            clock.now += timeout
            raise TimeoutError
        if answer == "missing":
            raise FileNotFoundError(name)
        return answer

    return fetch


def test_t6_first_peer_with_the_file_wins_after_a_dead_one_and_is_logged(caplog):
    """T-6: peers in order, a dead one times out, the next that has the file answers, logged with its peer."""
    clock, asked = HandClock(1000.0), []
    peers = PeerFiles([("10.0.0.1", 69), ("10.0.0.2", 70), ("10.0.0.3", 6969), ("10.0.0.4", 71)], 2.0, 60, 4,
                      fetch=scripted({69: "dead", 70: "missing", 6969: b"FILE", 71: b"OTHER"}, clock, asked),
                      clock=clock)
    with caplog.at_level(logging.INFO, logger="phone_migration"):
        assert peers.fetch("SEP001122334455.cnf.xml") == b"FILE"
    assert [port for port, _ in asked] == [69, 70, 6969]  # the fourth is never asked
    proxied = [r for r in caplog.records if r.getMessage() == "config_file_proxied"]
    assert proxied and proxied[0].fields["peer"] == "10.0.0.3:6969"
    assert any(r.getMessage() == "peer_timeout" and r.fields["peer"] == "10.0.0.1:69" for r in caplog.records)


def test_t6_dead_peer_is_skipped_until_its_negative_time_ends():
    """T-6: a peer that timed out is not waited for again within peer_negative_seconds."""
    clock, asked = HandClock(1000.0), []
    peers = PeerFiles([("10.0.0.1", 69), ("10.0.0.3", 6969)], 2.0, 60, 4,
                      fetch=scripted({69: "dead", 6969: b"FILE"}, clock, asked), clock=clock)
    peers.fetch("SEP001122334455.cnf.xml")
    asked.clear()
    assert peers.fetch("SEP001122334466.cnf.xml") == b"FILE"
    assert asked == [(6969, "SEP001122334466.cnf.xml")]
    clock.now += 61
    asked.clear()
    peers.fetch("SEP001122334477.cnf.xml")
    assert [port for port, _ in asked] == [69, 6969]


def test_t6_a_name_no_peer_has_is_not_asked_again_for_a_while():
    """T-6: the negative cache answers a name no peer had without asking, until it expires."""
    clock, asked = HandClock(1000.0), []
    peers = PeerFiles([("10.0.0.2", 69)], 2.0, 60, 4, fetch=scripted({69: "missing"}, clock, asked), clock=clock)
    assert peers.fetch("SEP001122334455.cnf.xml") is None
    assert peers.fetch("SEP001122334455.cnf.xml") is None
    assert len(asked) == 1
    assert peers.metrics.proxy_answers.labels("cached")._value.get() == 1
    clock.now += 61
    peers.fetch("SEP001122334455.cnf.xml")
    assert len(asked) == 2


def test_t6_concurrency_is_bounded():
    """T-6: never more than peer_concurrency fetches at once; the rest wait for a slot."""
    inside, most, lock = [0], [0], threading.Lock()

    def slow(host, port, name, timeout):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with lock:
            inside[0] -= 1
        return b"FILE"

    peers = PeerFiles([("10.0.0.2", 69)], 5.0, 60, 2, fetch=slow)
    threads = [threading.Thread(target=peers.fetch, args=(f"SEP0011223344{i:02d}.cnf.xml",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 2


# --- the resolver's hook -----------------------------------------------------------


class RecordingPeers:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def fetch(self, name: str) -> bytes:
        self.asked.append(name)
        return b"<device>from a peer</device>"


@pytest.fixture
def proxying(demo_db, tmp_path):
    (tmp_path / "loads").mkdir()
    peers = RecordingPeers()
    files = ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path / "loads", tmp_path, Metrics(), peers)
    return files, peers, demo_db


def test_t6_unknown_mac_with_autoreg_off_goes_to_the_peers_by_its_canonical_name(proxying):
    """T-6: only an unknown phone's SEP<MAC>.cnf.xml, spelled SEP + upper-case MAC, reaches a peer."""
    files, peers, db = proxying
    with db.session() as s:
        save_settings(s, autoreg_enabled=False)
    assert files.resolve("sepaabbccddee01.CNF.xml") == b"<device>from a peer</device>"
    assert files.resolve("SEP001122330002.cnf.xml") != b"<device>from a peer</device>"  # known here
    assert peers.asked == ["SEPAABBCCDDEE01.cnf.xml"]


def test_t6_other_names_never_reach_a_peer(proxying):
    """T-6 with T-2: traversal is refused and names that are not a device's config file are not proxied."""
    files, peers, db = proxying
    with db.session() as s:
        save_settings(s, autoreg_enabled=False)
    for name in ["../etc/passwd", "/etc/passwd", "SEPAABBCCDDEE01.cnf.xml/../../etc/passwd",
                 "../SEPAABBCCDDEE01.cnf.xml"]:
        with pytest.raises(PermissionError):
            files.resolve(name)
    for name in ["passwd", "SEPAABBCCDDEE01.cnf.xml.sgn", "AABBCCDDEE01.lic", "CTLSEPAABBCCDDEE01.tlv"]:
        assert files.resolve(name) is None
    assert files.resolve("XMLDefault.cnf.xml") is not None
    assert peers.asked == []


def test_t6_a_forwarded_request_is_answered_from_here_only(proxying):
    """T-6: a peer's request neither auto-registers a device (T-4 on) nor asks this cluster's own peers."""
    files, peers, db = proxying
    assert files.resolve("SEPAABBCCDDEE02.cnf.xml", forwarded=True) is None
    assert peers.asked == []
    assert files.resolve("SEP001122330002.cnf.xml", forwarded=True) is not None
    assert files.metrics.autoreg.labels("registered")._value.get() == 0


def test_t6_tftp_routes_a_forwarded_request_to_its_own_resolver():
    """T-6: the pm-forwarded option (any case) picks resolve_forwarded; plain requests keep resolve."""
    forwarded = []
    h = Harness()
    h.service._resolve_forwarded = lambda name, peer: forwarded.append(name)
    h.request(rrq("SEP001122334455.cnf.xml", "octet", ("PM-Forwarded", "1")))
    h.request(rrq("SEP001122334455.cnf.xml", "octet"), peer=("10.1.2.9", 5000))
    assert forwarded == ["SEP001122334455.cnf.xml"]
    assert [name for name, _ in h.asked] == ["SEP001122334455.cnf.xml"]


# --- settings ----------------------------------------------------------------------


def test_t6_peer_settings(monkeypatch):
    """T-6: peers as host:port (port 69 by default, IPv6 in brackets); a bad one names the key."""
    assert peer_address("tftp.example.org") == ("tftp.example.org", 69)
    assert peer_address("[2001:db8::9]:6969") == ("2001:db8::9", 6969)
    monkeypatch.setenv("PHONE_MIGRATION_TFTP__PEERS", '["10.0.0.9:69", "10.0.0.10"]')
    assert load_config().tftp.peer_addresses == [("10.0.0.9", 69), ("10.0.0.10", 69)]
    monkeypatch.setenv("PHONE_MIGRATION_TFTP__PEERS", '["10.0.0.9:70000"]')
    with pytest.raises(ConfigError, match="tftp.peers"):
        load_config()
