"""I-6: ``WorkerSupervisor``'s ``spawn`` for IVR workers forked by the zygote (``phoneservice.processes.zygote``).

``ZygoteSpawner.spawn`` has ``reactor.spawnProcess``'s signature and returns
what the supervisor uses of a process transport (``pid``, ``signalProcess``,
``closeStdin``), so the supervisor's restarts, drain and crash isolation are
the same whichever way a worker starts. The worker's standard output comes
back through a pipe the spawner makes (``outReceived``), its end through the
zygote's ``exited`` answer (``processEnded``, once its pipe is closed too).

The zygote starts with the first worker (the spawner waits for its imports,
at most ``ready_timeout`` seconds; that first start runs before the reactor
does). When it dies, its workers end too (SIGTERM, ``PR_SET_PDEATHSIG``) and
are reported ended when their pipes close, and a new zygote is launched at
once: its imports (about a second) run while the workers drain and wait out
their restart back-off, and its ready answer is read by the reactor. A
worker's start waits only for what is left of them (``blocked_ms`` in
``ivr_zygote_started``), so the server's reactor, which also answers TFTP and
the config files, does not stop for a zygote's whole start.

``stopService`` closes its socket, which ends it, once every worker it forked
has ended (the supervisor drains them meanwhile), or after ``close_timeout``
seconds.
"""

from __future__ import annotations

import array
import json
import os
import select
import signal
import socket
import time
from collections import deque

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReadDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

from phoneservice.observe import log_event
from phoneservice.processes.lifecycle import child_command

ZYGOTE_MODULE = "phoneservice.processes.zygote"
WORKER_MODULE = "phoneservice.processes.ivr_worker"
MAX_MESSAGE = 65536


class ZygoteError(RuntimeError):
    pass


@implementer(IReadDescriptor)
class _Reader:
    """A file descriptor the reactor watches: ``on_data(bytes)``, ``b""`` once at its end."""

    def __init__(self, fd: int, on_data) -> None:
        self.fd, self.on_data = fd, on_data

    def fileno(self) -> int:
        return self.fd

    def doRead(self):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        self.on_data(data)
        return None

    def connectionLost(self, reason) -> None:
        """A pipe's end seen as a hang-up (epoll's POLLHUP without POLLIN) comes here, not to doRead."""
        self.on_data(b"")

    def logPrefix(self) -> str:
        return "ivr-worker-pipe"


class ForkedProcess:
    """What the supervisor sees of a forked worker."""

    def __init__(self, spawner: ZygoteSpawner, proto, pid: int, out: int) -> None:
        self.spawner, self.proto, self.pid = spawner, proto, pid
        self.exit: tuple[int | None, int | None] | None = None  # (code, signal) once the zygote said so
        self.pipe_open, self.ended = True, False
        self.reader = _Reader(out, self._output)

    def closeStdin(self) -> None:
        pass  # a forked worker has no standard input

    def signalProcess(self, name) -> None:
        if self.ended or self.exit is not None:
            raise error.ProcessExitedAlready()
        number = name if isinstance(name, int) else getattr(signal, f"SIG{name}")
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            raise error.ProcessExitedAlready() from None

    def _output(self, data: bytes) -> None:
        if data:
            self.proto.outReceived(data)
            return
        if not self.pipe_open:
            return
        self.spawner.reactor.removeReader(self.reader)
        os.close(self.reader.fd)
        self.pipe_open = False
        self._maybe_end()

    def exited(self, code: int | None, sig: int | None) -> None:
        self.exit = (code, sig)
        self._maybe_end()

    def orphaned(self) -> None:
        """The zygote died: this worker's end (SIGTERM) shows as its pipe closing."""
        if self.exit is None:
            self.exit = (None, signal.SIGTERM)
        self._maybe_end()

    def _maybe_end(self) -> None:
        if self.ended or self.exit is None or self.pipe_open:
            return
        self.ended = True
        self.spawner.forget(self.pid)
        code, sig = self.exit
        reason = error.ProcessDone(0) if code == 0 and sig is None else error.ProcessTerminated(code, sig)
        self.proto.processEnded(Failure(reason))


