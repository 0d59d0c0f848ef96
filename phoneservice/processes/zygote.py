"""I-6: IVR workers forked from one preloaded parent, so their imports are shared memory.

200 calls need 50 workers (4 calls each, docs/pjsua2.md), and about 45 MB of
a worker that starts a fresh interpreter is its imports (Python, Twisted,
SQLAlchemy, the engine, pjsua2's library). A zygote imports all of that once,
freezes it out of the garbage collector's reach (``gc.freeze()``, so no
collection in a child touches, and so copies, those pages), and forks a
worker per request: the children share those pages until they write them.
No maintained library forks preloaded Python workers for a Twisted
supervisor (gunicorn's ``preload_app`` forks WSGI workers of its own
arbiter), hence this module.

``python -m phoneservice.processes.zygote`` (started by ``ZygoteSpawner``
through ``child_command``: its own session, SIGTERM when the server dies)
speaks over the UNIX socket it is given as file descriptor 3:

- request: one datagram, JSON ``{"args": [...], "env": {...}}`` with one file
  descriptor attached (``SCM_RIGHTS``): the pipe the worker writes its
  ``READY``/``CALLS`` lines to (its standard output);
- answers: ``{"pid": N}`` (or ``{"error": "..."}``) for each request, in
  order, and ``{"exited": N, "code": C, "signal": S}`` whenever a worker ends.

A child starts its own session, asks for SIGTERM when the zygote dies
(``PR_SET_PDEATHSIG``, as every worker the supervisor starts), takes the
environment it was sent and runs ``phoneservice.processes.ivr_worker.main``:
it creates its pjsua2 Endpoint and its reactor itself, after the fork (the
zygote never creates either, and runs no thread, so nothing is forked
half-held). The zygote exits when its socket closes.
"""

from __future__ import annotations

import array
import ctypes
import gc
import json
import os
import select
import signal
import socket
import sys

MAX_MESSAGE = 65536
CHECK_EVERY = 0.2  # seconds between two looks for ended children while no request comes


def preload() -> None:
    """Everything a worker imports before it answers, imported once here."""
    import pjsua2  # noqa: F401  (the wheel's library: the largest part)

    import phoneservice.processes.ivr_worker  # noqa: F401  (ivr.worker, the engine, SQLAlchemy, Twisted)

    gc.collect()
    gc.freeze()


def receive(sock: socket.socket) -> tuple[dict, int | None]:
    fds = array.array("i")
    data, ancillary, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(fds.itemsize))
    if not data:
        return {}, None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return json.loads(data), (fds[0] if fds else None)


def send(sock: socket.socket, message: dict) -> None:
    sock.send(json.dumps(message).encode())


def child(sock: socket.socket, request: dict, out: int) -> None:
    """In the forked child: become the worker. Never returns."""
    code = 70
    try:
        sock.close()
        os.setsid()
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
            libc.prctl(15, ctypes.c_char_p(b"pm-ivr-worker"), 0, 0, 0)  # PR_SET_NAME: what top and ps -o comm show
        except (OSError, AttributeError):
            pass
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(out, 1)
        os.close(out)
        os.environ.clear()
        os.environ.update(request["env"])
        from phoneservice.processes import ivr_worker

        sys.argv = ["phoneservice.processes.ivr_worker", *request["args"]]
        code = ivr_worker.main(request["args"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - whatever it was, this process must end here
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def reap(sock: socket.socket, children: set[int]) -> None:
    """Tell of every child that has ended."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        send(sock, {"exited": pid, "code": code if code >= 0 else None, "signal": -code if code < 0 else None})


def serve(sock: socket.socket) -> int:
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([sock], [], [], CHECK_EVERY)
        reap(sock, children)
        if not ready:
            continue
        try:
            request, out = receive(sock)
        except (OSError, ValueError) as exc:
            send(sock, {"error": f"bad request: {exc}"})
            continue
        if not request:  # the server closed its end
            return 0
        if out is None or not isinstance(request.get("args"), list) or not isinstance(request.get("env"), dict):
            if out is not None:
                os.close(out)
            send(sock, {"error": "a request is {args, env} with the worker's output pipe"})
            continue
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(out)
            send(sock, {"error": f"fork: {exc}"})
            continue
        if pid == 0:
            child(sock, request, out)
        os.close(out)
        children.add(pid)
        send(sock, {"pid": pid})


def main() -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=3)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the server is gone: PDEATHSIG ends the children
    preload()
    send(sock, {"ready": os.getpid()})
    return serve(sock)


if __name__ == "__main__":
    sys.exit(main())
