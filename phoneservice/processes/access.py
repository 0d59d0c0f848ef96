"""The web and config ports' access log: one ``http_request`` event per request, with its id and duration.

``ObservedRequest`` takes the request's id from an incoming ``X-Request-Id``
(a load balancer's, so one request can be followed through both logs) or makes
one, hands it to the app as that header, answers with it, and notes when the
request arrived; ``LoggedSite`` logs the request when it ends
(``phoneservice.observe.log_request``: query values never shown).
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


class LoggedSite(Site):
    """A Site whose access log never shows a query value (PINs arrive as query parameters)."""

    requestFactory = ObservedRequest

    def log(self, request) -> None:
        log_request(request)
