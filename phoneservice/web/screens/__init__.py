"""The Phone Migration Service: the Cisco IP Phone XML screens at ``/screens/`` (M-1..M-5).

``views`` holds the blueprint, one view per screen; ``ciscoxml`` builds the
XML objects within the phones' limits (``schemas/CiscoIPPhone.xsd``).
"""

from phoneservice.web.screens.views import blueprint

__all__ = ["blueprint"]
