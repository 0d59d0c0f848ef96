"""phoneservice.configfiles.warm: device files answered after one shared stamp read,
never older than the request (T-1, H-1)."""

from __future__ import annotations

from sqlmodel import select
from twisted.internet import defer

from models.rules.catalog import default_catalog
from models.tables.devices import Device
from phoneservice.configfiles.cnf import ServerInfo
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.configfiles.warm import WarmFiles

NAME = "SEP001122330002.cnf.xml"


class Gate:
    """WarmFiles with its thread calls held until the test runs them."""

    def __init__(self, files: ConfigFiles) -> None:
        self.reads: list[tuple[object, defer.Deferred]] = []
        self.slow: list[str] = []
        self.warm = WarmFiles(files, self._in_thread, self._slow)
        self.files = files

    def _in_thread(self, f):
        d = defer.Deferred()
        self.reads.append((f, d))
        return d

    def _slow(self, name):
        self.slow.append(name)
        return defer.succeed(self.files.resolve(name))

    def run_read(self) -> None:
        f, d = self.reads.pop(0)
        d.callback(f())


def results(d: defer.Deferred) -> list:
    out = []
    d.addBoth(out.append)
    return out


def change_phone(db, load: str) -> None:
    with db.session() as session:
        session.exec(select(Device).where(Device.name == "SEP001122330002")).one().load_override = load


def test_t1_many_requests_one_stamp_read(demo_db, tmp_path):
    """T-1: the first request starts a stamp read; those arriving meanwhile are answered
    together from the cache after the next one."""
    files = ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path, tmp_path)
    cached = files.resolve(NAME)
    gate = Gate(files)
    answers = [results(gate.warm.resolve(NAME)) for _ in range(5)]
    assert len(gate.reads) == 1 and not any(answers)
    gate.run_read()
    assert answers[0] == [cached] and not any(answers[1:]) and len(gate.reads) == 1
    gate.run_read()
    assert [a[0] for a in answers] == [cached] * 5 and gate.slow == [] and gate.reads == []


def test_h1_a_request_during_a_read_waits_for_the_next_one(demo_db, tmp_path):
    """H-1: a request that arrives while a stamp read is under way, after a commit, is not
    answered by that read: the next read sees the commit and the file is rendered anew."""
    files = ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path, tmp_path)
    old = files.resolve(NAME)
    gate = Gate(files)
    first = results(gate.warm.resolve(NAME))
    f, read = gate.reads.pop(0)
    version = f()  # the read ran before the commit; its answer is still on its way
    change_phone(demo_db, "sip88xx.h1-next")
    second = results(gate.warm.resolve(NAME))
    read.callback(version)
    assert first == [old] and not second and len(gate.reads) == 1
    gate.run_read()
    assert b"sip88xx.h1-next" in second[0] and gate.slow == [NAME]


def test_t1_other_files_and_unknown_phones_go_to_the_resolver(demo_db, tmp_path):
    """T-1/T-4: a name that is no device file skips the stamp read; an uncached phone is resolved."""
    files = ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path, tmp_path)
    gate = Gate(files)
    default = results(gate.warm.resolve("XMLDefault.cnf.xml"))
    assert default[0].startswith(b"<") and gate.reads == [] and gate.slow == ["XMLDefault.cnf.xml"]
    phone = results(gate.warm.resolve(NAME))
    gate.run_read()
    assert b"<device>" in phone[0] and gate.slow[-1] == NAME


def test_t1_a_request_timed_out_meanwhile_is_left_alone(demo_db, tmp_path):
    """T-1: a request the TFTP service gave up on (cancelled) is skipped when the read
    returns: neither answered nor counted as served."""
    files = ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path, tmp_path)
    files.resolve(NAME)
    served = files.metrics.config_requests.labels("tftp", "device", "found")
    before = served._value.get()
    gate = Gate(files)
    first = results(gate.warm.resolve(NAME))
    gone, kept = gate.warm.resolve(NAME), results(gate.warm.resolve(NAME))  # both wait for the second read
    gone.addErrback(lambda failure: None)
    gate.run_read()
    gone.cancel()
    gate.run_read()
    assert first[0] and kept[0] == first[0] and gate.slow == [] and gate.reads == []
    assert served._value.get() == before + 2
