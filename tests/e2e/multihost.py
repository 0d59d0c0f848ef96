"""Two hosts of the product on one PostgreSQL, as docs/deploy/README.md's
"Several hosts on PostgreSQL" lays them out, for tests/e2e/test_multihost.py.

Network namespaces (``netns.Hosts``): ``a`` (10.0.0.5) and ``b`` (10.0.0.6)
each run ``phone-migration serve`` (one IVR worker, TFTP on 69); ``front`` holds
the bridge with 10.0.0.4 (HAProxy, Kamailio, the test's own clients) and
10.0.0.7 (PostgreSQL). The database role and database are the README's ``sql``
block, HAProxy's file its ``sh`` block's, Kamailio's file comes from
``kamailio-config`` with the README's options. Every process is started with
its own process group and its log in the work directory.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy.engine import make_url

REPO = Path(__file__).parents[2]
README = REPO / "docs" / "deploy" / "README.md"
SECTION = "Several hosts on PostgreSQL"
BIN = Path(sys.executable).parent
FRONT, DB = "10.0.0.4", "10.0.0.7"
HOSTS = {"a": "10.0.0.5", "b": "10.0.0.6"}
CALLCONTROL_TOKEN = "multihost-callcontrol-0123456789"
IVR_PORT = 5071


def readme_blocks(language: str) -> list[str]:
    """The ```language blocks of the README's "Several hosts on PostgreSQL" section."""
    text = README.read_text()
    section = text.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    found, block, fence = [], [], None
    for line in section.splitlines(keepends=True):
        if fence is None and line.startswith("```"):
            fence, block = line[3:].strip(), []
        elif fence is not None and line.rstrip() == "```":
            if fence == language:
                found.append("".join(block))
            fence = None
        elif fence is not None:
            block.append(line)
    return found


def pg_hba() -> tuple[str, ...]:
    """The README's pg_hba.conf lines (the hosts, by password), then this test's own clients in ``front``."""
    [block] = [b for b in readme_blocks("") if b.startswith("host ")]
    return (*block.splitlines(), f"host all postgres {FRONT}/32 trust",
            f"host phone_migration phone_migration {FRONT}/32 scram-sha-256")


def haproxy_config() -> str:
    """The file the README's sh block writes (its heredoc)."""
    [block] = [b for b in readme_blocks("sh") if "haproxy.cfg" in b]
    return re.search(r"<<'END'\n(.*?)^END$", block, re.M | re.S)[1]


