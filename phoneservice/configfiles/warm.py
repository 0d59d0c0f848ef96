"""Warm device files answered on the reactor after one shared stamp read (T-1, H-1).

In a boot storm hundreds of phones ask for their ``SEP<MAC>.cnf.xml`` within
a few hundred milliseconds, and nearly every file is cached and fresh. Each
request used to take a thread of its own to read the site stamp
(``ConfigFiles.resolve``): a thread hop, a stamp read and a hop back per
file. Here the requests wait for the next stamp read that *begins after they
arrived*, one read at a time, in a thread; when it returns, every file it
answers is fresh under it, so no answer is older than the request (the
cache is never stale, as before). A request whose file is not fresh (stale,
never rendered, an unknown phone: rendering, auto-registration, T-6's peers)
goes on to ``slow``, the resolver's thread, as before.
docs/benchmarks.md "Session 8: the TFTP boot storm" measured it.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet import defer

from phoneservice.configfiles.files import SEP_CNF, ConfigFiles

Slow = Callable[[str], "defer.Deferred[bytes | None]"]
InThread = Callable[[Callable[[], int]], "defer.Deferred[int]"]


class WarmFiles:
    """``resolve(name)`` for device files; ``in_thread(f)`` runs ``f`` off the reactor."""

    def __init__(self, files: ConfigFiles, in_thread: InThread, slow: Slow) -> None:
        self._files, self._in_thread, self._slow = files, in_thread, slow
        self._waiting: list[tuple[str, defer.Deferred]] = []
        self._reading = False

    def resolve(self, name: str) -> defer.Deferred:
        if not SEP_CNF.match(name):
            return self._slow(name)
        answer: defer.Deferred = defer.Deferred()
        self._waiting.append((name, answer))
        if not self._reading:
            self._read()
        return answer

    def _read(self) -> None:
        waiting, self._waiting = self._waiting, []  # later arrivals wait for the next read
        self._reading = True
        read = self._in_thread(self._files.stamp)
        read.addCallbacks(self._answer, self._failed, callbackArgs=(waiting,), errbackArgs=(waiting,))

    def _answer(self, version: int, waiting: list) -> None:
        for name, answer in waiting:
            if answer.called:  # timed out or cancelled meanwhile
                continue
            data = self._files.cached_device_file(name, version)
            if data is not None:
                answer.callback(data)
            else:
                self._slow(name).chainDeferred(answer)
        self._next()

    def _failed(self, failure, waiting: list) -> None:
        for name, answer in waiting:  # the database did not answer: each request tries on its own
            if not answer.called:
                self._slow(name).chainDeferred(answer)
        self._next()

    def _next(self) -> None:
        self._reading = False
        if self._waiting:
            self._read()
