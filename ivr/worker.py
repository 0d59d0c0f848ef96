"""One IVR worker process: one pjsua2 Endpoint, its own reactor, the adapter.

``python -m phoneservice.processes.ivr_worker --database URL --host 127.0.0.1 --port 5071 [--transport udp,tcp]``
runs ``main`` here with the server's logging (JSON lines, secret-named fields
dropped): the worker logs through the standard ``logging`` module
(``ivr.log``) and leaves how a line is written to whoever starts it.

Why a process per worker: the pjsua2 wheel answers at most 4 calls and allows
one Endpoint per process (docs/pjsua2.md, docs/architecture.md); the server's
supervisor (``phoneservice.processes.supervisor``) starts several and
Kamailio spreads calls over them. The worker prints
``READY <port>`` on stdout once it listens and has run its caller look-up in
every call slot's thread (I-8, ``Worker._warm``), logs JSON lines on stderr, and on
SIGTERM drains: new INVITEs get 503, calls in progress may finish (bounded),
then the library is shut down in the order docs/pjsua2.md found safe and the
process exits 0. A fatal error exits non-zero.

Threads: the reactor thread is pjsua's main thread (``threadCnt=0``,
``mainThreadOnly``) and pumps ``libHandleEvents``: every 10 ms while a call
or a restart is under way, every ``--idle-poll`` (100 ms) otherwise, and at
once when a datagram reaches the SIP UDP socket of an idle worker (I-5,
``ivr.poll``); database work
runs in the reactor's thread pool, whose threads are registered with pjsua2
anyway (a stray finalizer there would otherwise abort the process). Python's
cyclic garbage collector runs only on the reactor thread, from a LoopingCall,
so a pjsua2 object caught in a cycle is never destroyed on a pjmedia thread.

I-5, what an idle worker costs: a 10 ms pump is mostly Twisted waking up
(1.1-1.5 % of a core for a bare no-op loop), and a full collection walked the
~90k objects of the start (the imports, SQLAlchemy's metadata, pjsua2's
wrappers) in 45-53 ms every 5 s. So the pump slows down when nothing is under
way (a new INVITE waits at most one idle poll in the socket), and once started
the worker ``gc.freeze()``s: those objects live as long as the process, and a
frozen object is never walked again, so a collection costs what the calls
since the last one created. ``shutdown`` unfreezes first, so a cycle holding
a pjsua2 object from the start is still collected before ``libDestroy``.
Measured in docs/benchmarks.md (session 8, ``bench/ivr_idle.py``).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from ivr.adapter import IvrAdapter
from ivr.invite import CallerId
from ivr.log import error_text, log_event
from ivr.native import NativeError, Pjsip
from ivr.pjsua import pjsua2_classes
from ivr.poll import IDLE_POLL, POLL, SipWake, next_poll, udp_socket_fd
from ivr.restart import Restarts, UdpRestarts
from models.services.migration import Migrator
from models.services.selfservice import SelfService
from models.storage.database import Database

MAX_CALLS = 4  # the wheel's PJSUA_MAX_CALLS (docs/pjsua2.md)
MAX_PLAYERS = 32  # pjsua's player limit; retired players stay alive RELEASE_AFTER seconds
GC_EVERY = 5.0  # seconds between cyclic garbage collections (reactor thread only)
HANGUP_GRACE = 3.0  # seconds for BYEs to complete after the drain deadline
# I-1: what the worker serves (pjsip's invite session: INVITE, ACK, BYE, CANCEL, UPDATE; OPTIONS; INFO for DTMF)
SERVED_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")
UNSUPPORTED = ("100rel", "norefersub")  # I-1: they need PRACK and REFER, which are not served
TRANSACTION_TIMEOUT_MS = 3000  # I-3: a 2xx never ACKed frees its call slot after this, plus as long for the BYE
WARM_TIMEOUT = 10.0  # I-8: seconds the start's look-ups wait for each other
WARM_CALLER = CallerId(number="0", device_name="SEP000000000000")  # I-8: no such new phone; compiles both queries
RTP_BASE, RTP_SLOTS, RTP_PORTS = 10000, 200, 100  # worker RTP ranges in 10000-29999 (below the ephemeral ports), by SIP port


def parse_args(argv: Sequence[str] | None, prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="One self-provisioning IVR worker.")
    parser.add_argument("--database", required=True, help="database URL (as for phone-migration --database)")
    parser.add_argument("--host", default="127.0.0.1", help="address SIP listens on (loopback behind Kamailio, R-7)")
    parser.add_argument("--media-host", default=None,
                        help="address for RTP, and in the SDP: where callers send audio (default: --host)")
    parser.add_argument("--media-public", default=None,
                        help="the SDP's address instead of --media-host, when RTP is bound to an address callers "
                             "cannot reach (a container behind port mapping)")
    parser.add_argument("--port", type=int, default=5060, help="SIP port (UDP and TCP)")
    parser.add_argument("--transport", default="udp,tcp", help="comma-separated: udp, tcp (default: both)")
    parser.add_argument("--rtp-port", type=int, default=None,
                        help=f"first RTP port; the worker uses {RTP_PORTS} from there "
                             "(default: derived from --port, so workers on one host don't collide)")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="seconds calls in progress may take to finish after SIGTERM")
    parser.add_argument("--first-digit-timeout", type=float, default=None, help="seconds to wait for a first key")
    parser.add_argument("--inter-digit-timeout", type=float, default=None, help="seconds to wait between keys")
    parser.add_argument("--idle-poll", type=float, default=IDLE_POLL,
                        help="seconds between SIP polls while no call is under way (I-5; 0.01 to 1)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--pj-log-level", type=int, default=2, choices=range(0, 4),
                        help="pjsip log level forwarded to the log (at most 3: higher levels would log DTMF, A-6)")
    args = parser.parse_args(argv)
    if args.rtp_port is None:
        args.rtp_port = RTP_BASE + (args.port % RTP_SLOTS) * RTP_PORTS
    if not 1024 <= args.rtp_port <= 65535 - RTP_PORTS:
        parser.error(f"--rtp-port: between 1024 and {65535 - RTP_PORTS}")
    if not POLL <= args.idle_poll <= 1.0:
        parser.error(f"--idle-poll: between {POLL:g} and 1 second")
    args.transports = [t.strip().lower() for t in args.transport.split(",") if t.strip()]
    if not args.transports or set(args.transports) - {"udp", "tcp"}:
        parser.error(f"--transport: udp, tcp or both, not {args.transport!r}")
    return args


class Worker:
    def __init__(self, args: argparse.Namespace, service: SelfService, route_point: str, reactor: Any,
                 ready_out: Any = None, restarts: Restarts | None = None) -> None:
        self.args = args
        self.restarts = restarts or UdpRestarts(service.db)  # C-14 (R-5: the registrar's when configured)
        self.ready_out = ready_out or sys.stdout
        self.service = service
        self.route_point = route_point
        self.reactor = reactor
        self.exit_code = 0
        self.draining = False
        self.ep = self.account = self.adapter = self.log_writer = None
        self._loops: list = []
        self._pump_call = None  # the next libHandleEvents (I-5)
        self._wake: SipWake | None = None
        self._busy_until = 0.0

    # --- start -----------------------------------------------------------------
    def start(self) -> None:
        from twisted.internet.task import LoopingCall
        from twisted.internet.threads import deferToThread

        pj, _, _, RoutePoint = pjsua2_classes()
        self.ep = ep = pj.Endpoint()
        with _stdout_silenced():  # pjlib's banner, printed before its log is configured
            ep.libCreate()  # on the reactor thread: it becomes pjsua's main thread
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = "phone-migration-ivr"
        cfg.medConfig.clockRate = 8000  # prompts are 8 kHz: no resampling per call
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.maxMediaPorts = MAX_CALLS + MAX_PLAYERS + 2  # >= 2 * calls + 2, with retired players
        self.log_writer = _log_writer(pj)
        cfg.logConfig.writer = self.log_writer
        cfg.logConfig.level = self.args.pj_log_level
        cfg.logConfig.consoleLevel = self.args.pj_log_level  # what reaches the writer
        cfg.logConfig.msgLogging = 0  # SIP INFO bodies carry DTMF digits
        cfg.logConfig.decor = 0
        ep.libInit(cfg)
        sip = self._serve_only(pj)
        for info in ep.codecEnum2():  # G.711 only: 8 kHz like the prompts, and no codec cost
            priority = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}.get(info.codecId, 0)
            ep.codecSetPriority(info.codecId, priority)
        for name in self.args.transports:
            tc = pj.TransportConfig()
            tc.port = self.args.port
            tc.boundAddress = self.args.host
            kind = pj.PJSIP_TRANSPORT_UDP if name == "udp" else pj.PJSIP_TRANSPORT_TCP
            ep.transportCreate(kind, tc)
        ep.libStart()
        ep.audDevManager().setNullDev()  # a server has no sound device

        def in_thread(fn, *args):
            return deferToThread(self._registered, fn, *args)

        # C-14 by ivr.restart's sender (a plain UDP NOTIFY, or through the
        # registrar: the one the other doors use), so the pool threads never touch pjsua2.
        self.adapter = IvrAdapter(self.service, self.reactor, in_thread=in_thread, restart=self.restarts.restart,
                                  first_digit_timeout=self.args.first_digit_timeout,
                                  inter_digit_timeout=self.args.inter_digit_timeout,
                                  # the supervisor's pm_ivr_calls_active, on the READY line's channel
                                  on_calls=lambda n: print(f"CALLS {n}", file=self.ready_out, flush=True))
        self.account = RoutePoint(self.adapter, self.reactor)
        acfg = pj.AccountConfig()
        host = f"[{self.args.host}]" if ":" in self.args.host else self.args.host
        acfg.idUri = f"sip:{self.route_point}@{host}:{self.args.port}"
        rtp = acfg.mediaConfig.transportConfig
        rtp.boundAddress = self.args.media_host or self.args.host  # RTP, and the SDP's address...
        if self.args.media_public:
            rtp.publicAddress = self.args.media_public  # ...unless callers reach it by another
        rtp.port, rtp.portRange = self.args.rtp_port, RTP_PORTS
        self.account.create(acfg, True)

        if "udp" in self.args.transports:
            fd = udp_socket_fd(self.args.host, self.args.port)
            self._wake = SipWake(self.reactor, fd, self._woken) if fd is not None else None
            if self._wake is None:
                log_event("ivr_worker_no_wake", logging.WARNING, port=self.args.port)
        self._pump()
        collect = LoopingCall(gc.collect)
        collect.start(GC_EVERY, now=False).addErrback(self._fatal, "garbage collection failed")
        self._loops = [collect]
        began = time.monotonic()
        self._warm(in_thread).addCallback(self._ready, sip, began)

    def _warm(self, in_thread) -> defer.Deferred:
        """I-8: the first calls' one-time costs, paid before READY.

        A call's caller look-up runs in a pool thread. Its first run in a
        worker starts the thread, registers it with pjsua2, opens a database
        connection and compiles the query; 50 workers doing that for their
        first calls at once made the first 200 calls after a start the slowest
        to be answered (docs/benchmarks.md, session 10). So the worker runs the
        look-up (read-only, for a caller no site has) in as many threads at
        once as it takes calls. Each thread holds a pooled database connection
        until all of them hold one: a look-up is quicker than a thread's start,
        so on a busy machine the look-ups alone would run one after the other
        on one connection. Fires with how many ran; never fails.
        """
        barrier = threading.Barrier(MAX_CALLS, timeout=WARM_TIMEOUT)

        def one() -> None:
            with self.service.db.read_connection():  # one connection each, open together: the pool keeps them
                barrier.wait()
            self.adapter.look_up(WARM_CALLER)

        def counted(results) -> int:
            failed = [r for ok, r in results if not ok]
            if failed:
                log_event("ivr_worker_warm_failed", logging.WARNING, error=error_text(failed[0].value),
                          failed=len(failed))
            return len(results) - len(failed)

        return defer.DeferredList([in_thread(one) for _ in range(MAX_CALLS)], consumeErrors=True).addCallback(counted)

    def _ready(self, warmed: int, sip: dict, began: float) -> None:
        if self.draining or not self.reactor.running:
            return
        gc.collect()
        gc.freeze()  # I-5: what the start built lives as long as the process; no collection walks it again
        log_event("ivr_worker_ready", host=self.args.host, port=self.args.port, transports=self.args.transports,
                  rtp_ports=[self.args.rtp_port, self.args.rtp_port + RTP_PORTS - 1], route_point=self.route_point,
                  pjsip=self.ep.libVersion().full, warm_lookups=warmed,
                  warm_ms=round((time.monotonic() - began) * 1000), **sip)
        print(f"READY {self.args.port}", file=self.ready_out, flush=True)

    def _woken(self) -> None:
        """SIP arrived while idle: the pump now rather than an idle poll later (I-5)."""
        if self._pump_call is not None and self._pump_call.active():
            self._pump_call.cancel()
            self._pump(woken=True)

    def _pump(self, woken: bool = False) -> None:
        """pjsua's events on the reactor thread, fast while anything is under way (I-5).

        An idle pace lets the SIP socket wake the pump; only a scheduled pump
        watches it again, so a wake costs at most one pump more a fast poll.
        """
        self._pump_call = None
        try:
            events = self.ep.libHandleEvents(0)
        except Exception:  # noqa: BLE001 - pjsua's loop is the worker: stop and say why
            self._fatal(Failure(), "pjsua event loop failed")
            return
        active = self.draining or not self.adapter.idle()
        delay, self._busy_until = next_poll(time.monotonic(), self._busy_until, events, active, self.args.idle_poll)
        if self.reactor.running:
            self._pump_call = self.reactor.callLater(delay, self._pump)
            if self._wake is not None and delay > POLL and not woken:
                self._wake.arm()

    def _serve_only(self, pj) -> dict:
        """I-1 and I-3 through ``ivr.native``: Allow and Supported list what is served; an unacknowledged answer
        frees its slot."""
        try:
            native = Pjsip.load(pj)
            dropped = native.serve_only(SERVED_METHODS)
            unsupported = native.support_only(UNSUPPORTED)
            native.transaction_timeout(TRANSACTION_TIMEOUT_MS)
            return {"allow": native.allowed(), "not_allowed": dropped, "supported": native.supported(),
                    "not_supported": unsupported, "transaction_timeout_ms": TRANSACTION_TIMEOUT_MS}
        except (OSError, AttributeError, NativeError) as exc:  # another wheel: serve as before, and say so
            log_event("ivr_native_failed", logging.WARNING, error=error_text(exc))
            return {}

    def _registered(self, fn, *args):
        """In a pool thread: pjsua2 insists every thread that might touch it is registered."""
        if not self.ep.libIsThreadRegistered():
            self.ep.libRegisterThread(threading.current_thread().name)
        return fn(*args)

    # --- stop ------------------------------------------------------------------
    def drain(self) -> None:
        """SIGTERM: 503 to new calls, let calls in progress finish (bounded), then stop."""
        if self.draining or self.adapter is None:
            return
        self.draining = True
        self.adapter.stop_accepting()
        calls = len(self.adapter.sessions)
        log_event("ivr_worker_draining", calls=calls, timeout=self.args.drain_timeout)
        self._wait(self.adapter.idle, self.args.drain_timeout, self._hang_up_all)

    def _hang_up_all(self) -> None:
        if not self.adapter.idle():
            log_event("ivr_worker_drain_timeout", logging.WARNING, calls=len(self.adapter.sessions))
            self.ep.hangupAllCalls()
        self._wait(lambda: not any(s.leg is not None for s in self.adapter.sessions.values()) and self.adapter.jobs == 0,
                   HANGUP_GRACE, self._stop_reactor)

    def _wait(self, done, timeout: float, then) -> None:
        deadline = time.monotonic() + timeout

        def check() -> None:
            if done() or time.monotonic() >= deadline:
                then()
            else:
                self.reactor.callLater(0.1, check)

        check()

    def _stop_reactor(self) -> None:
        if self._wake is not None:
            self._wake.disarm()
        if self._pump_call is not None and self._pump_call.active():
            self._pump_call.cancel()
        self._pump_call = None
        for loop in self._loops:
            if loop.running:
                loop.stop()
        if self.reactor.running:
            self.reactor.stop()

    def _fatal(self, failure, why: str) -> None:
        log_event("ivr_worker_fatal", logging.CRITICAL, reason=why, error=error_text(failure.value))
        self.exit_code = 1
        self._stop_reactor()

    def shutdown(self) -> None:
        """After the reactor stopped, in the order docs/pjsua2.md found safe."""
        if self.ep is None:
            return
        ep = self.ep
        try:
            ep.hangupAllCalls()
            for _ in range(100):  # pump the BYEs, bounded
                ep.libHandleEvents(10)
                if self.adapter is None or not any(s.leg is not None and not s.hung_up
                                                   for s in self.adapter.sessions.values()):
                    break
            for call in self.reactor.getDelayedCalls():
                if call.active():
                    call.cancel()  # drops its arguments: sessions, legs
            if self.adapter is not None:
                self.adapter.close()
            gc.unfreeze()  # I-5: the start's objects are collectable again, the account's cycles with them
            gc.collect()
            if self.account is not None:
                self.account.shutdown()
            self.account = None
            gc.collect()
            ep.libDestroy()
        except Exception as exc:  # noqa: BLE001 - the process is ending; say why it is not clean
            log_event("ivr_worker_shutdown_failed", logging.ERROR, error=error_text(exc))
            self.exit_code = self.exit_code or 1
        finally:
            self.ep = None
        log_event("ivr_worker_stopped", exit_code=self.exit_code)


@contextmanager
def _stdout_silenced():
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _log_writer(pj):
    """pjsip's own log lines into the JSON log: 1 error, 2 warning, 3 debug (no SIP messages, no digits)."""

    class Writer(pj.LogWriter):
        def write(self, entry) -> None:
            try:
                message = entry.msg.strip()
                if message:
                    log_event("pjsip", {1: logging.ERROR, 2: logging.WARNING}.get(entry.level, logging.DEBUG),
                              message=message)
            except Exception:  # noqa: BLE001 - an exception escaping into pjsua2 would abort the process
                pass

    return Writer()


