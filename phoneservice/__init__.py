"""The server around the migration engine (``models``) and the voice door (``ivr``).

Imports go one way: ``cli`` -> ``processes`` -> ``web`` -> ``configfiles`` ->
``config``, ``observe``, ``demo`` -> ``ivr`` -> ``models``.
"""
