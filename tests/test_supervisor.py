"""phoneservice.processes.supervisor (the IVR workers, R-8): the back-off and
crash-loop rules alone, the service with a fake process launcher and ``task.Clock``, then
real processes (tests/fake_worker.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet import defer, error, task
from twisted.python.failure import Failure

from phoneservice.processes.ivr_worker import worker_command
from phoneservice.processes.lifecycle import (
    PARKED,
    QUEUED,
    RESTARTING,
    STARTING,
    STOPPED,
    STOPPING,
    UP,
    CrashHistory,
    RestartPolicy,
    after_exit,
    restart_delay,
    summarize,
)
from phoneservice.processes.supervisor import WorkerSupervisor

FAKE_WORKER = Path(__file__).parent / "fake_worker.py"


# --- the rules ---------------------------------------------------------------------
def test_restart_delay_doubles_from_initial_and_stops_at_max():
    policy = RestartPolicy(backoff_initial=0.5, backoff_factor=2.0, backoff_max=30.0)
    assert [restart_delay(policy, n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert restart_delay(policy, 5000) == 30  # no float overflow after a long streak


def test_each_death_in_a_row_waits_longer():
    policy = RestartPolicy(backoff_initial=1, backoff_max=60, max_restarts=100)
    history, delays = CrashHistory(), []
    for now in (10, 12, 15, 20):
        history, delay, _ = after_exit(policy, history, now, up_for=1.0)
        delays.append(delay)
    assert delays == [1, 2, 4, 8] and history.streak == 4


def test_a_healthy_period_starts_the_back_off_over():
    policy = RestartPolicy(backoff_initial=1, healthy_after=60, max_restarts=100)
    history = CrashHistory(streak=5, recent=(1.0, 2.0))
    history, delay, _ = after_exit(policy, history, 100.0, up_for=60.0)
    assert (history.streak, delay) == (1, 1)
    history, delay, _ = after_exit(policy, CrashHistory(streak=5), 100.0, up_for=None)  # never ready: no reset
    assert history.streak == 6 and delay == 30  # 1 x 2**5, capped at backoff_max


def test_too_many_deaths_within_the_window_are_a_crash_loop_and_still_restarted():
    """R-8: past max_restarts within the window the worker is reported as crash-looping, never given up."""
    policy = RestartPolicy(backoff_initial=0.5, backoff_max=8, max_restarts=3, window=60)
    history, seen = CrashHistory(), []
    for now in (0, 10, 20, 30, 40, 50):
        history, delay, looping = after_exit(policy, history, now, up_for=None)
        seen.append((delay, looping))
    assert seen == [(0.5, False), (1, False), (2, False), (4, True), (8, True), (8, True)]
    assert len(history.recent) == 6


def test_deaths_older_than_the_window_are_forgotten():
    """R-8: a crash loop is deaths within the window only."""
    policy = RestartPolicy(max_restarts=2, window=60)
    history = CrashHistory(streak=2, recent=(0.0, 10.0))
    history, delay, looping = after_exit(policy, history, 65.0, up_for=None)  # 0.0 left the window
    assert not looping and history.recent == (10.0, 65.0)
    _, _, looping = after_exit(policy, history, 66.0, up_for=None)
    assert looping


def test_max_restarts_zero_still_restarts_at_the_first_death():
    """R-8: no policy makes the supervisor give up."""
    assert after_exit(RestartPolicy(max_restarts=0), CrashHistory(), 0, None)[1:] == (0.5, True)


def test_summary_says_ok_degraded_down():
    from phoneservice.processes.lifecycle import WorkerStatus

    up, down = WorkerStatus(5071, 10, UP, 0), WorkerStatus(5072, None, RESTARTING, 1)
    assert summarize((up, up))["status"] == "ok"
    assert summarize((up, down))["status"] == "degraded"
    assert summarize((down,)) == {"status": "down", "up": 0, "workers": [
        {"port": 5072, "pid": None, "state": "restarting", "restarts": 1, "calls": 0}]}
    parked = WorkerStatus(5073, None, PARKED, 0)
    assert summarize((up, parked))["status"] == "ok"  # I-7: a parked worker is not missing
    assert summarize((parked,))["status"] == "down"


def test_worker_command_runs_the_worker_module_with_its_port_and_drain_time():
    argv = worker_command("0.0.0.0", 5075, "sqlite:///pm.db", drain_timeout=10, python="/venv/bin/python")
    assert argv[0] == "/venv/bin/python" and "phoneservice.processes.ivr_worker" in argv
    assert argv[argv.index("phoneservice.processes.ivr_worker") + 1:] == ["--database", "sqlite:///pm.db", "--host", "0.0.0.0",
                                                   "--port", "5075", "--drain-timeout", "10"]


# --- the service, with a fake launcher and a Clock ----------------------------------
class FakeProcess:
    def __init__(self, proto, argv, pid):
        self.proto, self.argv, self.pid = proto, argv, pid
        self.signals: list[str] = []
        self.ended = False
        self.stdin_closed = False

    @property
    def port(self) -> int:
        return int(self.argv[self.argv.index("--port") + 1])

    def closeStdin(self):
        self.stdin_closed = True

    def signalProcess(self, name):
        if self.ended:
            raise error.ProcessExitedAlready()
        self.signals.append(name)

    def say(self, data: bytes):
        self.proto.outReceived(data)

    def ready(self):
        self.say(f"READY {self.port}\n".encode())

    def exit(self, code=0, sig=None):
        self.ended = True
        reason = error.ProcessDone(0) if code == 0 and sig is None else error.ProcessTerminated(code, sig)
        self.proto.processEnded(Failure(reason))


class Launcher:
    def __init__(self):
        self.spawned: list[FakeProcess] = []
        self.fail_next = False

    def __call__(self, proto, executable, args, env=None, childFDs=None):
        assert executable == args[0] and env["PYTHONUNBUFFERED"] == "1" and childFDs == {0: "w", 1: "r", 2: 2}
        if self.fail_next:
            self.fail_next = False
            raise OSError("Too many open files")
        process = FakeProcess(proto, list(args), pid=1000 + len(self.spawned))
        self.spawned.append(process)
        proto.makeConnection(process)
        return process

    def running(self, port=None):
        return [p for p in self.spawned if not p.ended and (port is None or p.port == port)]


@pytest.fixture
def rig():
    clock, launcher, events = task.Clock(), Launcher(), []
    policy = RestartPolicy(backoff_initial=0.5, backoff_max=8, healthy_after=30, max_restarts=3, window=100)

    def make(count=3, **kwargs):
        supervisor = WorkerSupervisor(
            name="ivr",
            count=count, first_port=5071, clock=clock, spawn=launcher,
            command=lambda port: worker_command("127.0.0.1", port, "sqlite:///x.db", python="/usr/bin/python3"),
            env={}, policy=kwargs.pop("policy", policy), ready_timeout=10, drain_timeout=15, kill_grace=5,
            log=lambda event, level=20, **fields: events.append((event, fields)), **kwargs)
        supervisor.events = events
        return supervisor

    make.clock, make.launcher = clock, launcher
    return make


def states(supervisor):
    return [w.state for w in supervisor.status]


def test_starts_n_workers_on_consecutive_ports(rig):
    supervisor = rig(count=3)
    supervisor.startService()
    assert [p.port for p in rig.launcher.spawned] == [5071, 5072, 5073]
    argv = rig.launcher.spawned[0].argv
    assert argv[argv.index("-m") + 1:] == ["phoneservice.processes.ivr_worker", "--database", "sqlite:///x.db", "--host", "127.0.0.1",
                                           "--port", "5071"]
    assert all(p.stdin_closed for p in rig.launcher.spawned)
    assert states(supervisor) == [STARTING] * 3
    assert [w.pid for w in supervisor.status] == [1000, 1001, 1002]
    assert supervisor.health()["status"] == "down"


def test_ready_line_marks_a_worker_up_even_in_pieces(rig):
    supervisor = rig(count=2)
    supervisor.startService()
    first, second = rig.launcher.spawned
    first.say(b"RE")
    assert states(supervisor) == [STARTING, STARTING]
    first.say(b"ADY 5071\n")
    assert states(supervisor) == [UP, STARTING] and supervisor.health()["status"] == "degraded"
    second.say(b"some noise\nREADY 5072\r\n")
    assert states(supervisor) == [UP, UP] and supervisor.health()["status"] == "ok"
    assert ("ivr_worker_output", {"port": 5072, "pid": 1001, "line": "some noise"}) in supervisor.events
    rig.clock.advance(60)  # the READY deadline was cancelled
    assert not any(p.signals for p in rig.launcher.spawned)


def test_a_ready_probe_marks_a_worker_up_when_it_says_yes(rig):
    """R-8: a program that prints no READY line (Kamailio) is up once ``ready_probe`` answers True;
    it is asked again after False or an error, only while that start is starting, and ``on_exit``
    gets the pid of every process that ends (Kamailio's group is killed there)."""
    answers, asked, ended = iter([False, defer.fail(OSError("refused")), True]), [], []

    def probe(port):
        asked.append(port)
        return next(answers)

    supervisor = rig(count=1, ready_probe=probe, probe_every=0.25, on_exit=ended.append)
    supervisor.startService()
    assert states(supervisor) == [STARTING] and asked == []
    rig.clock.advance(0.25)
    rig.clock.advance(0.25)
    assert states(supervisor) == [STARTING] and asked == [5071, 5071]
    rig.clock.advance(0.25)
    assert states(supervisor) == [UP] and asked == [5071] * 3
    rig.clock.advance(5)
    assert asked == [5071] * 3  # up: not asked again
    first = rig.launcher.spawned[0]
    first.exit(sig=9)
    assert ended == [first.pid] and states(supervisor) == [RESTARTING]


def test_a_ready_probe_that_never_says_yes_lets_the_ready_timeout_kill_the_worker(rig):
    """R-8: no answer within ``ready_timeout``: killed (and restarted by its exit), as without a probe."""
    supervisor = rig(count=1, ready_probe=lambda port: False)
    supervisor.startService()
    rig.clock.advance(10)
    assert rig.launcher.spawned[0].signals == ["KILL"] and states(supervisor) == [STARTING]


def test_only_a_few_workers_start_at_once(rig):
    supervisor = rig(count=5, start_concurrency=2)
    supervisor.startService()
    assert [p.port for p in rig.launcher.spawned] == [5071, 5072]
    assert states(supervisor) == [STARTING, STARTING, QUEUED, QUEUED, QUEUED]
    rig.launcher.spawned[0].ready()
    assert states(supervisor) == [UP, STARTING, STARTING, QUEUED, QUEUED]
    rig.launcher.spawned[1].exit(1)  # a death frees its start slot too
    assert states(supervisor) == [UP, RESTARTING, STARTING, STARTING, QUEUED]
    rig.clock.advance(0.5)  # its restart waits for a slot like the others
    assert states(supervisor) == [UP, QUEUED, STARTING, STARTING, QUEUED]
    for _ in range(3):  # each READY lets a queued worker start
        for process in rig.launcher.running():
            process.ready()  # ignored once the worker is up
    assert states(supervisor) == [UP] * 5 and len(rig.launcher.spawned) == 6
    assert [p.port for p in rig.launcher.spawned] == [5071, 5072, 5073, 5074, 5075, 5072]


def test_queued_workers_are_not_started_after_stop(rig):
    supervisor = rig(count=3, start_concurrency=1)
    supervisor.startService()
    done = supervisor.stopService()
    assert states(supervisor) == [STOPPING, STOPPED, STOPPED]
    rig.launcher.spawned[0].exit(0)
    assert done.called and len(rig.launcher.spawned) == 1


def test_no_ready_in_time_is_killed_then_restarted(rig):
    supervisor = rig(count=1)
    supervisor.startService()
    worker = rig.launcher.spawned[0]
    rig.clock.advance(9.9)
    assert worker.signals == []
    rig.clock.advance(0.1)
    assert worker.signals == ["KILL"]
    worker.exit(sig=9)
    assert states(supervisor) == [RESTARTING]
    rig.clock.advance(0.5)
    assert len(rig.launcher.spawned) == 2 and states(supervisor) == [STARTING]


def test_a_dead_worker_is_restarted_with_growing_back_off(rig):
    registry = CollectorRegistry()
    supervisor = rig(count=2)
    supervisor.register_metrics(registry)
    supervisor.startService()
    for p in rig.launcher.spawned:
        p.ready()
    assert registry.get_sample_value("pm_ivr_workers_up") == 2
    rig.launcher.spawned[0].exit(sig=9)
    assert states(supervisor) == [RESTARTING, UP] and registry.get_sample_value("pm_ivr_workers_up") == 1
    spawn_times = []
    for expected_delay in (0.5, 1.0):
        before = len(rig.launcher.spawned)
        rig.clock.advance(expected_delay - 0.01)
        assert len(rig.launcher.spawned) == before
        rig.clock.advance(0.01)
        assert len(rig.launcher.spawned) == before + 1
        spawn_times.append(rig.clock.seconds())
        rig.launcher.running(5071)[0].exit(1)  # dies again before READY
    assert [w.restarts for w in supervisor.status] == [2, 0]
    assert registry.get_sample_value("pm_ivr_worker_restarts_total") == 2
    rig.clock.advance(2.0)  # third back-off: 2 s
    restarted = rig.launcher.running(5071)[0]
    restarted.ready()
    assert states(supervisor) == [UP, UP] and supervisor.status[0].pid == restarted.pid
    exited = [f for e, f in supervisor.events if e == "ivr_worker_exited"]
    assert [f["restart_in"] for f in exited] == [0.5, 1.0, 2.0] and exited[0]["signal"] == 9


def test_a_worker_up_long_enough_starts_the_back_off_over(rig):
    supervisor = rig(count=1, policy=RestartPolicy(backoff_initial=0.5, healthy_after=30, max_restarts=50))
    supervisor.startService()
    for _ in range(3):  # streak of 3 deaths without a healthy period
        rig.launcher.running()[0].exit(1)
        rig.clock.advance(10)
    worker = rig.launcher.running()[0]
    worker.ready()
    rig.clock.advance(30)
    worker.exit(1)
    assert [f["restart_in"] for e, f in supervisor.events if e == "ivr_worker_exited"] == [0.5, 1.0, 2.0, 0.5]


def test_never_gives_up_a_crash_looping_worker_and_says_so(rig):
    """R-8: a worker that keeps dying is restarted at most backoff_max later, for as long as the server runs;
    the crash loop is logged and the other workers carry on."""
    supervisor = rig(count=2)  # max_restarts=3 in 100 s, back-off 0.5 .. 8 s
    supervisor.startService()
    rig.launcher.spawned[1].ready()
    for _ in range(6):
        rig.launcher.running(5071)[0].exit(2)
        rig.clock.advance(10)
    assert states(supervisor) == [STARTING, UP] and len(rig.launcher.spawned) == 8
    assert not any(e.endswith("gave_up") for e, _ in supervisor.events)
    loops = [f for e, f in supervisor.events if e == "ivr_worker_crash_loop"]
    assert [f["deaths"] for f in loops] == [4, 5, 6] and loops[0] == {"port": 5071, "deaths": 4, "window": 100,
                                                                      "restart_in": 4}
    for _ in range(20):  # an hour of deaths: every one followed by a start within backoff_max
        before = len(rig.launcher.spawned)
        rig.launcher.running(5071)[0].exit(sig=6)
        rig.clock.advance(8)
        assert len(rig.launcher.spawned) == before + 1
        rig.clock.advance(170)
    rig.launcher.running(5071)[0].ready()
    assert supervisor.health()["status"] == "ok"


def test_a_failed_spawn_counts_as_a_death(rig):
    supervisor = rig(count=1)
    rig.launcher.fail_next = True
    supervisor.startService()
    assert states(supervisor) == [RESTARTING] and rig.launcher.spawned == []
    rig.clock.advance(0.5)
    assert states(supervisor) == [STARTING] and len(rig.launcher.spawned) == 1


def test_stop_drains_sigterm_then_sigkill_after_the_timeout(rig):
    supervisor = rig(count=3)
    supervisor.startService()
    for p in rig.launcher.spawned:
        p.ready()
    done = supervisor.stopService()
    assert [p.signals for p in rig.launcher.spawned] == [["TERM"]] * 3
    assert states(supervisor) == [STOPPING] * 3 and supervisor.health()["status"] == "down"
    first, second, third = rig.launcher.spawned
    first.exit(0)
    rig.clock.advance(10)
    second.exit(0)  # finished its calls in time
    assert not done.called and states(supervisor) == [STOPPED, STOPPED, STOPPING]
    rig.clock.advance(5)  # drain_timeout (15 s) reached
    assert third.signals == ["TERM", "KILL"] and first.signals == second.signals == ["TERM"]
    assert not done.called
    third.exit(sig=9)
    assert done.called and states(supervisor) == [STOPPED] * 3
    assert len(rig.launcher.spawned) == 3  # a stopped worker is not restarted
    assert any(e == "ivr_worker_killed" and f["port"] == 5073 for e, f in supervisor.events)
    assert rig.clock.getDelayedCalls() == []


def test_stop_with_every_worker_gone_at_once_returns_at_once(rig):
    supervisor = rig(count=2)
    supervisor.startService()
    done = supervisor.stopService()
    for p in rig.launcher.spawned:
        p.exit(0)
    assert done.called and rig.clock.getDelayedCalls() == []


def test_stop_cancels_a_pending_restart(rig):
    supervisor = rig(count=2)
    supervisor.startService()
    rig.launcher.spawned[0].exit(1)  # in back-off
    done = supervisor.stopService()
    assert states(supervisor) == [STOPPED, STOPPING]
    rig.launcher.spawned[1].exit(0)
    assert done.called
    rig.clock.advance(60)
    assert len(rig.launcher.spawned) == 2


def test_a_worker_that_survives_sigkill_does_not_hold_the_shutdown(rig):
    supervisor = rig(count=1)
    supervisor.startService()
    done = supervisor.stopService()
    rig.clock.advance(15)
    assert rig.launcher.spawned[0].signals == ["TERM", "KILL"] and not done.called
    rig.clock.advance(5)  # kill_grace
    assert done.called
    assert ("ivr_drained", {"left": [5071]}) in supervisor.events


def test_nothing_to_drain_when_no_worker_runs(rig):
    supervisor = rig(count=1)
    supervisor.startService()
    rig.launcher.spawned[0].exit(1)
    assert states(supervisor) == [RESTARTING]
    assert supervisor.stopService().called
    rig.clock.advance(60)
    assert len(rig.launcher.spawned) == 1


def test_restart_after_stop_begins_afresh(rig):
    supervisor = rig(count=1)
    supervisor.startService()
    rig.launcher.spawned[0].exit(1)
    supervisor.stopService()
    supervisor.startService()
    assert states(supervisor) == [STARTING] and supervisor.status[0].restarts == 0


# --- the composition root ------------------------------------------------------------
def empty_site(tmp_path) -> str:
    from models.storage.database import Database

    url = f"sqlite:///{tmp_path / 'pm.db'}"
    db = Database(url)
    db.create_all()
    db.dispose()
    return url


def memory_reactor():
    from twisted.internet.testing import MemoryReactorClock

    class Reactor(MemoryReactorClock):
        def spawnProcess(self, *args, **kwargs):
            raise AssertionError("not started in these tests")

    return Reactor()


def test_build_adds_the_supervisor_with_the_configured_ports(tmp_path):
    from phoneservice.config import load_config
    from phoneservice.processes.server import build

    url = empty_site(tmp_path)
    root, services = build(load_config(database={"url": url}, ivr={"workers": 2, "port": 5081}), memory_reactor())
    assert services.ivr.parent is root
    assert [w.port for w in services.ivr.status] == [5081, 5082]
    assert services.metrics.registry.get_sample_value("pm_ivr_workers_up") == 0
    root, services = build(load_config(database={"url": url}, ivr={"workers": 0}), memory_reactor())
    assert services.ivr is None
    services.db.dispose()


def test_health_page_tells_the_ivr_state_and_answers_503_with_no_worker_up(tmp_path):
    """R-8: /healthz is 503 "degraded" while the IVR has no worker up, 200 once one is;
    R-7: it says the workers are unprotected when no Kamailio is configured in front of them."""
    from phoneservice.config import load_config
    from phoneservice.processes.lifecycle import WorkerStatus
    from phoneservice.processes.server import build
    from phoneservice.web.app import create_app

    url = empty_site(tmp_path)
    _, services = build(load_config(database={"url": url}, ivr={"workers": 2, "port": 5091}), memory_reactor())
    app = create_app(services, "web")
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.get_json()["status"] == "degraded"
    assert answer.get_json()["ivr"] == {"status": "down", "up": 0, "sip_front": "unprotected", "workers": [
        {"port": 5091, "pid": None, "state": "stopped", "restarts": 0, "calls": 0},
        {"port": 5092, "pid": None, "state": "stopped", "restarts": 0, "calls": 0}]}
    services.ivr.status = (WorkerStatus(5091, 42, UP, 0), WorkerStatus(5092, None, RESTARTING, 1))
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.get_json()["status"] == "ok"
    assert answer.get_json()["ivr"]["status"] == "degraded"  # one worker still takes calls
    services.ivr = None
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.get_json()["ivr"]["status"] == "disabled"
    services.db.dispose()
    _, services = build(load_config(database={"url": url}, ivr={"workers": 1, "port": 5091},
                                    callcontrol={"kamailio_rpc_url": "http://127.0.0.1:5081/RPC"}), memory_reactor())
    assert create_app(services, "web").test_client().get("/healthz").get_json()["ivr"]["sip_front"] == "kamailio"
    services.db.dispose()


# --- real processes: reactor.spawnProcess with tests/fake_worker.py ------------------------
HARNESS = textwrap.dedent("""
    import json, sys
    from twisted.internet import reactor
    from phoneservice.processes.ivr_worker import worker_command
    from phoneservice.processes.lifecycle import RestartPolicy
    from phoneservice.processes.supervisor import WorkerSupervisor

    fake, first_port, extra, hold = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
    events = []

    def command(port):
        argv = worker_command("127.0.0.1", port, "sqlite:///unused.db", module="fake_worker")
        return argv + extra.get(str(port), [])

    def log(event, level=20, **fields):
        events.append(dict(fields, event=event, t=round(reactor.seconds() - began, 3)))
        print(json.dumps(events[-1]), flush=True)

    supervisor = WorkerSupervisor(name="ivr", count=2, first_port=first_port, clock=reactor, spawn=reactor.spawnProcess,
                               command=command, policy=RestartPolicy(backoff_initial=0.2, max_restarts=2, window=60),
                               ready_timeout=5, drain_timeout=1.5, kill_grace=2, log=log)
    began = reactor.seconds()
    supervisor.startService()

    def stop():
        d = supervisor.stopService()
        d.addCallback(lambda _: reactor.stop())

    reactor.callLater(hold, stop)
    reactor.callLater(hold + 20, reactor.stop)  # bounded whatever happens
    reactor.run()
    print(json.dumps({"event": "harness_done", "status": [list(map(str, s.__dict__.values())) for s in supervisor.status]}))
""")


def free_udp_ports(n: int) -> int:
    """The first of n consecutive free UDP ports on 127.0.0.1."""
    import socket

    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + n > 65535:
            continue
        socks = []
        try:
            for port in range(first, first + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no consecutive free UDP ports")


def run_harness(extra: dict, hold: float, timeout: float = 40) -> list[dict]:
    port = free_udp_ports(2)
    extra = {str(port + int(k)): v for k, v in extra.items()}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FAKE_WORKER.parent), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", HARNESS, str(FAKE_WORKER), str(port), json.dumps(extra), str(hold)],
                         capture_output=True, text=True, timeout=timeout, env=env, cwd=FAKE_WORKER.parent)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for e in events:
        e["port"] = e.get("port", port) - port if "port" in e else None
    return events