def main(argv: Sequence[str] | None = None, *, setup_logging: Callable[[str], None],
         prog: str | None = None, restarts: Callable[[Database], Restarts] | None = None) -> int:
    """The worker process; ``setup_logging(level)`` installs the process's log
    handler (``phoneservice.observe.setup_logging``: JSON lines, secrets dropped);
    ``restarts(db)`` builds the C-14 sender (default: plain UDP, ``ivr.restart``)."""
    args = parse_args(argv, prog)
    # stdout carries the one READY line the supervisor waits for; pjlib prints
    # to file descriptor 1 before its log is configured, so that goes to stderr.
    ready_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    setup_logging(args.log_level)
    gc.disable()  # collected on the reactor thread only (see the module docstring)
    try:
        db = Database(args.database)
        service = SelfService(Migrator(db))
        route_point = service.settings().ivr_route_point
    except Exception as exc:  # noqa: BLE001 - no database, no IVR
        log_event("ivr_worker_fatal", logging.CRITICAL, reason="database", error=error_text(exc))
        return 1

    from twisted.internet import reactor

    worker = Worker(args, service, route_point, reactor, ready_out, restarts(db) if restarts else None)
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(worker.drain))
    signal.signal(signal.SIGINT, lambda *_: reactor.callFromThread(worker.drain))

    def start() -> None:
        try:
            worker.start()
        except Exception as exc:  # noqa: BLE001 - e.g. the port is taken
            log_event("ivr_worker_fatal", logging.CRITICAL, reason="start", error=error_text(exc))
            worker.exit_code = 2
            reactor.stop()

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    worker.shutdown()
    db.dispose()
    return worker.exit_code
