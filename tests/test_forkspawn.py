"""I-6, R-8: a worker forked by the zygote ends, for the supervisor, once: when the zygote has told its
exit and its output pipe has closed, in either order; the zygote's death ends its workers as SIGTERM.
(The zygote itself, which imports pjsua2, runs in tests/e2e/test_ivr_zygote.py.)"""

from __future__ import annotations

import os
import signal
import socket

import pytest
from twisted.internet import error

from phoneservice.processes.forkspawn import ForkedProcess, ZygoteSpawner
from phoneservice.processes.ivr_worker import worker_command


class Proto:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.ended: list = []

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def processEnded(self, reason) -> None:
        self.ended.append(reason.value)


class Reactor:
    def __init__(self) -> None:
        self.removed = []

    def removeReader(self, reader) -> None:
        self.removed.append(reader)


@pytest.fixture
def forked():
    spawner = ZygoteSpawner(Reactor(), {}, log=lambda *a, **k: None)
    made = []

    def make(pid=4242):
        read_end, write_end = os.pipe()
        os.close(write_end)
        proto = Proto()
        process = ForkedProcess(spawner, proto, pid, read_end)
        spawner.processes[pid] = process
        made.append(process)
        return process, proto

    yield make, spawner
    for process in made:
        if process.pipe_open:
            os.close(process.reader.fd)


@pytest.mark.parametrize("exit_first", [True, False])
def test_i6_a_forked_worker_ends_once_after_its_exit_and_its_pipe(forked, exit_first):
    make, spawner = forked
    process, proto = make()
    process._output(b"READY 5071\n")
    if exit_first:
        process.exited(None, signal.SIGKILL)
        assert proto.ended == []  # its last lines may still be in the pipe
        process.reader.connectionLost(None)  # epoll's hang-up
    else:
        process.reader.doRead()  # EOF read
        assert proto.ended == []
        process.exited(None, signal.SIGKILL)
    process.reader.connectionLost(None)  # told twice: still one end
    [reason] = proto.ended
    assert isinstance(reason, error.ProcessTerminated) and reason.signal == signal.SIGKILL
    assert proto.out == [b"READY 5071\n"] and 4242 not in spawner.processes
    with pytest.raises(error.ProcessExitedAlready):
        process.signalProcess("TERM")


def test_i6_a_clean_exit_is_process_done_and_the_zygotes_death_is_sigterm(forked):
    make, _ = forked
    done, done_proto = make(1)
    done.exited(0, None)
    done.reader.doRead()
    assert isinstance(done_proto.ended[0], error.ProcessDone)
    orphan, orphan_proto = make(2)
    orphan.orphaned()
    orphan.reader.doRead()
    assert orphan_proto.ended[0].signal == signal.SIGTERM


def test_i6_the_zygote_forks_the_ivr_worker_only():
    args = worker_command("127.0.0.1", 5071, "sqlite:///pm.db", 10)
    assert ZygoteSpawner._worker_args(args) == ["--database", "sqlite:///pm.db", "--host", "127.0.0.1",
                                                "--port", "5071", "--drain-timeout", "10"]
    with pytest.raises(OSError, match="forks phoneservice.processes.ivr_worker only"):
        ZygoteSpawner._worker_args(["python", "-m", "phoneservice.processes.web_worker", "--index", "1"])


class LaterReactor(Reactor):
    def __init__(self) -> None:
        super().__init__()
        self.later = []

    def callLater(self, delay, fn, *args):
        self.later.append(fn)


def test_i6_a_lost_zygote_is_launched_again_at_once_unless_it_never_got_ready():
    """I-6: a ready zygote lost: the next one is launched on the reactor's next turn (its imports overlap the
    workers' back-off); one that died before it was ready is left to the next worker's start, which the
    supervisor's back-off paces (no launch loop)."""
    logged = []
    spawner = ZygoteSpawner(LaterReactor(), {}, log=lambda event, **fields: logged.append((event, fields)))
    for was_ready in (True, False):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        theirs.close()
        spawner.sock, spawner._ready = ours, was_ready
        spawner._lost("killed")
        assert spawner.sock is None and not spawner._ready
    assert spawner.reactor.later == [spawner._relaunch]
    assert [event for event, _ in logged] == ["ivr_zygote_lost", "ivr_zygote_lost"]


def test_i6_a_zygotes_ready_read_by_the_reactor_blocked_nothing():
    """I-6: the ready answer read by the reactor (``_notice``) is logged with blocked_ms 0; a second one is no news."""
    logged = []
    spawner = ZygoteSpawner(LaterReactor(), {}, log=lambda event, **fields: logged.append((event, fields)))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    spawner.sock = ours
    try:
        spawner._notice(b'{"ready": 4711}')
        spawner._notice(b'{"ready": 4711}')
    finally:
        ours.close()
        theirs.close()
    assert spawner._ready
    [(event, fields)] = logged
    assert event == "ivr_zygote_started" and fields["pid"] == 4711 and fields["blocked_ms"] == 0
