"""Runs every ``sh`` block of docs/deploy/README.md as written, for tests/e2e/test_deploy_readme.py.

Started inside private network, mount and PID namespaces (``unshare``): the
README's addresses (10.0.0.5, 10.0.0.6) are put on the namespace's loopback, so
nothing it sends leaves it; ``/etc``, ``/var/lib`` and ``/run`` are overlays
whose writes land in the work directory; every process started here ends with
this one (PID namespace). ``systemctl`` is a stand-in that runs the Debian
unit's ``ExecStart`` as the user ``kamailio``.

The blocks run in order, each in bash (``set -euo pipefail``) with the shell
variables and exports of the blocks before it, like one terminal session. The
only changes: the PostgreSQL URL assigned in "Several hosts" is the throwaway
cluster's, and the per-host block runs a second time with ``HOST=10.0.0.5``
("then the same on 10.0.0.5"). Between the sections this script plays the
phone (SIPp over TCP) and checks what the commands set up.

    unshare --net --mount --pid --fork --mount-proc --propagation private python deploy_readme.py WORKDIR
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parents[1]
README = REPO / "docs" / "deploy" / "README.md"
sys.path.insert(0, str(HERE.parent))
import pgcluster  # noqa: E402

ADDRESSES = ("10.0.0.5", "10.0.0.6")
SECTIONS = {"One host": 1, "Checking": 1, "Several hosts": 3, "Several hosts on PostgreSQL": 2,
            "Kamailio as a Debian service": 1, "Backups and upgrades": 2}
BLOCK_TIMEOUT = 180
SYSTEMCTL = """#!/bin/bash
# systemctl for tests/e2e/deploy_readme.py: the Debian kamailio unit's ExecStart, as its user, waiting like
# Type=forking with PIDFile for the pid file (and the control socket kamcmd needs).
set -euo pipefail
[ "$*" = "restart kamailio" ] || { echo "systemctl stand-in: only 'restart kamailio', not '$*'" >&2; exit 1; }
if [ -f /run/kamailio/kamailio.pid ]; then kill "$(cat /run/kamailio/kamailio.pid)" || true; sleep 1; fi
install -d -o kamailio -g kamailio -m 0770 /run/kamailio
CFGFILE=/etc/kamailio/kamailio.cfg SHM_MEMORY=64 PKG_MEMORY=8
runuser -u kamailio -- /usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY
for _ in $(seq 100); do [ -f /run/kamailio/kamailio.pid ] && [ -S /run/kamailio/kamailio_ctl ] && exit 0; sleep 0.1; done
echo "kamailio did not start" >&2; exit 1
"""


def blocks() -> list[tuple[str, str]]:
    """(section, text) of every ```sh block, in order."""
    found, section, block = [], "", None
    for line in README.read_text().splitlines(keepends=True):
        if block is not None:
            if line.rstrip() == "```":
                found.append((section, "".join(block)))
                block = None
            else:
                block.append(line)
        elif line.startswith("## "):
            section = line[3:].strip()
        elif line.rstrip() == "```sh":
            block = []
    return found


class Session:
    """One terminal: each block in bash with what the earlier blocks exported and set."""

    def __init__(self, workdir: Path, path: str) -> None:
        self.dir, self.state = workdir, workdir / "session.env"
        self.state.write_text(f"export PATH={path}\n")
        self.groups: list[int] = []
        self.ran = 0

    def run(self, section: str, block: str, replace: dict[str, str] | None = None) -> None:
        for pattern, value in (replace or {}).items():
            block, n = re.subn(pattern, value, block, flags=re.M)
            assert n == 1, f"{pattern!r} not in the block of {section!r}"
        script = f"source {self.state}\nset -euo pipefail\n{block}\n" \
                 f"{{ export -p; declare -p | grep -E '^declare -- (HOST|TOKEN)='; }} > {self.state}\n"
        self.ran += 1
        log = self.dir / f"block{self.ran}.log"
        print(f"--- {section}: block {self.ran}", flush=True)
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", script], stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
                                    start_new_session=True)
            self.groups.append(proc.pid)
            try:
                code = proc.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "timeout"
        print(log.read_text(errors="replace")[-3000:], flush=True)
        assert code == 0, f"{section}, block {self.ran}: exit {code}"

    def stop_all(self) -> None:
        """SIGTERM to what the blocks started (serve drains its workers), then SIGKILL."""
        for group in self.groups:
            _signal(group, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(g) for g in self.groups):
            time.sleep(0.2)
        for group in self.groups:
            _signal(group, signal.SIGKILL)
        self.groups.clear()
        _signal_pidfile("/run/kamailio/kamailio.pid")


