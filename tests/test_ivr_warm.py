"""I-8: before READY, an IVR worker runs the caller look-up once in each of its call slots' threads (ivr.worker)."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

from twisted.internet import defer

from ivr import worker
from ivr.invite import CallerId


def in_threads(started: list[str]):
    """The worker's ``in_thread`` without a reactor: each job in a thread of its own, its Deferred fired there."""

    def in_thread(fn, *args) -> defer.Deferred:
        d = defer.Deferred()

        def run() -> None:
            started.append(threading.current_thread().name)
            try:
                result = fn(*args)
            except Exception:  # noqa: BLE001 - handed to the Deferred, as deferToThread does
                d.errback()
            else:
                d.callback(result)

        threading.Thread(target=run, daemon=True).start()
        return d

    return in_thread


class Adapter:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.callers, self.threads = fail, [], set()
        self.lock = threading.Lock()

    def look_up(self, caller: CallerId):
        with self.lock:
            self.callers.append(caller)
            self.threads.add(threading.get_ident())
        if self.fail:
            raise RuntimeError("the database is gone")
        return None, None


class Database:
    """Counts the connections held at once."""

    def __init__(self) -> None:
        self.open = self.most = 0
        self.lock = threading.Lock()

    @contextmanager
    def read_connection(self):
        with self.lock:
            self.open += 1
            self.most = max(self.most, self.open)
        try:
            yield None
        finally:
            with self.lock:
                self.open -= 1


class Service:
    def __init__(self) -> None:
        self.db = Database()


def warmed(adapter: Adapter, started: list[str], service: Service | None = None) -> int:
    w = worker.Worker.__new__(worker.Worker)
    w.adapter, w.service = adapter, service or Service()
    results: list[int] = []
    done = threading.Event()
    w._warm(in_threads(started)).addCallback(lambda n: (results.append(n), done.set()))
    assert done.wait(worker.WARM_TIMEOUT + 5)
    return results[0]


def test_i8_the_look_up_runs_in_every_call_slot_at_once_for_no_phone():
    """I-8: one look-up per call slot, all at once (so each has a thread of its own), for a caller no site has."""
    adapter, started = Adapter(), []
    assert warmed(adapter, started) == worker.MAX_CALLS
    assert len(adapter.threads) == worker.MAX_CALLS and len(started) == worker.MAX_CALLS
    assert adapter.callers == [worker.WARM_CALLER] * worker.MAX_CALLS
    assert worker.WARM_CALLER.device_name == "SEP000000000000"  # a MAC no phone has (all zeros)


def test_i8_every_call_slot_holds_a_database_connection_at_the_same_time():
    """I-8: the pool ends up with a connection per call slot, however quick a look-up is (one after the other,
    on a busy machine, they would all have used the first)."""
    service = Service()
    assert warmed(Adapter(), [], service) == worker.MAX_CALLS
    assert (service.db.most, service.db.open) == (worker.MAX_CALLS, 0)


def test_i8_a_failed_warm_up_is_said_and_does_not_stop_the_worker(caplog):
    """I-8: the warm-up never fails the start: it logs what went wrong and the worker still says READY."""
    adapter = Adapter(fail=True)
    with caplog.at_level(logging.WARNING):
        assert warmed(adapter, []) == 0
    [record] = [r for r in caplog.records if r.getMessage() == "ivr_worker_warm_failed"]
    assert record.fields == {"error": "RuntimeError: the database is gone", "failed": worker.MAX_CALLS}
