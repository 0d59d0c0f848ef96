"""T-6: proxy TFTP, the config file of a phone this cluster doesn't know, asked of its peers.

``PeerFiles.fetch(name)`` is what the resolver (``files.ConfigFiles``) calls
for a ``SEP<MAC>.cnf.xml`` it has no device for (and auto-registration is
off): only that name, spelled canonically, ever reaches a peer, so
traversal is impossible by construction. The peers are asked in their
configured order, each within ``timeout`` seconds for the whole file; the
first that has the file wins, and its answer is logged with the peer.

Two negative caches, both for ``negative_seconds``: a name no peer had is
answered "not found" without asking again, and a peer that timed out is
skipped, so a dead peer costs its timeout once, not on every request. At
most ``concurrency`` fetches run at once (per process); one more waits for
a slot up to the time the peers may take, then is answered "not found".
The file comes back as the home cluster made it, naming its call control and
services: that is how the phone is sent to its home cluster.

Blocking: it runs on the resolver's thread (see ``tftp_client``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from phoneservice.configfiles import tftp_client
from phoneservice.observe import Metrics, log_event

Peer = tuple[str, int]
Fetch = Callable[[str, int, str, float], bytes]
MAX_NAMES = 10_000  # negative entries kept; over it the expired go, then all


def peer_text(peer: Peer) -> str:
    host, port = peer
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class PeerFiles:
    def __init__(self, peers: list[Peer], timeout: float, negative_seconds: float, concurrency: int,
                 metrics: Metrics | None = None, fetch: Fetch = tftp_client.fetch,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.peers = list(peers)
        self.timeout, self.negative_seconds = timeout, negative_seconds
        self.metrics = metrics or Metrics()
        self._fetch, self._clock = fetch, clock
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._missing: dict[str, float] = {}  # name -> until
        self._down: dict[Peer, float] = {}  # peer -> until

    @property
    def budget(self) -> float:
        """The longest one fetch may take: every peer its timeout."""
        return self.timeout * len(self.peers)

    def fetch(self, name: str) -> bytes | None:
        """The file from the first peer that has it; None when none has it (or all are busy)."""
        if self._known_missing(name):
            self.metrics.proxy_answers.labels("cached").inc()
            return None
        if not self._slots.acquire(timeout=self.budget):
            self.metrics.proxy_answers.labels("busy").inc()
            log_event("proxy_busy", logging.WARNING, file=name)
            return None
        try:
            return self._ask_peers(name)
        finally:
            self._slots.release()

    def _ask_peers(self, name: str) -> bytes | None:
        started = self._clock()
        for peer in self.peers:
            if self._is_down(peer):
                self.metrics.peer_requests.labels(peer_text(peer), "skipped").inc()
                continue
            result, data = self._ask(peer, name)
            self.metrics.peer_requests.labels(peer_text(peer), result).inc()
            if data is not None:
                self.metrics.proxy_answers.labels("found").inc()
                log_event("config_file_proxied", file=name, peer=peer_text(peer), bytes=len(data),
                          ms=round((self._clock() - started) * 1000))
                return data
        with self._lock:
            if len(self._missing) >= MAX_NAMES:
                self._forget_expired()
            self._missing[name] = self._clock() + self.negative_seconds
        self.metrics.proxy_answers.labels("not_found").inc()
        log_event("config_file_not_at_peers", file=name, peers=len(self.peers))
        return None

    def _ask(self, peer: Peer, name: str) -> tuple[str, bytes | None]:
        try:
            return "found", self._fetch(peer[0], peer[1], name, self.timeout)
        except FileNotFoundError:
            return "not_found", None
        except TimeoutError:
            with self._lock:
                self._down[peer] = self._clock() + self.negative_seconds
            log_event("peer_timeout", logging.WARNING, peer=peer_text(peer), file=name, seconds=self.timeout)
            return "timeout", None
        except (tftp_client.PeerError, OSError) as exc:  # refused, broke the protocol, unreachable
            log_event("peer_failed", logging.WARNING, peer=peer_text(peer), file=name,
                      error=f"{type(exc).__name__}: {exc}"[:200])
            return "error", None

    def _known_missing(self, name: str) -> bool:
        with self._lock:
            until = self._missing.get(name)
            return until is not None and until > self._clock()

    def _is_down(self, peer: Peer) -> bool:
        with self._lock:
            until = self._down.get(peer)
            return until is not None and until > self._clock()

    def _forget_expired(self) -> None:
        now = self._clock()
        self._missing = {n: until for n, until in self._missing.items() if until > now}
        if len(self._missing) >= MAX_NAMES:
            self._missing.clear()
