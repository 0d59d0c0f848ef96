"""Starts, watches, restarts and drains worker processes (DESIGN: "The process").

One supervisor class for every kind of child the server runs (the IVR
workers, the web workers, Kamailio with ``serve --kamailio``):

- the IVR workers: the pjsua2 wheel answers at most 4 calls per process and
  allows one Endpoint per process (docs/pjsua2.md), so the IVR runs as N workers,
  ``python -m phoneservice.processes.ivr_worker --database URL --host H --port P``,
  worker i on ``first_port + i`` (``phoneservice.processes.ivr_worker.worker_command``);
- the web workers (``web.processes``, ``phoneservice.processes.webprocs``):
  their "port" is their number, from 1, and they inherit the web port's socket.

What it asks of a worker: print ``READY <port>`` on stdout once it serves, or,
for a program that cannot (Kamailio), answer ``ready_probe(port)`` with True
(and, for the IVR workers, ``CALLS <n>`` whenever its number of calls changes:
``pm_ivr_calls_active`` is their sum), and on SIGTERM stop taking new work, finish what it has and exit 0. What a
worker is and how it starts is the caller's: ``command(port)`` gives its argv,
``name`` prefixes the log events and metrics (``ivr_worker_up``,
``pm_web_workers_up``).

A worker that dies is always started again while the server runs (R-8):
the wait grows with deaths in a row and stops at ``backoff_max``; it never gives
up, because a death an input causes (a pjsip assertion) says nothing about the
next start, and an IVR left down needs a person to notice. Many deaths within
``window`` are logged as ``<name>_worker_crash_loop`` for that person.

The decisions are pure functions of a ``RestartPolicy`` (``restart_delay``,
``after_exit``, ``summarize``, in ``phoneservice.processes.lifecycle`` with
the workers' states and the launch command); ``WorkerSupervisor`` runs them on the reactor and publishes an
immutable snapshot of its workers for /healthz and /metrics, which read it
from other threads.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Mapping

from prometheus_client import Counter, Gauge
from twisted.application import service
from twisted.internet import defer, error, protocol

from phoneservice.observe import log_event
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
    WorkerStatus,
    after_exit,
    summarize,
)


# --- the service ------------------------------------------------------------------
class _WorkerProtocol(protocol.ProcessProtocol):
    """Splits the worker's stdout into lines; its stderr (the logs) goes straight to ours."""

    MAX_LINE = 4096

    def __init__(self, on_line: Callable[[str], None], on_exit: Callable[[int | None, int | None], None]) -> None:
        self._on_line, self._on_exit = on_line, on_exit
        self._buffer = b""

    def connectionMade(self) -> None:
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        if len(self._buffer) > self.MAX_LINE:
            lines.append(self._buffer[: self.MAX_LINE])
            self._buffer = b""
        for line in lines:
            self._on_line(line.decode("utf-8", "replace").strip())

    def processEnded(self, reason) -> None:
        self._on_exit(getattr(reason.value, "exitCode", None), getattr(reason.value, "signal", None))


