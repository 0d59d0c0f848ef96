"""What the worker supervisor decides, and how a worker is launched: pure functions and values.

``phoneservice.processes.supervisor`` runs these on the reactor; they are
apart so that the decisions (R-8: restart with a capped back-off, never give
up; what /healthz says) are read, and tested, without Twisted, and so that
every module that starts a supervised child (the IVR and web workers, the
zygote, Kamailio) builds its argv in one way (``child_command``,
``child_exec``).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

QUEUED, STARTING, UP, RESTARTING, STOPPING, STOPPED, PARKED = (
    "queued", "starting", "up", "restarting", "stopping", "stopped", "parked")


# --- decisions (pure) ---------------------------------------------------------
@dataclass(frozen=True)
class RestartPolicy:
    backoff_initial: float = 0.5  # seconds before the first restart
    backoff_factor: float = 2.0  # per further crash in a row
    backoff_max: float = 30.0
    healthy_after: float = 60.0  # a worker up this long starts the back-off over
    max_restarts: int = 10  # more deaths than this within ``window`` seconds: a crash loop (logged; still restarted)
    window: float = 300.0


@dataclass(frozen=True)
class CrashHistory:
    streak: int = 0  # deaths since the worker was last healthy
    recent: tuple[float, ...] = ()  # times of the deaths within the policy's window


def restart_delay(policy: RestartPolicy, streak: int) -> float:
    """Exponential back-off: ``backoff_initial`` for the first crash in a row, x factor each after, capped."""
    exponent = min(max(streak - 1, 0), 64)  # 2.0 ** 1100 would overflow
    return min(policy.backoff_max, policy.backoff_initial * policy.backoff_factor**exponent)


def after_exit(policy: RestartPolicy, history: CrashHistory, now: float,
               up_for: float | None) -> tuple[CrashHistory, float, bool]:
    """R-8: a worker died unasked: its new history, the seconds before its restart, and whether it is crash-looping.

    ``up_for`` is how long it had been ready (None: it never printed READY).
    There is always a restart: at most ``backoff_max`` away. More than
    ``max_restarts`` deaths within ``window`` seconds is a crash loop, which a
    person should look at (the port is taken, the install is broken, someone
    keeps sending what kills it); it is reported, and the worker still comes back.
    """
    streak = 1 if up_for is not None and up_for >= policy.healthy_after else history.streak + 1
    recent = tuple(t for t in history.recent if now - t < policy.window) + (now,)
    return CrashHistory(streak, recent), restart_delay(policy, streak), len(recent) > policy.max_restarts


@dataclass(frozen=True)
class WorkerStatus:
    port: int  # an IVR worker's SIP port, a web worker's number
    pid: int | None
    state: str
    restarts: int
    calls: int = 0  # an IVR worker's calls, as it last said (CALLS lines)


def summarize(workers: tuple[WorkerStatus, ...]) -> dict:
    """The workers' part of /healthz (``ivr``): ok when every worker not parked is up, down when none is.
    A parked worker (I-7: stopped while the site is quiet, started again as calls come) is not missing."""
    up = sum(w.state == UP for w in workers)
    wanted = sum(w.state != PARKED for w in workers)
    status = "down" if up == 0 else "ok" if up == wanted else "degraded"
    return {"status": status, "up": up, "workers": [asdict(w) for w in workers]}


# --- a worker's command ---------------------------------------------------------
# Runs in the child before the worker replaces it (execvp keeps the pid): its own
# session, so a Ctrl-C on the server's terminal reaches only the server, which
# drains the workers; and SIGTERM when the server dies without draining (Linux
# PR_SET_PDEATHSIG, kept across execve), so no orphan keeps holding the port.
_LAUNCH = (
    "import ctypes, os, signal, sys\n"
    "os.setsid()\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def child_exec(argv: list[str], python: str = sys.executable) -> list[str]:
    """argv for a supervised child running ``argv``, launched through ``_LAUNCH``: the child is the leader
    of its own process group (its pid is the group's id)."""
    return [python, "-I", "-S", "-c", _LAUNCH, *argv]


def child_command(module: str, *args: str, python: str = sys.executable) -> list[str]:
    """argv for a supervised child ``python -m module args``, launched through ``_LAUNCH``."""
    return child_exec([python, "-m", module, *args], python)
