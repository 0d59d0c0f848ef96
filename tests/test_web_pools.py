"""The web port's two thread pools: the phones' screens apart from the admin UI and API."""

from __future__ import annotations

from flask import Flask
from twisted.python.threadpool import ThreadPool
from twisted.web.test.requesthelper import DummyRequest

from phoneservice.config import load_config
from phoneservice.processes.server import PooledWSGI


class Recording:
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def render(self, request):
        self.seen.append(self.name)
        return b""


def routed(path: bytes) -> str:
    seen: list[str] = []
    resource = PooledWSGI(None, Flask(__name__), ThreadPool(), ThreadPool())
    resource.main, resource.screens = Recording("main", seen), Recording("screens", seen)
    request = DummyRequest(path.lstrip(b"/").split(b"/"))
    request.path = path
    resource.render(request)
    return seen[0]


def test_screens_go_to_their_own_pool_and_the_rest_to_the_main_one():
    assert routed(b"/screens/") == "screens"
    assert routed(b"/screens/confirm") == "screens"
    assert routed(b"/admin/phones") == "main"
    assert routed(b"/api/v1/devices") == "main"
    assert routed(b"/healthz") == "main"
    assert routed(b"/screensaver") == "main"


def test_pool_sizes_are_settings():
    config = load_config(web={"threads": 8, "screen_threads": 2})
    assert (config.web.threads, config.web.screen_threads) == (8, 2)
    assert load_config().web.screen_threads == 2
