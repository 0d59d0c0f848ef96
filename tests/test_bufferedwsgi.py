"""The screens' WSGI bridge: the whole answer in one handoff to the reactor thread.

Real HTTP through it is covered by ``tests/e2e/test_screens_phone.py`` and
``tests/e2e/test_web_processes.py``; these tests pin what it hands Flask and
what it writes back.
"""

from __future__ import annotations

import io
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, request
from twisted.internet.defer import succeed
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from phoneservice.processes.bufferedwsgi import BufferedWSGI


class Inline:
    """A pool and a reactor that run what they are given at once, counting the reactor's calls."""

    def __init__(self) -> None:
        self.reactor_calls = 0

    def callInThread(self, f, *args):
        f(*args)

    def callFromThread(self, f, *args):
        self.reactor_calls += 1
        f(*args)


def app() -> Flask:
    flask = Flask(__name__)

    @flask.get("/screens/<path:rest>")
    def echo(rest):
        body = f"{rest}|{request.args.get('name')}|{request.headers.get('x-CiscoIPPhoneModelName')}"
        return Response(body.encode(), content_type="text/xml; charset=UTF-8", headers={"Expires": "-1"})

    @flask.get("/screens/stream")
    def stream():
        return Response(iter([b"a", b"", b"bc"]), content_type="text/plain")

    @flask.get("/screens/boom")
    def boom():
        raise RuntimeError("bug")

    return flask


def serve(path: bytes, query: bytes = b"", flask=None, gone: bool = False) -> tuple[DummyRequest, Inline]:
    segments = [unquote_to_bytes(s) for s in path.lstrip(b"/").split(b"/")]  # as twisted.web.server.Site does
    req = DummyRequest(segments)
    req.uri = path + (b"?" + query if query else b"")
    req.content = io.BytesIO()
    req.isSecure = lambda: False
    req.requestHeaders.addRawHeader(b"x-CiscoIPPhoneModelName", b"CP-8851")
    inline = Inline()
    if gone:
        req.notifyFinish = lambda: succeed(None)
    assert BufferedWSGI(inline, inline, flask or app()).render(req) is NOT_DONE_YET
    return req, inline


def test_the_answer_is_written_whole_with_one_call_to_the_reactor():
    req, inline = serve(b"/screens/identify%20me", b"name=SEP00112233AABB")
    assert inline.reactor_calls == 1
    assert req.responseCode == 200 and req.finished == 1
    assert b"".join(req.written) == b"identify me|SEP00112233AABB|CP-8851"  # PATH_INFO unquoted, query, headers
    assert req.responseHeaders.getRawHeaders(b"content-type") == [b"text/xml; charset=UTF-8"]
    assert req.responseHeaders.getRawHeaders(b"expires") == [b"-1"]


def test_a_streamed_body_is_joined_and_empty_chunks_are_dropped():
    req, _ = serve(b"/screens/stream")
    assert req.written == [b"abc"]


def test_status_and_message_come_from_the_application():
    req, _ = serve(b"/nowhere")
    assert req.responseCode == 404 and req.responseMessage == b"NOT FOUND"


def test_a_failing_application_gets_flasks_500_and_a_broken_bridge_call_gets_ours():
    req, _ = serve(b"/screens/boom")
    assert req.responseCode == 500 and req.finished == 1

    def broken(environ, start_response):
        raise RuntimeError("never answers")

    req, inline = serve(b"/screens/x", flask=broken)
    assert (req.responseCode, req.written, req.finished, inline.reactor_calls) == (500, [b"error\n"], 1, 1)


def test_nothing_is_written_when_the_phone_went_away_first():
    req, inline = serve(b"/screens/identify", gone=True)
    assert inline.reactor_calls == 1
    assert (req.written, req.finished, req.responseCode) == ([], 0, None)
