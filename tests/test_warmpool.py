"""I-7: a warm pool of IVR workers: more started as calls take their slots, idle ones parked again,
never below the warm count or the spare slots; the supervisor parks and unparks without a restart."""

from __future__ import annotations

from test_supervisor import Launcher  # the fake launcher the supervisor tests use
from twisted.internet import task

from phoneservice.processes.lifecycle import PARKED, RESTARTING, STARTING, UP, WorkerStatus
from phoneservice.processes.supervisor import WorkerSupervisor
from phoneservice.processes.warmpool import PoolPolicy, WarmPool, plan

POLICY = PoolPolicy(warm=2, spare_calls=4, retire_after=60)


def w(port: int, state: str = UP, calls: int = 0) -> WorkerStatus:
    return WorkerStatus(port, 100 + port if state == UP else None, state, 0, calls)


def test_i7_a_quiet_site_keeps_its_warm_workers_and_starts_none():
    workers = [w(1), w(2), w(3, PARKED), w(4, PARKED)]
    assert plan(workers, {}, 1000, POLICY) == ([], [])


def test_i7_calls_taking_the_spare_slots_start_parked_workers_enough_for_the_spare():
    assert plan([w(1, calls=4), w(2, calls=1), w(3, PARKED), w(4, PARKED)], {}, 0, POLICY) == ([3], [])
    assert plan([w(1, calls=4), w(2, calls=4), w(3, PARKED), w(4, PARKED)], {}, 0, POLICY) == ([3], [])
    assert plan([w(1, calls=4), w(2, calls=4), w(3, PARKED), w(4, PARKED)], {}, 0,
                PoolPolicy(warm=2, spare_calls=8)) == ([3, 4], [])
    # a worker still starting counts as slots to come: no second start for the same need
    assert plan([w(1, calls=4), w(2, calls=4), w(3, STARTING), w(4, PARKED)], {}, 0, POLICY) == ([], [])
    assert plan([w(1, calls=4), w(2, calls=4)], {}, 0, POLICY) == ([], [])  # nothing left to start


def test_i7_an_idle_worker_beyond_the_warm_ones_is_parked_after_retire_after_one_at_a_time():
    workers = [w(1), w(2), w(3), w(4)]
    idle = {1: 0.0, 2: 0.0, 3: 0.0, 4: 30.0}
    assert plan(workers, idle, 59, POLICY) == ([], [])  # not idle long enough
    assert plan(workers, idle, 61, POLICY) == ([], [3])  # the last of those idle long enough
    assert plan(workers, idle, 91, POLICY) == ([], [4])
    assert plan([w(1), w(2), w(3, PARKED)], {1: 0.0, 2: 0.0}, 1000, POLICY) == ([], [])  # the warm two stay
    # parking would leave fewer free slots than the spare: kept
    assert plan([w(1, calls=4), w(2, calls=3), w(3)], {3: 0.0}, 1000, POLICY) == ([], [])
    # a worker restarting counts as its slots to come
    assert plan([w(1, calls=4), w(2, calls=4), w(3), w(4, RESTARTING)], {3: 0.0}, 1000, POLICY) == ([], [3])


def pool_rig(count=4, warm=2):
    clock, launcher = task.Clock(), Launcher()
    told = []
    supervisor = WorkerSupervisor(
        name="ivr", count=count, first_port=5071, clock=clock, spawn=launcher,
        command=lambda port: ["/usr/bin/python3", "-m", "phoneservice.processes.ivr_worker", "--port", str(port)],
        env={}, ready_timeout=10, drain_timeout=15, kill_grace=5, log=lambda *a, **k: None, started=warm)
    pool = WarmPool(supervisor, PoolPolicy(warm=warm, spare_calls=4, retire_after=60), clock,
                    dispatcher=lambda port, active: told.append((port, active)), log=lambda *a, **k: None)
    return clock, launcher, supervisor, pool, told


def states(supervisor):
    return [s.state for s in supervisor.status]


def test_i7_the_pool_grows_as_calls_come_and_parks_the_idle_worker_without_a_restart():
    clock, launcher, supervisor, pool, told = pool_rig()
    supervisor.startService()
    pool.startService()
    assert states(supervisor) == [STARTING, STARTING, PARKED, PARKED] and supervisor.health()["status"] == "down"
    for process in launcher.spawned:
        process.ready()
    clock.advance(0)
    assert states(supervisor) == [UP, UP, PARKED, PARKED] and supervisor.health()["status"] == "ok"
    assert told == [(5071, True), (5072, True)]  # Kamailio told at once

    launcher.spawned[0].say(b"CALLS 4\n")
    launcher.spawned[1].say(b"CALLS 1\n")  # 3 slots free: under the spare of 4
    clock.advance(0)
    assert states(supervisor) == [UP, UP, STARTING, PARKED] and len(launcher.spawned) == 3
    launcher.spawned[2].ready()
    clock.advance(0)
    assert told[-1] == (5073, True)

    launcher.spawned[0].say(b"CALLS 0\n")
    launcher.spawned[1].say(b"CALLS 0\n")  # the calls ended: 12 free slots on 3 workers
    clock.advance(59)
    assert states(supervisor) == [UP, UP, UP, PARKED]
    clock.advance(6)  # the next check past retire_after: the third is drained, Kamailio told first
    assert told[-1] == (5073, False) and launcher.spawned[2].signals == ["TERM"]
    launcher.spawned[2].exit(0)
    clock.advance(0)
    assert states(supervisor) == [UP, UP, PARKED, PARKED] and supervisor.status[2].restarts == 0
    clock.advance(600)
    assert len(launcher.spawned) == 3  # parked stays parked: no restart, no back-off
    pool.stopService()
    supervisor.stopService()
