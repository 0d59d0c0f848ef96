"""The web port's Flask app: ``create_app`` (``app``), the ``Services`` a view calls
(``services``), ``/healthz`` and ``/metrics`` (``health``), and the three doors:
the phones' screens (``screens``), the admin UI (``admin``) and the REST API (``api``)."""
