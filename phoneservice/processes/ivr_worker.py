"""The IVR worker process as the server starts it: ``ivr.worker`` with the server's logging.

``python -m phoneservice.processes.ivr_worker --database URL --host H --port P [--drain-timeout S] [--media-host M]
[--media-public A]``

``ivr`` imports nothing of ``phoneservice``: it logs through the standard
``logging`` module (``ivr.log``). This entry point gives it the JSON lines and
the dropping of secret-named fields (A-6) every process of the server has
(``phoneservice.observe.setup_logging``). ``worker_command`` is the argv the
supervisor (``phoneservice.processes.supervisor``) starts it with.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ivr import worker
from phoneservice.callcontrol import wiring as callcontrol
from phoneservice.config import load_config
from phoneservice.observe import setup_logging
from phoneservice.processes.lifecycle import child_command

MODULE = "phoneservice.processes.ivr_worker"


def worker_command(host: str, port: int, database_url: str, drain_timeout: float | None = None,
                   python: str = sys.executable, module: str = MODULE, media_host: str | None = None,
                   media_public: str | None = None) -> list[str]:
    """argv for one worker; ``ps`` shows ``python -m phoneservice.processes.ivr_worker ... --port P`` once it runs.

    ``drain_timeout``: how long the worker lets its calls run after SIGTERM before
    it hangs them up itself (with a BYE, unlike the supervisor's SIGKILL).
    """
    drain = ("--drain-timeout", f"{drain_timeout:g}") if drain_timeout is not None else ()
    media = ("--media-host", media_host) if media_host and media_host != host else ()
    media += ("--media-public", media_public) if media_public else ()
    return child_command(module, "--database", database_url, "--host", host, "--port", str(port), *drain, *media,
                         python=python)


def main(argv: Sequence[str] | None = None) -> int:
    # [callcontrol] as the server passed it in the environment: restarts through the registrar
    restarts = callcontrol.restarts_factory(load_config().callcontrol)
    return worker.main(argv, setup_logging=setup_logging, prog=f"python -m {MODULE}", restarts=restarts)


if __name__ == "__main__":
    sys.exit(main())