@pytest.mark.slow
def test_real_workers_ready_restarted_never_given_up_and_drained():
    """R-8: a real worker that keeps dying is restarted every time, with growing waits, and is reported
    as crash-looping; the other worker is untouched and both drain on stop."""
    events = run_harness({"0": ["--exit-after", "0.3"]}, hold=3.5)
    names = [(e["event"], e["port"]) for e in events]
    assert names.count(("ivr_worker_up", 1)) == 1
    exited = [e for e in events if e["event"] == "ivr_worker_exited"]
    assert len(exited) >= 3 and all(e["exit_code"] == 3 for e in exited)
    assert [e["restart_in"] for e in exited] == [0.2, 0.4, 0.8, 1.6, 3.2][:len(exited)]
    assert not any(name.endswith("gave_up") for name, _ in names)
    loops = [e for e in events if e["event"] == "ivr_worker_crash_loop"]  # max_restarts=2: from the 3rd death
    assert [e["deaths"] for e in loops] == list(range(3, len(exited) + 1))
    ups = names.count(("ivr_worker_up", 0))
    assert ups in (len(exited), len(exited) + 1)  # every restart that had time to start came up
    stopped = [e for e in events if e["event"] == "ivr_worker_ended"]
    assert (1, 0) in [(e["port"], e["exit_code"]) for e in stopped]  # drained by SIGTERM, exit 0
    status = events[-1]["status"]
    assert events[-1]["event"] == "harness_done" and [s[2] for s in status] == ["stopped", "stopped"]
    assert int(status[0][3]) in (ups - 1, ups)  # restarts: each that came up, and one stopped while starting


