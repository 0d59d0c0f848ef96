"""What every ``phone-migration`` command shares: the database of the command
line and the one way a refusal ends a command (one line on stderr, exit 1)."""

from __future__ import annotations

import sys
from functools import wraps

import click

from models.rules.refusals import Refused
from models.storage.database import Database


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def refusals(fn):
    """Turn a Refused into one clear line and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Refused as refusal:
            _fail(refusal.message)

    return wrapper


def _db(ctx: click.Context) -> Database:
    db = Database(ctx.obj["url"])
    ctx.find_root().call_on_close(db.dispose)  # no pooled connection outlives the command
    return db
