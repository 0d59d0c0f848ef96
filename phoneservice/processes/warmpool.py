"""I-7: a small warm pool of IVR workers, more as calls come, idle ones parked again.

200 calls need 50 workers (4 calls each), and a quiet site needs one or two.
With ``ivr.warm`` set, the supervisor starts that many of its ``ivr.workers``
and parks the rest (``WorkerSupervisor.park``/``unpark``); ``plan`` keeps at
least ``ivr.spare_calls`` call slots free on started workers (counting those
still starting), starting parked workers as calls take slots, and parks a
worker beyond the warm ones once it has had no call for ``ivr.retire_after``
seconds and its slots are not needed for the spare.

The dispatcher learns of it without a restart: every worker is in Kamailio's
list; a parked one stops answering its OPTIONS pings and is marked inactive,
and a started one answers again. Where the product can reach Kamailio's
JSON-RPC, it also says so at once (``dispatcher.set_state``: active as a
worker comes up, inactive before one is parked), so no call waits for the
next ping (5 s) or for a drained worker's 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from twisted.application import service
from twisted.internet import task

from phoneservice.observe import log_event
from phoneservice.processes.lifecycle import PARKED, STOPPED, STOPPING, UP, WorkerStatus
from phoneservice.processes.supervisor import WorkerSupervisor

PER_WORKER = 4  # the pjsua2 wheel's calls a process (docs/pjsua2.md)


@dataclass(frozen=True)
class PoolPolicy:
    warm: int  # workers kept started on a quiet site
    spare_calls: int = PER_WORKER  # free call slots kept ready for the next callers
    retire_after: float = 60.0  # seconds without a call before a worker beyond ``warm`` is parked


def plan(workers: Sequence[WorkerStatus], idle_since: Mapping[int, float], now: float,
         policy: PoolPolicy) -> tuple[list[int], list[int]]:
    """(ports to start, ports to park): enough started workers for ``spare_calls`` free slots, and
    at most one idle worker parked at a time, never below ``warm`` or the spare."""
    running = [w for w in workers if w.state not in (PARKED, STOPPED, STOPPING)]
    free = sum(max(PER_WORKER - w.calls, 0) for w in running)
    parked = [w.port for w in workers if w.state == PARKED]
    if free < policy.spare_calls and parked:
        needed = -(-(policy.spare_calls - free) // PER_WORKER)
        return parked[:needed], []
    if len(running) <= policy.warm or free - PER_WORKER < policy.spare_calls:
        return [], []
    idle = [w for w in running if w.state == UP and w.calls == 0
            and now - idle_since.get(w.port, now) >= policy.retire_after]
    return ([], [idle[-1].port]) if idle else ([], [])


class WarmPool(service.Service):
    """Runs ``plan`` on the supervisor's changes and every ``every`` seconds (for the idle timers)."""

    def __init__(self, supervisor: WorkerSupervisor, policy: PoolPolicy, clock, every: float = 5.0,
                 dispatcher: Callable[[int, bool], None] | None = None, log=log_event) -> None:
        """``dispatcher(port, active)``: tell Kamailio at once (``phoneservice.processes.server``)."""
        self.supervisor, self.policy, self.clock, self.every = supervisor, policy, clock, every
        self.dispatcher, self._log = dispatcher, log
        self.idle_since: dict[int, float] = {}
        self._states: dict[int, str] = {}
        self._pending = None
        self._loop: task.LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        self.supervisor.watchers.append(self._soon)
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self.clock
        self._loop.start(self.every, now=False)

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._soon in self.supervisor.watchers:
            self.supervisor.watchers.remove(self._soon)
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None

    def _soon(self) -> None:
        """From the supervisor's own change: decide after it, not inside it."""
        if self._pending is None or not self._pending.active():
            self._pending = self.clock.callLater(0, self.check)

    def check(self) -> None:
        if not self.running:
            return
        now, workers = self.clock.seconds(), self.supervisor.status
        for w in workers:
            if w.state == UP and w.calls == 0:
                self.idle_since.setdefault(w.port, now)
            else:
                self.idle_since.pop(w.port, None)
            if w.state == UP and self._states.get(w.port) != UP:
                self._tell(w.port, True)  # came up (started, restarted or unparked): calls may come
            self._states[w.port] = w.state
        start, park = plan(workers, self.idle_since, now, self.policy)
        for port in start:
            if self.supervisor.unpark(port):
                self._log("ivr_pool_grew", port=port, calls=sum(w.calls for w in workers))
        for port in park:
            self._tell(port, False)  # no new call for it before it drains
            idle_for = round(now - self.idle_since.pop(port, now), 1)
            if self.supervisor.park(port):
                self._log("ivr_pool_shrank", port=port, idle_for=idle_for)

    def _tell(self, port: int, active: bool) -> None:
        if self.dispatcher is None:
            return
        try:
            self.dispatcher(port, active)
        except Exception as exc:  # noqa: BLE001 - the pings tell Kamailio anyway, a little later
            self._log("ivr_pool_dispatcher_failed", logging.WARNING, port=port, error=f"{type(exc).__name__}: {exc}")
