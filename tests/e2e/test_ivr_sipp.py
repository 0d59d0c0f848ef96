"""The IVR worker over real SIP and RTP, with SIPp as the new phone: A, D, P, C-14.

Each test creates a fresh demo database, starts
``python -m phoneservice.processes.ivr_worker`` on it, runs one SIPp scenario
from tests/e2e/sipp/ivr_*.xml and then checks the database. Keys are RFC 4733 telephone-events that SIPp replays from pcap files
written here (``DtmfPcaps``): one RTP stream (SSRC, sequence numbers,
timestamps) continues across all files of a call, so "1001" or "2000" keeps
its repeated digits, which Debian's fixed-timestamp dtmf_2833_*.pcap would lose.

The calling phone is the demo's auto-registered SEP00AA11BB22CC: by its DN 9000
in From, or (lobby test) by the Cisco ``devicename`` Contact parameter.

Helpers here (``IvrWorker``, ``demo_database``, ``free_port``) are shared with
test_ivr_pjsua2.py and test_ivr_baresip.py.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlmodel import select
from test_server import logged_secrets

import models.tables  # noqa: F401  (registers every table)
from models.rules.clock import utcnow
from models.storage.database import Database
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.users import CredentialState, EndUser

pytestmark = pytest.mark.slow
SIPP_DIR = Path(__file__).parent / "sipp"
REPO = Path(__file__).resolve().parents[2]
NEW = "SEP00AA11BB22CC"
ROUTE_POINT = "8000"


# --- shared helpers ----------------------------------------------------------------------
def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (the worker listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def demo_database(directory: Path) -> str:
    """A fresh demo site, made the way a newcomer makes one (phone-migration init-db --demo)."""
    url = f"sqlite:///{directory / 'demo.db'}"
    subprocess.run([sys.executable, "-m", "phoneservice.cli", "--database", url, "init-db", "--demo"],
                   cwd=REPO, check=True, capture_output=True, timeout=120)
    return url


class IvrWorker:
    """``python -m phoneservice.processes.ivr_worker`` as the supervisor runs it; stderr (JSON logs) kept in a file."""

    def __init__(self, url: str, directory: Path, *extra: str) -> None:
        self.url, self.port = url, free_port()
        self.log_path = directory / f"worker-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "phoneservice.processes.ivr_worker", "--database", url, "--host", "127.0.0.1", "--port", str(self.port),
             *extra],
            cwd=REPO, stdout=subprocess.PIPE, stderr=self._log)
        line = self._first_line(timeout=30)
        assert line == f"READY {self.port}", f"worker said {line!r}\n{self.log()}"

    def _first_line(self, timeout: float) -> str:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return "<nothing>"
        return self.proc.stdout.readline().decode().strip()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, count: int = 1, timeout: float = 10) -> str:
        """The log once it holds ``text`` ``count`` times: pjsip answers a BYE on its own thread
        before the worker's reactor logs the call's end, so a caller can exit before that line."""
        deadline = time.monotonic() + timeout
        while (log := self.log()).count(text) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return log

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker ignored SIGTERM for {timeout} s\n{self.log()[-3000:]}")
        finally:
            self.proc.stdout.close()
            self._log.close()


@contextmanager
def running_worker(tmp_path: Path, *extra: str, url: str | None = None):
    worker = IvrWorker(url or demo_database(tmp_path), tmp_path, *extra)
    try:
        yield worker
    finally:
        code = worker.stop()
    assert code == 0, f"worker exit {code}\n{worker.log()[-3000:]}"


# --- RFC 4733 keys as pcap --------------------------------------------------------------------
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


class DtmfPcaps:
    """Key presses as pcap files for SIPp's ``play_pcap_audio`` (Ethernet/IPv4/UDP/RTP).

    Per key: 8 packets 20 ms apart with one RTP timestamp and a growing
    duration, then the end packet three times (RFC 4733 2.5.1.4), then 120 ms
    of nothing. Sequence numbers and timestamps run on across files.
    """

    PAYLOAD_TYPE, PACKET_MS, PACKETS, GAP_MS = 101, 20, 8, 120

    def __init__(self, directory: Path, ssrc: int = 0x5EED1234) -> None:
        self.directory, self.ssrc, self.seq, self.ts = directory, ssrc, 1000, 80000

    def write(self, name: str, keys: str) -> float:
        """Write ``name`` with ``keys``; returns how long it plays (seconds)."""
        frames, t = [], 0.0
        for key in keys:
            start = self.ts
            for i in range(self.PACKETS):
                frames.append((t, self._rtp(i == 0, start, EVENTS[key], False, (i + 1) * 160)))
                self.seq += 1
                t += self.PACKET_MS / 1000
            end = self._rtp(False, start, EVENTS[key], True, self.PACKETS * 160)
            frames += [(t, end)] * 3  # retransmissions share the sequence number
            self.seq += 1
            t += self.GAP_MS / 1000
            self.ts += (self.PACKETS * self.PACKET_MS + self.GAP_MS) * 8
        with open(self.directory / name, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # pcap, Ethernet
            for when, payload in frames:
                packet = self._ethernet(payload)
                out.write(struct.pack("<IIII", int(when), round((when % 1) * 1e6) % 1_000_000, len(packet), len(packet)))
                out.write(packet)
        return t

    def _rtp(self, marker: bool, ts: int, event: int, end: bool, duration: int) -> bytes:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | self.PAYLOAD_TYPE, self.seq & 0xFFFF,
                             ts & 0xFFFFFFFF, self.ssrc)
        return header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)  # volume 10

    @staticmethod
    def _ethernet(payload: bytes) -> bytes:
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(payload), 0) + payload
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                                   bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])))
        total = sum(struct.unpack("!10H", bytes(ip)))
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        ip[10:12] = struct.pack("!H", ~total & 0xFFFF)
        return b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00" + bytes(ip) + udp


# --- SIPp --------------------------------------------------------------------------------------
def sipp(scenario: str, port: int, workdir: Path, *, caller: str = "9000", contact_params: str = "",
         timeout: float = 60, transport: str = "u1", extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed (Debian: sip-tester)")
    tag = scenario.removesuffix(".xml")
    argv = ["sipp", "-sf", str(SIPP_DIR / scenario), "-i", "127.0.0.1", "-mi", "127.0.0.1",
            "-p", str(free_port()), "-mp", str(free_port()), "-t", transport, "-m", "1", "-nostdin",
            "-timeout", f"{timeout:g}s", "-timeout_error",
            "-key", "caller", caller, "-key", "route_point", ROUTE_POINT, "-key", "contact_params", contact_params,
            "-trace_msg", "-message_file", str(workdir / f"{tag}.msg"),
            "-trace_err", "-error_file", str(workdir / f"{tag}.err"), *extra, f"127.0.0.1:{port}"]
    return subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout + 30)


def call(worker: IvrWorker, workdir: Path, scenario: str, steps: list[str], *, keys: type[DtmfPcaps] = DtmfPcaps,
         **kw) -> None:
    """One SIPp call with ``steps`` as step1.pcap, step2.pcap, ...; fails with both sides' logs."""
    pcaps = keys(workdir)
    for number, keys in enumerate(steps, 1):
        pcaps.write(f"step{number}.pcap", keys)
    done = sipp(scenario, worker.port, workdir, **kw)
    if done.returncode != 0:
        tag = scenario.removesuffix(".xml")
        errors = (workdir / f"{tag}.err").read_text(errors="replace") if (workdir / f"{tag}.err").exists() else ""
        pytest.fail(f"sipp {scenario} exit {done.returncode}\n{done.stdout[-2000:]}\n{errors[-2000:]}\n"
                    f"--- worker ---\n{worker.log()[-4000:]}")