@pytest.mark.slow
def test_real_worker_ignoring_sigterm_is_killed_after_the_drain_timeout():
    events = run_harness({"1": ["--ignore-term"]}, hold=1.0)
    stopped = {e["port"]: e for e in events if e["event"] == "ivr_worker_ended"}
    assert stopped[0]["exit_code"] == 0 and stopped[1]["signal"] == signal.SIGKILL
    killed = [e for e in events if e["event"] == "ivr_worker_killed"]
    assert [e["port"] for e in killed] == [1] and 2.4 <= killed[0]["t"] <= 4.0  # hold 1 s + drain 1.5 s


@pytest.mark.slow
def test_workers_do_not_outlive_a_killed_server(tmp_path):
    """SIGKILL to the supervising process: its workers get SIGTERM (PR_SET_PDEATHSIG) and free their ports."""
    port = free_udp_ports(2)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FAKE_WORKER.parent), os.environ.get("PYTHONPATH", "")]))
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(FAKE_WORKER), str(port), "{}", "30"],
                               stdout=subprocess.PIPE, text=True, env=env, cwd=FAKE_WORKER.parent)
    pids = []
    try:
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            line = harness.stdout.readline()
            if '"ivr_worker_up"' in line:
                pids.append(json.loads(line)["pid"])
        assert len(pids) == 2
        cmdline = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:3] == [b"-m", b"fake_worker"]  # the launcher exec'd into the worker, same pid
        assert os.getsid(pids[0]) == pids[0]  # its own session: a terminal's Ctrl-C goes to the server only
    finally:
        harness.kill()
        harness.wait(timeout=10)
        harness.stdout.close()
    def alive(pid: int) -> bool:  # a zombie has freed its port already
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_on_change_is_told_of_every_state_change_at_once(rig):
    """R-8: the web workers answer /healthz from a copy of this state: it is rewritten as soon as a worker
    comes up or dies (``watchers``), not at the next periodic write, so no process says degraded
    for a second after another said up."""
    supervisor = rig(count=1)
    seen = []
    supervisor.watchers.append(lambda: seen.append(states(supervisor)))
    supervisor.startService()
    rig.launcher.spawned[0].ready()
    rig.launcher.spawned[0].exit(sig=9)
    changes = [state for i, state in enumerate(seen) if i == 0 or seen[i - 1] != state]  # a state may be told twice
    assert changes == [[STARTING], [UP], [RESTARTING]]
