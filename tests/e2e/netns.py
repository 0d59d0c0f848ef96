"""Linux network namespaces as "hosts" for tests/e2e/test_multihost.py.

``Hosts`` makes one namespace per host plus a ``front`` one holding a bridge
that joins them (a veth pair per host, made from inside ``front`` so nothing
is added to this machine's own namespace), runs commands in them (``ip netns
exec``), kills every process left in them and deletes them. ``inside(name)``
moves the calling thread into a namespace for a while (``setns``), so a test's
own sockets and the tools it starts talk from there.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def why_not() -> str | None:
    """None when namespaces can be made here, else why not (for a skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "ip is not installed (Debian: iproute2)"
    probe = f"pm-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*argv: str) -> None:
    r = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, f"ip {' '.join(argv)}: {r.stderr.strip()}"


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


@contextmanager
def inside(name: str) -> Iterator[None]:
    """The calling thread in namespace ``name`` (threads it starts too), then back where it was."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(f"/run/netns/{name}")
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the test's own namespace")
    finally:
        os.close(home)


class Hosts:
    """``front`` (``front_addresses`` on its bridge) and one namespace per ``hosts`` entry (name -> address)."""

    def __init__(self, tag: str, front_addresses: tuple[str, ...], hosts: dict[str, str], prefix: int = 24) -> None:
        self.front = f"pm{tag}-front"
        self.names = {host: f"pm{tag}-{host}" for host in hosts}
        self.made: list[str] = []
        try:
            for ns in (self.front, *self.names.values()):
                _ip("netns", "add", ns)
                self.made.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", self.front, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.front, "link", "set", "br0", "up")
            for address in front_addresses:
                _ip("-n", self.front, "addr", "add", f"{address}/{prefix}", "dev", "br0")
            for i, (host, address) in enumerate(hosts.items()):
                ns, port = self.names[host], f"v{i}"
                _ip("-n", self.front, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("-n", self.front, "link", "set", port, "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{address}/{prefix}", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
        except BaseException:
            self.remove()
            raise

    def argv(self, host: str, *argv: str) -> list[str]:
        """``argv`` run in ``host``'s namespace (``front`` for the front one)."""
        return ["ip", "netns", "exec", self.front if host == "front" else self.names[host], *argv]

    def pids(self, ns: str) -> list[int]:
        r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=20)
        return [int(p) for p in r.stdout.split()]

    def kill_all(self, host: str, sig: int = signal.SIGKILL, timeout: float = 20) -> None:
        """Every process in ``host``'s namespace gets ``sig``; wait (bounded) until none is left."""
        ns = self.front if host == "front" else self.names[host]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.pids(ns)
            if not left:
                return
            for pid in left:
                if pid == os.getpid():
                    raise AssertionError(f"this test's own process is in {ns}: leave it first (inside())")
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"processes left in {ns}: {self.pids(ns)}")

    def remove(self) -> None:
        """Kill what still runs in the namespaces, then delete them (their veths and the bridge go with them)."""
        for ns in self.made:
            for pid in self.pids(ns):
                if pid == os.getpid():
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in reversed(self.made):
            for _ in range(50):
                if subprocess.run(["ip", "netns", "del", ns], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
        self.made.clear()