def _signal(group: int, sig: int) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def _signal_pidfile(path: str) -> None:
    try:
        os.kill(int(Path(path).read_text()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def wait_until(predicate, timeout: float, what: str):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except OSError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def register(workdir: Path, registrar: str, dn: str, mac: str) -> str:
    """SIPp as a Cisco phone registering over TCP; its message log."""
    messages = workdir / f"register-{dn}-{mac}.log"
    r = subprocess.run(["sipp", f"{registrar}:5060", "-sf", str(HERE / "sipp" / "phone_register.xml"), "-t", "t1",
                        "-i", "127.0.0.1", "-p", "25000", "-m", "1", "-nostdin", "-key", "dn", dn, "-key", "mac", mac,
                        "-key", "expires", "600", "-key", "contact_port", "25001", "-d", "0", "-trace_msg",
                        "-message_file", str(messages), "-timeout", "20s"],
                       cwd=workdir, capture_output=True, timeout=40)
    text = messages.read_text(errors="replace") if messages.exists() else ""
    assert r.returncode == 0, f"the REGISTER to {registrar} failed: {text[-2000:]}"
    return text


def auto_register(host: str, mac: str) -> str:
    """A new phone asks for its config file (T-4): the DN it is given."""
    with urllib.request.urlopen(f"http://{host}:6970/SEP{mac}.cnf.xml", timeout=10) as response:
        return re.search(rb"<name>(\d+)</name>", response.read())[1].decode()


def main(workdir: Path) -> int:
    assert os.getpid() == 1, "run me under unshare --pid --fork"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for address in ADDRESSES:
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)
    for top in ("/etc", "/var/lib", "/run"):
        name = top.strip("/").replace("/", "_")
        upper, work = workdir / "overlay" / name, workdir / "overlay" / f"{name}.work"
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={top},upperdir={upper},workdir={work}",
                        top], check=True)
    stubs = workdir / "bin"
    stubs.mkdir()
    (stubs / "systemctl").write_text(SYSTEMCTL)
    (stubs / "systemctl").chmod(0o755)
    found = blocks()
    counts = {s: sum(1 for section, _ in found if section == s) for s in {s for s, _ in found}}
    assert counts == SECTIONS, f"docs/deploy/README.md's sh blocks changed ({counts}): teach {__file__} to run them"
    session = Session(workdir, f"{stubs}:{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin")
    by_section: dict[str, list[str]] = {}
    for section, block in found:
        by_section.setdefault(section, []).append(block)
    try:
        # One host, SQLite; a phone boots (T-4), registers over TCP, the product stores it.
        session.run("One host", by_section["One host"][0])
        dn = wait_until(lambda: auto_register("10.0.0.5", "AABBCCDDEE01"), 30, "auto-registration")
        messages = register(workdir, "10.0.0.5", dn, "AABBCCDDEE01")
        assert "SIP/2.0 200 OK" in messages, messages[-2000:]
        session.run("Checking", by_section["Checking"][0].replace("--search 9000", f"--search {dn}")
                    if dn != "9000" else by_section["Checking"][0])
        # A backup of the running SQLite site holds its phones; the upgrade command leaves it serving.
        session.run("Backups and upgrades", by_section["Backups and upgrades"][0])
        copied = subprocess.run(["sqlite3", "/var/backups/phone-migration/pm.db", "SELECT count(*) FROM device"],
                                capture_output=True, text=True, check=True).stdout
        assert int(copied) >= 1, copied
        session.stop_all()

        # Several hosts, PostgreSQL: 10.0.0.6 and 10.0.0.5, Kamailio on 10.0.0.5.
        with pgcluster.throwaway_cluster() as url:
            once, per_host, kamailio = by_section["Several hosts"]
            session.run("Several hosts", once, {r"^export PHONE_MIGRATION_DATABASE_URL=.*$":
                                                f"export PHONE_MIGRATION_DATABASE_URL={url}"})
            session.run("Several hosts", per_host)
            session.run("Several hosts", per_host, {r"^HOST=10\.0\.0\.6$": "HOST=10.0.0.5"})
            session.run("Several hosts", kamailio)
            ctl = "unix:/var/lib/ivr-kamailio/run/kamailio_ctl"
            wait_until(lambda: subprocess.run(["kamcmd", "-s", ctl, "dispatcher.list"], capture_output=True,
                                              text=True, timeout=10).stdout.count("FLAGS: AP") == 4,
                       40, "the 4 workers of both hosts active")
            # A phone that asked host B for its file registers through Kamailio, which asks host A: one database.
            dn = wait_until(lambda: auto_register("10.0.0.6", "AABBCCDDEE02"), 30, "auto-registration on B")
            assert "SIP/2.0 200 OK" in register(workdir, "10.0.0.5", dn, "AABBCCDDEE02")
            listed = subprocess.run(["phone-migration", "--database", url, "devices", "--search", "AABBCCDDEE02"],
                                    capture_output=True, text=True, timeout=60,
                                    env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
            assert "registered" in listed.stdout and "unregistered" not in listed.stdout, listed.stdout
            # HAProxy's file (checked by haproxy -c), option 150, Kamailio over both hosts with callbacks to HAProxy.
            for block in by_section["Several hosts on PostgreSQL"]:
                session.run("Several hosts on PostgreSQL", block)
            assert "--callback-url http://10.0.0.4:8080/callcontrol" in by_section["Several hosts on PostgreSQL"][1]
            assert "http://10.0.0.4:8080/callcontrol" in Path("/etc/kamailio/kamailio.cfg").read_text()
            session.run("Backups and upgrades", by_section["Backups and upgrades"][1])  # pg_dump of the shared site
            session.stop_all()

            # The Debian unit (its ExecStart, as the user kamailio) with the generated file; the site's
            # database still there (the route point comes from it).
            session.run("Kamailio as a Debian service", by_section["Kamailio as a Debian service"][0])
        assert session.ran == sum(SECTIONS.values()) + 1  # the per-host block twice
        print("ALL README COMMANDS RAN", flush=True)
        return 0
    finally:
        session.stop_all()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
