"""HTTP request metrics for a Flask app: a count and a latency histogram per method, route rule and status.

Labelled by the matched rule (``/api/v1/devices/<name>``), never by the raw
path, so a scan of random URLs adds one series (``unmatched``), not one per URL.
The time is the app's (from the request's arrival in Flask to its response);
the access log's ``ms`` (``phoneservice.processes.access``) is the whole request.
"""

from __future__ import annotations

import time

from flask import Flask, g, request

from phoneservice.observe import HTTP_METHODS, Metrics


def install(app: Flask, metrics: Metrics) -> None:
    @app.before_request
    def _started() -> None:
        g.pm_started = time.perf_counter()

    @app.after_request
    def _observed(response):
        started = g.pop("pm_started", None)
        method = request.method if request.method in HTTP_METHODS else "other"
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.http_requests.labels(method, route, str(response.status_code)).inc()
        if started is not None:
            metrics.http_seconds.labels(method, route).observe(time.perf_counter() - started)
        return response
