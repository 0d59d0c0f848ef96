"""The web and config ports' access log: one ``http_request`` event per request, with its id and duration.

``ObservedRequest`` takes the request's id from an incoming ``X-Request-Id``
(a load balancer's, so one request can be followed through both logs) or makes
one, hands it to the app as that header, answers with it, and notes when the
request arrived; ``LoggedSite`` logs the request when it ends
(``phoneservice.observe.log_request``: query values never shown).

A request also ends when its connection does before ``finish``. Twisted's
``WSGIResource`` sends a Flask answer's body in one reactor turn and finishes
the request in a later one; a client that has read its ``Content-Length``
bytes closes at once, and on a busy machine its close is seen first. Twisted
then never calls ``finish``, so ``Site.log`` never runs: one ``/healthz`` in
five went unlogged under load. Such a request is logged as it ends, marked
``client_gone`` (with no status when none was sent).
"""

from __future__ import annotations

import time

from twisted.web.server import Request, Site

from phoneservice.observe import log_request, request_id

HEADER = b"x-request-id"


class ObservedRequest(Request):
    started: float | None = None
    request_id: str | None = None

    def process(self):
        self.started = time.monotonic()
        incoming = self.requestHeaders.getRawHeaders(HEADER)
        self.request_id = request_id(incoming[-1].decode("ascii", "replace") if incoming else None)
        self.requestHeaders.setRawHeaders(HEADER, [self.request_id.encode("ascii")])  # what the app sees
        self.setHeader(b"X-Request-Id", self.request_id.encode("ascii"))
        return super().process()

    def connectionLost(self, reason) -> None:
        if self.started is not None and not self.finished and not self._disconnected:  # received whole, not ended
            log_request(self, client_gone=True)
        super().connectionLost(reason)


class LoggedSite(Site):
    """A Site whose access log never shows a query value (PINs arrive as query parameters)."""

    requestFactory = ObservedRequest

    def log(self, request) -> None:
        log_request(request)
