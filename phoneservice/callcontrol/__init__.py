"""The call control the phones use: Kamailio as registrar and proxy (R-1..R-5).

``kamailio``: the site's kamailio.cfg, rendered from ``kamailio.cfg.j2``
(``phone-migration kamailio-config``); ``events``: the Flask blueprint Kamailio
asks whether to accept a REGISTER and tells what it saved; ``registers``: what
Kamailio sends, as ``models.rules.registration.Register`` values; ``rpc``:
Kamailio's JSON-RPC; ``reconcile``: the location table read back at intervals;
``restart``: the restart NOTIFY through Kamailio over the phone's own connection.
"""
