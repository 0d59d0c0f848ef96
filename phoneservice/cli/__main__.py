"""``python -m phoneservice.cli``: the ``phone-migration`` command."""

from phoneservice.cli import main

main()
