"""The ``phone-migration`` command (``python -m phoneservice.cli`` too): ``main`` is the console script."""

from phoneservice.cli.commands import main

__all__ = ["main"]
