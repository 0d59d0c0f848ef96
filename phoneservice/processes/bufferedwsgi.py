"""A WSGI resource for small responses: the phones' screens.

Twisted's ``WSGIResource`` streams: each body chunk the application yields is
handed to the reactor thread with ``blockingCallFromThread`` (the worker waits
for the reactor to take it), then a ``callFromThread`` finishes the request.
That is right for a file download, and three thread handoffs for a screen of a
few hundred bytes. Here the application runs to the end in the pool, its body
is kept in memory, and one ``callFromThread`` writes the whole response.

Why not gunicorn (issue #14; docs/benchmarks.md, session 7): it would drop
this bridge only by taking the web port off the Twisted reactor, and 2
gunicorn gthread workers (``--reuse-port``) served the screens no better than
``serve --web-processes 2`` on it: at 100 flows/s offered, screen p99 24 to
194 ms against 21 to 117 ms, server CPU per flow 9.4 to 10.8 ms against 8.8
to 10.2 ms (see ``webprocs``). Use it only where every response is small;
the admin UI, the API and the config files stay on ``WSGIResource``.
"""

from __future__ import annotations

import sys

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from phoneservice.observe import log_event


def _text(value) -> str:
    """WSGI strings are bytes decoded as Latin-1 (PEP 3333)."""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


class BufferedWSGI(Resource):
    isLeaf = True

    def __init__(self, reactor, pool, app) -> None:
        super().__init__()
        self.reactor, self.pool, self.app = reactor, pool, app

    def render(self, request):
        environ = self.environ(request)
        finished = []
        request.notifyFinish().addBoth(finished.append)  # the client may go before the answer is ready
        request.defaultContentType = None  # the application sets its own
        self.pool.callInThread(self._run, request, environ, finished)
        return NOT_DONE_YET

    @staticmethod
    def environ(request) -> dict:
        path, _, query = request.uri.partition(b"?")
        peer, host = request.getClientAddress(), request.getHost()
        environ = {
            "REQUEST_METHOD": _text(request.method),
            "REMOTE_ADDR": _text(getattr(peer, "host", "")),
            "REMOTE_PORT": _text(getattr(peer, "port", "")),
            "SCRIPT_NAME": "",
            "PATH_INFO": _text(b"/" + b"/".join(request.prepath + request.postpath)),
            "QUERY_STRING": _text(query),
            "CONTENT_TYPE": _text(request.getHeader(b"content-type") or b""),
            "CONTENT_LENGTH": _text(request.getHeader(b"content-length") or b""),
            "SERVER_NAME": _text(request.getRequestHostname()),
            "SERVER_PORT": _text(getattr(host, "port", "")),
            "SERVER_PROTOCOL": _text(request.clientproto),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if request.isSecure() else "http",
            "wsgi.input": request.content,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, values in request.requestHeaders.getAllRawHeaders():
            key = "HTTP_" + _text(name).upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = ",".join(_text(v) for v in values)
        return environ

    def _run(self, request, environ, finished) -> None:
        """In a pool thread: the whole response, then one call to the reactor thread."""
        started = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]
            return chunks.append

        chunks: list[bytes] = []
        try:
            body = self.app(environ, start_response)
            try:
                chunks.extend(body)
            finally:
                getattr(body, "close", lambda: None)()
            status, headers = started
        except Exception as exc:  # Flask answers its own errors; this is the bridge's last resort
            log_event("wsgi_error", error=type(exc).__name__, path=environ["PATH_INFO"])
            status, headers, chunks = "500 Internal Server Error", [("Content-Type", "text/plain")], [b"error\n"]
        self.reactor.callFromThread(self._finish, request, finished, status, headers, b"".join(chunks))

    @staticmethod
    def _finish(request, finished, status: str, headers, body: bytes) -> None:
        if finished:  # the connection went away meanwhile
            return
        code, _, message = status.partition(" ")
        request.setResponseCode(int(code), message.encode("latin-1"))
        for name, value in headers:
            request.responseHeaders.addRawHeader(name.encode("latin-1"), value.encode("latin-1"))
        if body:
            request.write(body)
        request.finish()
