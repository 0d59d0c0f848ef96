"""What every ``phone-migration`` command shares: the database of the command
line, and the one way an error ends a command: one line on stderr that says
what to do, and an exit status a script can act on (never a traceback):

- 1: refused (the site's rules said no; the line says why);
- 2: the command line itself is wrong (click's usage errors);
- 3: the database is missing, behind this version's schema, or unreachable;
- 4: the machine: a port in use, a tool not installed.
"""

from __future__ import annotations

import sys
from functools import wraps

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from models.rules.refusals import Refused
from models.storage.database import Database, database_url, schema_problem

EXIT_REFUSED, EXIT_USAGE, EXIT_DATABASE, EXIT_MACHINE = 1, 2, 3, 4


def _fail(message: str, status: int = EXIT_REFUSED) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


class OperatorGroup(click.Group):
    """The main group: what goes wrong outside the site's rules becomes one line and an exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            url = make_url(database_url((ctx.obj or {}).get("url"))).render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(getattr(exc, "orig", exc)) else ""
            _fail(f"cannot use the database {url}: {reason}; check that it runs and the URL "
                  "(--database or PHONE_MIGRATION_DATABASE_URL)", EXIT_DATABASE)
        except Exception as exc:
            from twisted.internet.error import CannotListenError  # only once something failed: other commands
            # start without Twisted

            if not isinstance(exc, CannotListenError):
                raise
            where = f"{exc.interface or '*'}:{exc.port}"
            _fail(f"cannot listen on {where} ({exc.socketError}): stop what uses it or choose another port "
                  "(--web-port, --config-port, --tftp-port, --ivr-port)", EXIT_MACHINE)


def readable(value) -> str:
    """A value as an operator reads it, never a Python repr: none '-', yes/no, lists and mappings spelled out."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {readable(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(readable(v) for v in value) or "-"
    return str(value)


def on_terminal() -> bool:
    """Whether a person types at this command (a confirmation may be asked); tests replace it."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def refusals(fn):
    """Turn a Refused into one clear line and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Refused as refusal:
            _fail(refusal.message)

    return wrapper


def _db(ctx: click.Context, *, ready: bool = True) -> Database:
    """The command line's database; ``ready``: its schema must be this version's (not for ``init-db``)."""
    problem = schema_problem(database_url(ctx.obj["url"])) if ready else None
    if problem:
        _fail(problem, EXIT_DATABASE)
    db = Database(ctx.obj["url"])
    ctx.find_root().call_on_close(db.dispose)  # no pooled connection outlives the command
    return db