# --- the database afterwards ---------------------------------------------------------------------
class Site:
    def __init__(self, url: str) -> None:
        self.db = Database(url)

    def device(self, name: str) -> SimpleNamespace | None:
        with self.db.read_session() as session:
            return _plain(session.exec(select(Device).where(Device.name == name)).first())

    def line1(self, name: str) -> str | None:
        with self.db.read_session() as session:
            return session.exec(
                select(DirectoryNumber.pattern)
                .join(LineAppearance, LineAppearance.dn_id == DirectoryNumber.id)
                .join(Device, Device.id == LineAppearance.device_id)
                .where(Device.name == name, LineAppearance.position == 1)).first()

    def owner(self, name: str) -> str | None:
        with self.db.read_session() as session:
            return session.exec(select(EndUser.user_id).join(Device, Device.owner_id == EndUser.id)
                                .where(Device.name == name)).first()

    def records(self) -> list[SimpleNamespace]:
        with self.db.read_session() as session:
            return [_plain(r) for r in session.exec(select(MigrationRecord).order_by(MigrationRecord.id))]

    def credentials(self, user: str) -> SimpleNamespace | None:
        with self.db.read_session() as session:
            return _plain(session.exec(select(CredentialState).join(EndUser, EndUser.id == CredentialState.user_id)
                                       .where(EndUser.user_id == user)).first())

    def fail_once(self, user: str) -> None:
        """One failed PIN on record for ``user`` (A-4), as if keyed wrong a minute ago."""
        with self.db.session() as session:
            user_id = session.exec(select(EndUser.id).where(EndUser.user_id == user)).one()
            session.add(CredentialState(user_id=user_id, failures=1, first_failure_at=utcnow()))

    def set_contact(self, name: str, contact: str) -> None:
        with self.db.session() as session:
            device = session.exec(select(Device).where(Device.name == name)).one()
            device.sip_contact = contact
            session.add(device)

    def close(self) -> None:
        self.db.dispose()