class ZygoteSpawner(service.Service):
    """``spawn`` for ``WorkerSupervisor``: the workers forked by one zygote process."""

    def __init__(self, reactor, env: dict[str, str], ready_timeout: float = 60.0, close_timeout: float = 40.0,
                 log=log_event) -> None:
        self.reactor, self.env, self.ready_timeout, self._log = reactor, dict(env, PYTHONUNBUFFERED="1"), ready_timeout, log
        self.close_timeout = close_timeout
        self._closed: defer.Deferred | None = None
        self.sock: socket.socket | None = None
        self.zygote = None  # its process transport
        self.processes: dict[int, ForkedProcess] = {}
        self._pending: deque[dict] = deque()  # exit notices read while waiting for a pid
        self._reader: _Reader | None = None
        self._ready = False  # the zygote on ``sock`` has said it imported everything
        self._launched = 0.0

    # --- the supervisor's spawn -------------------------------------------------------
    def __call__(self, proto, executable, args, env=None, childFDs=None) -> ForkedProcess:
        worker_args = self._worker_args(list(args))
        if self.sock is None:
            self._launch()
        if not self._ready:
            self._await_ready()
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        try:
            request = json.dumps({"args": worker_args, "env": dict(env or self.env)}).encode()
            self.sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [write_end]))])
            answer = self._answer()
        except (OSError, ZygoteError) as exc:
            os.close(read_end)
            self._lost(f"{type(exc).__name__}: {exc}")
            raise OSError(f"the zygote could not fork a worker: {exc}") from None
        finally:
            os.close(write_end)
        process = ForkedProcess(self, proto, answer["pid"], read_end)
        self.processes[process.pid] = process
        self.reactor.addReader(process.reader)
        proto.makeConnection(process)
        if self._pending:
            self.reactor.callLater(0, self._dispatch_pending)
        return process

    @staticmethod
    def _worker_args(args: list[str]) -> list[str]:
        if "-m" not in args or args[args.index("-m") + 1] != WORKER_MODULE:
            raise OSError(f"the zygote forks {WORKER_MODULE} only, not {args}")
        return args[args.index("-m") + 2:]

    # --- the zygote --------------------------------------------------------------------
    def _launch(self) -> None:
        """Start a zygote; its ready answer comes through the reactor (``_notice``) or ``_await_ready``."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = child_command(ZYGOTE_MODULE)
        try:
            self.zygote = self.reactor.spawnProcess(_ZygoteProtocol(), argv[0], argv, env=self.env,
                                                    childFDs={0: "w", 1: 2, 2: 2, 3: theirs.fileno()})
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock, self._ready, self._launched = ours, False, time.monotonic()
        self._reader = _Reader(ours.fileno(), self._notice)
        self.reactor.addReader(self._reader)

    def _await_ready(self) -> None:
        """A worker is asked for before the zygote said ready: wait for the rest of its start, here."""
        began = time.monotonic()
        self.reactor.removeReader(self._reader)
        try:
            ready = self._receive(max(self.ready_timeout - (began - self._launched), 0.01))
        except (OSError, ZygoteError, ValueError) as exc:
            self._lost(f"no ready answer: {exc}")
            raise OSError("the zygote did not start") from None
        if "ready" not in ready:
            self._lost(f"no ready answer: {ready}")
            raise OSError("the zygote did not start")
        self.reactor.addReader(self._reader)
        self._started(ready["ready"], blocked=time.monotonic() - began)

    def _started(self, pid: int, blocked: float) -> None:
        self._ready = True
        self._log("ivr_zygote_started", pid=pid, start_ms=round((time.monotonic() - self._launched) * 1000),
                  blocked_ms=round(blocked * 1000))

    def _relaunch(self) -> None:
        """After a zygote was lost: the next one, so its imports run while the workers wait to restart."""
        if self.sock is not None or not self.running or self._closed is not None:
            return
        try:
            self._launch()
        except OSError as exc:  # the next worker's start tries again, and says so
            self._log("ivr_zygote_lost", why=f"a new one could not start: {exc}"[:200], workers=0)

    def _receive(self, timeout: float) -> dict:
        """One message from the zygote, waiting at most ``timeout`` seconds (before the reactor reads it)."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise ZygoteError(f"no answer within {timeout:g} s")
        data = self.sock.recv(MAX_MESSAGE)
        if not data:
            raise ZygoteError("the zygote ended")
        return json.loads(data)

    def _answer(self) -> dict:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            message = self._receive(max(deadline - time.monotonic(), 0.01))
            if "exited" in message:
                self._pending.append(message)
            elif "pid" in message:
                return message
            else:
                raise ZygoteError(message.get("error", f"an answer of another kind: {message}"))

    def _notice(self, data: bytes) -> None:
        """The reactor read the zygote's socket (``_Reader`` reads it as bytes: one datagram)."""
        if not data and self.sock is None:
            return  # closed here (stopService), or already lost
        if not data:
            self._lost("its socket closed")
            return
        try:
            message = json.loads(data)
        except ValueError:
            return
        if "exited" in message:
            self._exited(message)
        elif "ready" in message and not self._ready:
            self._started(message["ready"], blocked=0.0)

    def _dispatch_pending(self) -> None:
        while self._pending:
            self._exited(self._pending.popleft())

    def _exited(self, message: dict) -> None:
        process = self.processes.get(message["exited"])
        if process is not None:
            process.exited(message.get("code"), message.get("signal"))

    def forget(self, pid: int) -> None:
        self.processes.pop(pid, None)
        if self._closed is not None and not self.processes:
            self._close()

    def _lost(self, why: str) -> None:
        """The zygote is gone (or unusable): its workers end with it; the next start starts another."""
        if self.sock is None:
            return
        self._log("ivr_zygote_lost", why=why[:200], workers=len(self.processes))
        was_ready, self._ready = self._ready, False
        if self._reader is not None:
            self.reactor.removeReader(self._reader)
            self._reader = None
        self.sock.close()
        self.sock = None
        if self.zygote is not None:
            try:
                self.zygote.signalProcess("KILL")
            except (error.ProcessExitedAlready, OSError):
                pass
            self.zygote = None
        for process in list(self.processes.values()):
            process.orphaned()
        if was_ready:  # one that never got ready is not launched again here: the supervisor's back-off paces that
            self.reactor.callLater(0, self._relaunch)

    def stopService(self):
        super().stopService()
        if not self.processes:
            self._close()
            return None
        self._closed = defer.Deferred()
        self.reactor.callLater(self.close_timeout, self._close)
        return self._closed

    def _close(self) -> None:
        """The socket closed: the zygote reads its end and exits."""
        if self.sock is not None:
            if self._reader is not None:
                self.reactor.removeReader(self._reader)
                self._reader = None
            self.sock.close()
            self.sock = None
        closed, self._closed = self._closed, None
        if closed is not None:
            closed.callback(None)


class _ZygoteProtocol(protocol.ProcessProtocol):
    """The zygote's own process: nothing to read; its end is seen on the socket."""

    def connectionMade(self) -> None:
        self.transport.closeStdin()