class _Worker:
    """One worker slot (a port); reactor thread only."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.state = STOPPED
        self.pid: int | None = None
        self.restarts = 0
        self.history = CrashHistory()
        self.ready_at: float | None = None
        self.protocol: _WorkerProtocol | None = None
        self.process = None  # IProcessTransport while it runs
        self.timer = None  # IDelayedCall: the READY deadline or the restart back-off
        self.calls = 0  # its last CALLS line
        self.parking = False  # I-7: asked to stop; parked, not restarted, when it exits

    def cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


class WorkerSupervisor(service.Service):
    """N workers numbered from ``first_port``: started with the server, restarted when they die, drained on stop."""

    def __init__(self, *, name: str, count: int, first_port: int, clock, spawn,
                 command: Callable[[int], list[str]], env: Mapping[str, str] | None = None,
                 policy: RestartPolicy = RestartPolicy(), ready_timeout: float = 30.0, start_concurrency: int = 4,
                 drain_timeout: float = 15.0, kill_grace: float = 5.0, log=log_event, label: str | None = None,
                 child_fds: Mapping[int, int] | None = None,
                 on_exit: Callable[[int], None] | None = None,
                 ready_probe: Callable[[int], defer.Deferred] | None = None, probe_every: float = 0.25,
                 started: int | None = None) -> None:
        """``spawn`` is ``reactor.spawnProcess``; ``command(port)`` the worker's argv.

        ``name`` ("ivr", "web") prefixes the log events and the metrics; ``label``
        names the workers in the metrics' help ("IVR"; default: ``name``).
        At most ``start_concurrency`` workers start at once (a start costs about a
        second of CPU): fifty workers on two cores would otherwise all miss
        their ``ready_timeout`` together and be killed and restarted together.
        ``ready_probe(port)``, when given, is asked every ``probe_every`` seconds
        while a worker starts; its Deferred's True counts as the READY line.
        ``on_exit(pid)`` runs after each worker's exit (Kamailio's children
        outlive a SIGKILLed main process: it kills their process group).
        ``started``: how many of the ``count`` workers start with the service
        (I-7); the others are parked until ``unpark``, and ``park`` drains one
        back (``phoneservice.processes.warmpool`` decides which and when).
        """
        self.name = name  # also the Twisted service's name
        self.label = label or name
        self._child_fds = dict(child_fds or {})  # descriptors passed on (the web port's listening socket)
        self._on_exit = on_exit  # called with a dead worker's pid
        self._ready_probe, self._probe_every = ready_probe, probe_every
        self._started = count if started is None else max(0, min(started, count))
        self._workers = [_Worker(first_port + i) for i in range(count)]
        self._clock, self._spawn, self._command = clock, spawn, command
        self._env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        self.policy, self.ready_timeout, self.start_concurrency = policy, ready_timeout, max(1, start_concurrency)
        self._queue: deque[_Worker] = deque()
        self.drain_timeout, self.kill_grace = drain_timeout, kill_grace
        self._log = log
        self._stopping = False
        self._drained: defer.Deferred | None = None
        self._deadline = None
        self._restart_counter = None
        self._up_gauge = None
        self.status: tuple[WorkerStatus, ...] = ()
        self.watchers: list[Callable[[], None]] = []  # told after every change of a worker's state or calls
        self._publish()

    # --- what others read (any thread) ---
    def health(self) -> dict:
        return summarize(self.status)

    def up(self) -> int:
        return sum(w.state == UP for w in self.status)

    def calls(self) -> int:
        """Calls in progress over the workers, as they last reported them (``CALLS <n>``)."""
        return sum(w.calls for w in self._workers)

    def pids(self) -> dict[str, int]:
        """``{"<name> worker <port>": pid}`` of the workers running now."""
        return {f"{self.name} worker {w.port}": w.pid for w in self.status if w.pid is not None}

    def register_metrics(self, registry) -> None:
        """``pm_<name>_workers_up`` and ``pm_<name>_worker_restarts_total`` on the server's registry.
        The gauge is set whenever a worker changes state (shared metrics hold numbers, not functions)."""
        self._up_gauge = Gauge(f"pm_{self.name}_workers_up", f"{self.label} worker processes ready", registry=registry,
                               multiprocess_mode="livesum")
        self._up_gauge.set(self.up())
        self._restart_counter = Counter(f"pm_{self.name}_worker_restarts", f"{self.label} worker restarts after a death",
                                        registry=registry)

    # --- service ---
    def startService(self) -> None:
        super().startService()
        self._stopping = False
        for i, worker in enumerate(self._workers):
            worker.history, worker.restarts, worker.parking = CrashHistory(), 0, False
            if i < self._started:
                self._start(worker)
            else:
                worker.state = PARKED
        self._publish()

    # --- I-7: workers started as calls come, stopped when the site is quiet ---
    def unpark(self, port: int) -> bool:
        """Start the parked worker on ``port``; False when it is not parked."""
        worker = self._slot(port)
        if worker is None or worker.state != PARKED or self._stopping:
            return False
        worker.history, worker.parking = CrashHistory(), False
        self._log(f"{self.name}_worker_unparked", port=port)
        self._start(worker)
        self._publish()
        return True

    def park(self, port: int) -> bool:
        """Drain the worker on ``port`` (SIGTERM: it ends its calls' way) and park it when it exits."""
        worker = self._slot(port)
        if worker is None or worker.state != UP or self._stopping:
            return False
        worker.parking = True
        self._log(f"{self.name}_worker_parking", port=port, pid=worker.pid)
        self._signal(worker, "TERM")
        return True

    def _slot(self, port: int) -> _Worker | None:
        return next((w for w in self._workers if w.port == port), None)

    def stopService(self) -> defer.Deferred:
        super().stopService()
        self._stopping = True
        self._queue.clear()
        alive = []
        for worker in self._workers:
            worker.cancel_timer()
            if worker.process is None:
                worker.state = STOPPED
                continue
            worker.state = STOPPING
            alive.append(worker)
            self._signal(worker, "TERM")
        self._publish()
        if not alive:
            return defer.succeed(None)
        self._log(f"{self.name}_draining", workers=len(alive), timeout=self.drain_timeout)
        self._drained = defer.Deferred()
        self._deadline = self._clock.callLater(self.drain_timeout, self._kill_leftovers)
        return self._drained

    # --- one worker's life ---
    def _start(self, worker: _Worker) -> None:
        if sum(w.state == STARTING for w in self._workers) >= self.start_concurrency:
            worker.state = QUEUED
            self._queue.append(worker)
            self._publish()
            return
        proto = _WorkerProtocol(lambda line: self._line(worker, proto, line),
                                lambda code, sig: self._exited(worker, proto, code, sig))
        argv = self._command(worker.port)
        worker.protocol, worker.ready_at, worker.state = proto, None, STARTING
        try:
            worker.process = self._spawn(proto, argv[0], argv, env=self._env, childFDs={0: "w", 1: "r", 2: 2, **self._child_fds})
        except OSError as exc:  # out of file descriptors or processes: a death like any other
            self._log(f"{self.name}_worker_spawn_failed", logging.ERROR, port=worker.port, error=str(exc))
            self._exited(worker, proto, None, None)
            return
        worker.pid = worker.process.pid
        worker.timer = self._clock.callLater(self.ready_timeout, self._not_ready, worker)
        self._log(f"{self.name}_worker_spawned", port=worker.port, pid=worker.pid, restarts=worker.restarts)
        self._publish()
        if self._ready_probe is not None:
            self._clock.callLater(self._probe_every, self._probe, worker, proto)

    def _probe(self, worker: _Worker, proto: _WorkerProtocol) -> None:
        """Ask ``ready_probe`` until it says yes, while this start of the worker is still starting."""
        if proto is not worker.protocol or worker.state != STARTING:
            return

        def answered(ready) -> None:
            if ready is True:
                self._ready(worker, proto)
            elif proto is worker.protocol and worker.state == STARTING:
                self._clock.callLater(self._probe_every, self._probe, worker, proto)

        defer.maybeDeferred(self._ready_probe, worker.port).addErrback(lambda _: False).addCallback(answered)

    def _line(self, worker: _Worker, proto: _WorkerProtocol, line: str) -> None:
        if proto is not worker.protocol or not line:
            return
        if line.startswith("CALLS ") and line[6:].isdigit():
            worker.calls = int(line[6:])
            self._publish()
            return
        if not line.startswith("READY"):
            # pjlib prints a few lines to stdout before its log is set up; the worker logs on stderr.
            self._log(f"{self.name}_worker_output", logging.DEBUG, port=worker.port, pid=worker.pid, line=line[:200])
            return
        if worker.state != STARTING:
            return
        if line != f"READY {worker.port}":
            self._log(f"{self.name}_worker_unexpected_ready", logging.WARNING, port=worker.port, line=line[:200])
        self._ready(worker, proto)

    def _ready(self, worker: _Worker, proto: _WorkerProtocol) -> None:
        if proto is not worker.protocol or worker.state != STARTING:
            return
        worker.cancel_timer()
        worker.state, worker.ready_at = UP, self._clock.seconds()
        self._log(f"{self.name}_worker_up", port=worker.port, pid=worker.pid, restarts=worker.restarts)
        self._publish()
        self._start_queued()

    def _not_ready(self, worker: _Worker) -> None:
        worker.timer = None
        self._log(f"{self.name}_worker_not_ready", logging.WARNING, port=worker.port, pid=worker.pid,
                  seconds=self.ready_timeout)
        self._signal(worker, "KILL")  # its exit restarts it

    def _exited(self, worker: _Worker, proto: _WorkerProtocol, code: int | None, sig: int | None) -> None:
        if proto is not worker.protocol:
            return
        pid, now = worker.pid, self._clock.seconds()
        worker.protocol = worker.process = worker.pid = None
        worker.calls = 0  # a dead worker's calls ended with it
        if self._on_exit is not None and pid is not None:
            self._on_exit(pid)
        worker.cancel_timer()
        if self._stopping:
            worker.state = STOPPED
            self._log(f"{self.name}_worker_ended", port=worker.port, pid=pid, exit_code=code, signal=sig)
            self._publish()
            if not any(w.process is not None for w in self._workers):
                self._finish_drain()
            return
        if worker.parking:  # I-7: drained on purpose
            worker.parking, worker.state = False, PARKED
            self._log(f"{self.name}_worker_parked", port=worker.port, pid=pid, exit_code=code, signal=sig)
            self._publish()
            self._start_queued()
            return
        up_for = now - worker.ready_at if worker.ready_at is not None else None
        worker.history, delay, looping = after_exit(self.policy, worker.history, now, up_for)
        worker.state = RESTARTING
        worker.timer = self._clock.callLater(delay, self._restart, worker)
        self._log(f"{self.name}_worker_exited", logging.WARNING, port=worker.port, pid=pid, exit_code=code, signal=sig,
                  up_for=None if up_for is None else round(up_for, 3), restart_in=delay)
        if looping:
            self._log(f"{self.name}_worker_crash_loop", logging.ERROR, port=worker.port,
                      deaths=len(worker.history.recent), window=self.policy.window, restart_in=delay)
        self._publish()
        self._start_queued()

    def _start_queued(self) -> None:
        while self._queue and sum(w.state == STARTING for w in self._workers) < self.start_concurrency:
            worker = self._queue.popleft()
            if worker.state == QUEUED and not self._stopping:
                self._start(worker)

    def _restart(self, worker: _Worker) -> None:
        worker.timer = None
        worker.restarts += 1
        if self._restart_counter is not None:
            self._restart_counter.inc()
        self._start(worker)

    # --- draining ---
    def _kill_leftovers(self) -> None:
        self._deadline = None
        for worker in self._workers:
            if worker.process is not None:
                self._log(f"{self.name}_worker_killed", logging.WARNING, port=worker.port, pid=worker.pid,
                          after=self.drain_timeout)
                self._signal(worker, "KILL")
        # A process stuck in the kernel ignores even SIGKILL: don't hold the shutdown for it.
        self._deadline = self._clock.callLater(self.kill_grace, self._finish_drain)

    def _finish_drain(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None
        drained, self._drained = self._drained, None
        if drained is not None:
            left = [w.port for w in self._workers if w.process is not None]
            self._log(f"{self.name}_drained", logging.WARNING if left else logging.INFO, left=left)
            drained.callback(None)

    def _signal(self, worker: _Worker, name: str) -> None:
        try:
            worker.process.signalProcess(name)
        except (error.ProcessExitedAlready, AttributeError):
            pass

    def _publish(self) -> None:
        self.status = tuple(WorkerStatus(w.port, w.pid, w.state, w.restarts, w.calls) for w in self._workers)
        if self._up_gauge is not None:
            self._up_gauge.set(self.up())
        for watcher in self.watchers:  # the web workers' copy of /healthz's state, the warm pool
            watcher()