def _plain(row) -> SimpleNamespace | None:
    """A row's values, readable after its session is gone."""
    return None if row is None else SimpleNamespace(**row.model_dump())


@pytest.fixture
def site_url(tmp_path):
    return demo_database(tmp_path)


@pytest.fixture
def site(site_url):
    s = Site(site_url)
    yield s
    s.close()


def assert_untouched(site: Site) -> None:
    assert [r.outcome for r in site.records() if r.outcome not in ("refused", "abandoned")] == []
    new = site.device(NEW)
    assert new.auto_registered and new.owner_id is None and site.line1(NEW) == "9000"


# --- A, D, C: replace ------------------------------------------------------------------------------
def test_replace_the_one_old_phone_and_restart_the_new_one(tmp_path, site_url, site):
    """olivia, extension 1012, PIN 1739: one unregistered phone -> no question (D-3); C-14 NOTIFY."""
    notify_port = free_port()
    site.set_contact(NEW, f"sip:9000@127.0.0.1:{notify_port};transport=udp")
    phone = subprocess.Popen(["sipp", "-sf", str(SIPP_DIR / "notify_uas.xml"), "-i", "127.0.0.1", "-p", str(notify_port),
                              "-m", "1", "-nostdin", "-timeout", "90s", "-timeout_error",
                              "-trace_msg", "-message_file", str(tmp_path / "notify.msg")],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with running_worker(tmp_path, url=site_url) as worker:
            call(worker, tmp_path, "ivr_migrate.xml", ["2", "1012#", "1739#", "1"])
            assert phone.wait(timeout=15) == 0, worker.log()[-3000:]
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait()
    notify = (tmp_path / "notify.msg").read_text()  # an 8851 whose REGISTER Call-ID is unknown
    assert "Event: service-control" in notify and "RegisterCallId={}" in notify
    old, new = site.device("SEP001122330033"), site.device(NEW)
    assert old.migrated and old.successor == NEW
    assert not new.auto_registered and site.owner(NEW) == "olivia" and site.line1(NEW) == "1012"
    [record] = site.records()
    assert (record.door, record.action, record.outcome, record.old_device) == ("ivr", "replace", "migrated", old.name)


def test_replace_choosing_from_a_list(tmp_path, site_url, site):
    """erin, 1005 (a repeated 0), PIN 3851: three phones, two unregistered -> list (D-3); key 2 = the 8841."""
    with running_worker(tmp_path, url=site_url) as worker:
        call(worker, tmp_path, "ivr_migrate_from_list.xml", ["2", "1005#", "3851#", "2", "1"])
    assert site.device("SEP001122330016").migrated
    assert not site.device("SEP001122330015").migrated and not site.device("SEP001122330017").migrated
    assert site.line1(NEW) == "1005" and site.owner(NEW) == "erin"


def test_lobby_phone_by_authentication_code_and_devicename(tmp_path, site_url, site):
    """A-3: the code reaches the ownerless lobby phone (2000: repeated 0s); the caller is found by devicename."""
    with running_worker(tmp_path, url=site_url) as worker:
        call(worker, tmp_path, "ivr_migrate.xml", ["2", "2000#", "951413#", "1"], caller="5555",
             contact_params=f';+u.sip!devicename.ccm.cisco.com="{NEW}"')
    assert site.device("SEP001122330040").migrated
    [record] = site.records()
    assert record.outcome == "migrated" and record.actor.startswith("admin (authentication code)")
    assert site.line1(NEW) == "2000" and site.owner(NEW) is None


# --- P: provision ------------------------------------------------------------------------------------
def test_provision_the_new_phone_for_olivia(tmp_path, site_url, site):
    """P-1, option 1: the auto-registered phone becomes olivia's, line 1 = 1012; her old phone stays."""
    with running_worker(tmp_path, url=site_url) as worker:
        call(worker, tmp_path, "ivr_migrate.xml", ["1", "1012#", "1739#", "1"])
    new = site.device(NEW)
    assert not new.auto_registered and site.owner(NEW) == "olivia" and site.line1(NEW) == "1012"
    assert not site.device("SEP001122330033").migrated
    [record] = site.records()
    assert (record.door, record.action, record.outcome) == ("ivr", "provision", "provisioned")


# --- refusals ------------------------------------------------------------------------------------
def test_wrong_pin_three_times_ends_the_call_and_counts(tmp_path, site_url, site):
    with running_worker(tmp_path, url=site_url) as worker:
        call(worker, tmp_path, "ivr_wrong_pin.xml", ["2", "1001#", "2468#", "1001#", "2468#", "1001#", "2468#"])
    assert_untouched(site)
    assert not site.device("SEP001122330001").migrated
    refused = [r for r in site.records() if r.outcome == "refused"]
    assert len(refused) == 3 and {r.code for r in refused} <= {"invalid_credentials", "locked"}
    assert all(r.door == "ivr" for r in refused)
    assert site.credentials("alice").failures >= 3  # A-4 counts per user across doors


def test_locked_user_is_told_and_nothing_changes(tmp_path, site_url, site):
    """ken (1011) is locked since the demo was loaded: even his right PIN gets "locked"."""
    with running_worker(tmp_path, url=site_url) as worker:
        call(worker, tmp_path, "ivr_refused.xml", ["2", "1011#", "8349#"])
    assert_untouched(site)
    assert not site.device("SEP001122330032").migrated
    assert [r.code for r in site.records()] == ["locked"]


def test_hangup_in_the_middle_of_the_pin_changes_nothing_but_is_recorded(tmp_path, site_url, site):
    """C-13: nothing migrates, and the abandoned attempt is recorded with the extension, never the PIN's keys."""
    with running_worker(tmp_path, url=site_url) as worker:
        call(worker, tmp_path, "ivr_hangup_in_pin.xml", ["2", "1012#", "17"])
        log = worker.wait_log('"op": "abandon"')
    assert_untouched(site)
    assert site.credentials("olivia") is None
    [record] = site.records()
    assert (record.door, record.action, record.outcome, record.new_device) == ("ivr", "replace", "abandoned", NEW)
    assert record.details == {"extension": "1012"} and "17" not in record.message.replace("1012", "")
    assert '"phase": "pin"' in log  # the worker saw the hang-up while the PIN was keyed


class QuickKeys(DtmfPcaps):
    """Keys pressed quickly: 60 ms of event and 60 ms apart (shorter, pjmedia loses a repeated key)."""

    PACKETS, GAP_MS = 3, 60


def test_type_ahead_the_whole_entry_without_pauses_migrates(tmp_path, site_url, site):
    """A-8: menu key, extension#, PIN# and the choice from the list keyed in one go while the IVR is busy.

    erin (1005) has one failed PIN on record, so her right PIN is a write
    (A-4's counter is reset); the test holds SQLite's write lock for the first
    seconds of the call, so the list choice ("2", the 8841) arrives while
    ``authenticate`` waits: without type-ahead it would be lost and the call
    would end unanswered. The confirmation comes after the preview (C-15).
    """
    site.fail_once("erin")
    with running_worker(tmp_path, url=site_url) as worker:
        holder = threading.Thread(target=hold_write_lock, args=(site_url, worker, 3.0))
        holder.start()
        try:
            call(worker, tmp_path, "ivr_type_ahead.xml", ["21005#3851#2", "1"], keys=QuickKeys)
        finally:
            holder.join(timeout=40)
    assert site.device("SEP001122330016").migrated and site.line1(NEW) == "1005" and site.owner(NEW) == "erin"
    [record] = site.records()
    assert (record.door, record.action, record.outcome) == ("ivr", "replace", "migrated")
    assert site.credentials("erin").failures == 0
    authenticated = [json.loads(line) for line in worker.log().splitlines() if '"op": "authenticate"' in line]
    assert authenticated[0]["ms"] >= 500  # it did wait for the lock: the choice came meanwhile


def hold_write_lock(url: str, worker: IvrWorker, seconds: float) -> None:
    """Keep SQLite's write lock (the worker's writes wait, its reads go on) from the call's
    answer until ``seconds`` later (the keys take about 1.5 s)."""
    worker.wait_log('"event": "ivr_call_answering"', timeout=30)
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


def test_silence_until_the_ivr_hangs_up(tmp_path, site_url, site):
    began = time.monotonic()
    with running_worker(tmp_path, "--first-digit-timeout", "1", url=site_url) as worker:
        call(worker, tmp_path, "ivr_silence.xml", [], timeout=90)
    assert time.monotonic() - began < 80
    assert_untouched(site)
    assert site.records() == []


# --- the worker as a SIP peer ------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options_answered_200_on_udp_and_tcp(tmp_path, site_url, transport):
    with running_worker(tmp_path, url=site_url) as worker:
        done = sipp("ivr_options.xml", worker.port, tmp_path, transport=transport, timeout=10)
        assert done.returncode == 0, done.stdout + worker.log()


def test_sigterm_drains_503_to_new_calls_and_lets_the_call_finish(tmp_path, site_url, site):
    worker = IvrWorker(site_url, tmp_path)
    pcaps = DtmfPcaps(tmp_path)
    for number, keys in enumerate(["2", "1012#", "1739#", "1"], 1):
        pcaps.write(f"step{number}.pcap", keys)
    busy_dir = tmp_path / "second"
    busy_dir.mkdir()
    first = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "ivr_migrate.xml"), "-i", "127.0.0.1", "-mi", "127.0.0.1",
         "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error",
         "-key", "caller", "9000", "-key", "route_point", ROUTE_POINT, "-key", "contact_params", "",
         f"127.0.0.1:{worker.port}"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        worker.wait_log('"event": "ivr_call_answering"', timeout=20)
        time.sleep(1)  # the call is up and in the menu
        worker.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        refused = sipp("ivr_draining.xml", worker.port, busy_dir, caller="9001", timeout=10)
        assert refused.returncode == 0, refused.stdout + worker.log()
        assert worker.proc.poll() is None  # still serving the call in progress
        assert first.wait(timeout=60) == 0, worker.log()[-3000:]
        ended = time.monotonic()
        assert worker.proc.wait(timeout=20) == 0, worker.log()[-3000:]
        assert time.monotonic() - ended < 10
    finally:
        for proc in (first, worker.proc):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        worker.stop(timeout=5)
    assert site.device("SEP001122330033").migrated
    assert '"event": "ivr_worker_stopped", "exit_code": 0' in worker.log()