def wait_until(predicate, timeout: float, what: str, every: float = 0.2):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except OSError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def http(method: str, url: str, body: dict | None = None, token: str | None = None,
         timeout: float = 30) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def run(argv: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert r.returncode == 0, f"{' '.join(argv)}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    return r


class Site:
    """The database, both hosts, HAProxy and Kamailio; ``stop()`` ends what it started."""

    def __init__(self, workdir: Path, net, admin_url: str) -> None:
        self.dir, self.net = workdir, net
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        try:
            self._start(admin_url)
        except BaseException:
            self.stop()
            raise

    def _start(self, admin_url: str) -> None:
        [sql] = readme_blocks("sql")
        admin = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
        run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-q"], input=sql)
        self.url = make_url(admin_url).set(username="phone_migration", password="secret",
                                           database="phone_migration").render_as_string(hide_password=False)
        self.cli("init-db", "--demo")
        self.token = self.cli("tokens", "create", "multihost", "--scope", "read", "--scope", "write"
                              ).stdout.strip().rsplit(" ", 1)[-1]
        shared = self.dir / "shared"
        for sub in ("loads", "licenses"):
            (shared / sub).mkdir(parents=True)
        self.load = b"multihost load " * 300
        (shared / "loads" / "sip88xx.14-2-1-0101-26.loads").write_bytes(self.load)
        for host, address in HOSTS.items():
            config = self.dir / f"{host}.toml"
            config.write_text(
                f'[web]\nhost = "{address}"\npublic_url = "http://{FRONT}:8080"\n'
                f'[config_http]\nhost = "{address}"\n[tftp]\nhost = "{address}"\nport = 69\n'
                f'[callmanager]\nhost = "{FRONT}"\n[files]\nloads_dir = "{shared / "loads"}"\n'
                f'licenses_dir = "{shared / "licenses"}"\n[ivr]\nhost = "{address}"\nworkers = 1\nport = {IVR_PORT}\n'
                f'[callcontrol]\ntoken = "{CALLCONTROL_TOKEN}"\nkamailio_rpc_url = "http://{FRONT}:5081/RPC"\n')
            self.spawn(host, host, [str(BIN / "phone-migration"), "serve", "--config", str(config)])
        for host, address in HOSTS.items():
            wait_until(lambda: self.alive(host) and self.health(address).get("ivr", {}).get("up") == 1, 120,
                       f"host {host} serving with its IVR worker up")
        (self.dir / "haproxy.cfg").write_text(haproxy_config())
        run(["haproxy", "-c", "-f", str(self.dir / "haproxy.cfg")])
        self.spawn("haproxy", "front", ["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")])
        wait_until(lambda: self.alive("haproxy") and self.health(FRONT).get("status") == "ok", 30, "HAProxy")
        self._kamailio()

    def _kamailio(self) -> None:
        rundir = self.dir / "kamailio-run"
        rundir.mkdir()
        self.ctl = f"unix:{rundir}/kamailio_ctl"
        cfg = self.dir / "kamailio.cfg"
        self.cli("kamailio-config", "--config", str(self.dir / "a.toml"), "--listen", FRONT, "--rpc", f"{FRONT}:5081",
                 "--workers-hosts", ",".join(HOSTS.values()), "--callback-url", f"http://{FRONT}:8080/callcontrol",
                 "--ctl-socket", self.ctl, "--dispatcher-list", str(self.dir / "ivr-workers.list"), "-o", str(cfg))
        self.spawn("kamailio", "front", ["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "64", "-M", "8", "-w",
                                         str(self.dir), "-Y", str(rundir), "-P", str(rundir / "kamailio.pid")])
        wait_until(lambda: self.alive("kamailio") and self.kamcmd("dispatcher.list").count("FLAGS: AP") == 2, 40,
                   "both hosts' IVR workers active in Kamailio's dispatcher")

    # --- processes ------------------------------------------------------------------------
    def spawn(self, name: str, where: str, argv: list[str]) -> None:
        self.logs[name] = self.dir / f"{name}.log"
        env = dict(os.environ, PHONE_MIGRATION_DATABASE_URL=self.url, PATH=f"{BIN}:{os.environ['PATH']}")
        with open(self.logs[name], "ab") as log:
            self.procs[name] = subprocess.Popen(self.net.argv(where, *argv), cwd=self.dir, env=env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self, name: str) -> bool:
        assert self.procs[name].poll() is None, f"{name} exited:\n{self.log(name)[-4000:]}"
        return True

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def events(self, host: str, event: str) -> list[dict]:
        found = []
        for line in self.log(host).splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return [e for e in found if e.get("event") == event]

    def kill_host(self, host: str) -> None:
        """SIGKILL to every process of the host (its namespace): serve and its IVR worker at once."""
        self.net.kill_all(host, signal.SIGKILL)
        self.procs[host].wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # --- clients ----------------------------------------------------------------------------
    def cli(self, *argv: str) -> subprocess.CompletedProcess:
        return run([str(BIN / "phone-migration"), "--database", self.url, *argv], timeout=120, cwd=self.dir)

    def health(self, address: str) -> dict:
        status, body = http("GET", f"http://{address}:8080/healthz", timeout=5)
        return json.loads(body) if body.startswith(b"{") else {"http": status}

    def kamcmd(self, *args: str) -> str:
        return subprocess.run(["kamcmd", "-s", self.ctl, *args], capture_output=True, text=True, timeout=10).stdout

    def api(self, method: str, address: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        status, data = http(method, f"http://{address}:8080/api/v1{path}", body, self.token)
        return status, json.loads(data) if data else {}

    def config_file(self, address: str, name: str) -> bytes:
        status, data = http("GET", f"http://{address}:6970/{name}", timeout=10)
        assert status == 200, (status, data[:500])
        return data

    def tftp(self, address: str, name: str) -> bytes:
        out = self.dir / f"tftp-{address}-{name}-{time.monotonic_ns()}"
        run(["tftp", address, "69", "-m", "binary", "-c", "get", name, str(out)], timeout=30)
        return out.read_bytes()