def test_drain_deadline_hangs_up_the_calls_still_in_progress(tmp_path, site_url, site):
    worker = IvrWorker(site_url, tmp_path, "--drain-timeout", "2")
    caller = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "ivr_silence.xml"), "-i", "127.0.0.1", "-mi", "127.0.0.1",
         "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error",
         "-key", "caller", "9000", "-key", "route_point", ROUTE_POINT, "-key", "contact_params", "",
         f"127.0.0.1:{worker.port}"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        worker.wait_log('"event": "ivr_call_answering"', timeout=20)
        time.sleep(1)  # the call is up; its prompts last longer than the drain
        began = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        assert caller.wait(timeout=20) == 0, worker.log()[-3000:]  # the BYE came from the worker
        assert worker.proc.wait(timeout=20) == 0, worker.log()[-3000:]
        assert time.monotonic() - began < 2 + 8
    finally:
        for proc in (caller, worker.proc):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        worker.stop(timeout=5)
    assert "ivr_worker_drain_timeout" in worker.log()
    assert_untouched(site)


def test_a6_no_pin_in_the_worker_log(tmp_path, site_url):
    """The most verbose logging the worker allows; ken's right PIN must not appear."""
    with running_worker(tmp_path, "--log-level", "DEBUG", "--pj-log-level", "3", url=site_url) as worker:
        call(worker, tmp_path, "ivr_refused.xml", ["2", "1011#", "8349#"])
        log = worker.log()
    assert "ivr_engine" in log and '"event": "pjsip"' in log
    assert not logged_secrets(log, ("8349",)) and "DTMF" not in log.upper().replace("DTMF-RELAY", "")


def test_bad_database_exits_non_zero(tmp_path):
    done = subprocess.run([sys.executable, "-m", "phoneservice.processes.ivr_worker", "--database", "postgresql+psycopg://nobody@127.0.0.1:1/x",
                           "--port", str(free_port())], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "READY" not in done.stdout
    assert "ivr_worker_fatal" in done.stderr


def test_port_taken_exits_non_zero(tmp_path, site_url):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "phoneservice.processes.ivr_worker", "--database", site_url, "--port", str(port),
                               "--transport", "udp"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "READY" not in done.stdout
    assert "ivr_worker_fatal" in done.stderr
