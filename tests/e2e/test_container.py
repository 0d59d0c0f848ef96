"""H-4: the container (Dockerfile, container/). No container engine runs on these machines, so
what can be checked without one is: the Dockerfile's promises (an init, a volume, the RTP range
the workers use, pinned dependencies, the health check on the configured port), then its entry
command run as written with its environment, /app and /data mapped to the tree and a temporary
folder, on loopback ports: Kamailio in front of two IVR workers, healthy, answering SIP, and
everything gone after one SIGTERM to the init."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ivr.worker import RTP_BASE, RTP_PORTS, RTP_SLOTS

sys.path.insert(0, str(Path(__file__).parent))
from sip_raw import RawCaller, one_request  # noqa: E402
from test_server import free_port  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def one(name: str) -> str:
    [value] = [rest for word, rest in instructions() if word == name]
    return value


def env() -> dict[str, str]:
    values = {}
    for word, rest in instructions():
        if word == "ENV":
            values.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    return values


def test_h4_the_image_has_an_init_a_volume_and_a_health_check_on_the_configured_port():
    """H-4: tini as PID 1 (reaps, passes SIGTERM to the group); /data a volume holding the database, loads
    and licenses; the health check asks the configured web port (container/healthcheck.py)."""
    entry = json.loads(one("ENTRYPOINT"))
    assert entry[:3] == ["tini", "-g", "--"] and entry[3] == "/app/container/entrypoint.sh"
    assert "tini" in next(rest for word, rest in instructions() if word == "RUN" and "apt-get install" in rest)
    assert json.loads(one("VOLUME")) == ["/data"]
    values = env()
    for key in ("PHONE_MIGRATION_DATABASE_URL", "PHONE_MIGRATION_FILES__LOADS_DIR",
                "PHONE_MIGRATION_FILES__LICENSES_DIR"):
        assert "/data/" in values[key], key
    assert json.loads(one("HEALTHCHECK").split(" CMD ", 1)[1]) == ["python", "/app/container/healthcheck.py"]
    assert "8080" not in one("HEALTHCHECK")


def test_h4_the_exposed_ports_cover_sip_and_every_workers_rtp_range():
    """H-4: RTP goes to the IVR workers' own ranges (ivr.worker: 100 ports from 10000 + (port % 200) * 100):
    the image exposes those of up to 4 workers from its ivr.port, and SIP, TFTP, the web and config ports."""
    exposed = one("EXPOSE").split()
    ranges = [tuple(map(int, p.split("/")[0].split("-"))) for p in exposed if p.endswith("/udp") and "-" in p]
    first = int(env()["PHONE_MIGRATION_IVR__PORT"])
    assert int(env()["PHONE_MIGRATION_IVR__WORKERS"]) <= 4
    for port in range(first, first + 4):
        low = RTP_BASE + (port % RTP_SLOTS) * RTP_PORTS
        assert any(a <= low and low + RTP_PORTS - 1 <= b for a, b in ranges), (port, ranges)
    assert {"5060/udp", "5060/tcp", "69/udp", "8080/tcp", "6970/tcp"} <= set(exposed)


def test_h4_dependencies_are_installed_from_the_lock_and_the_lock_is_this_venvs():
    """H-4: the image installs container/requirements.lock (every package pinned), then the product with
    --no-deps; the lock names every dependency of pyproject.toml and matches the venv the tests ran in."""
    runs = [rest for word, rest in instructions() if word == "RUN" and "pip install" in rest]
    assert "-r container/requirements.lock" in runs[0] and "--no-deps ." in runs[1]
    lock = (REPO / "container" / "requirements.lock").read_text().splitlines()
    pins = dict(line.split("==") for line in lock if line and not line.startswith("#"))
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version) for version in pins.values())
    wanted = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {canonicalize_name(Requirement(d).name) for d in wanted} <= set(pins)
    check = subprocess.run([sys.executable, str(REPO / "container" / "lock.py"), "--check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def healthy(argv: list[str], environ: dict[str, str]) -> bool:
    return subprocess.run(argv, env=environ, capture_output=True, timeout=30).returncode == 0


@contextlib.contextmanager
def entry_command(tmp_path: Path, **settings: str):
    """The image's entry command as it runs it (its environment, /app and /data mapped to the tree and a
    temporary folder, loopback ports), healthy with both IVR workers up: (environment, /data, web port).
    After the block, one SIGTERM to tini; it must end everything, Kamailio included."""
    for tool in ("tini", "kamailio"):
        if shutil.which(tool, path=f"/usr/sbin:/usr/bin:{os.environ['PATH']}") is None:
            pytest.fail(f"{tool} is not installed (Debian: {tool})")
    data = tmp_path / "data"
    data.mkdir()

    def mapped(value: str) -> str:
        return value.replace("/app/", f"{REPO}/").replace("/data", str(data))

    environ = {key: mapped(value) for key, value in env().items()}
    web = free_port()
    environ.update(
        PATH=f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", HOME=str(data), PM_ADVERTISED_ADDRESS="127.0.0.1",
        PM_SIP_PORT=str(free_port(socket.SOCK_DGRAM)), PM_KAMAILIO_RPC_PORT=str(free_port()),
        PHONE_MIGRATION_WEB__PORT=str(web), PHONE_MIGRATION_CONFIG_HTTP__PORT=str(free_port()),
        PHONE_MIGRATION_TFTP__PORT=str(free_port(socket.SOCK_DGRAM)),
        PHONE_MIGRATION_IVR__PORT=str(free_port(socket.SOCK_DGRAM)), PYTHONPATH=str(REPO))
    environ.update(settings)
    argv = [mapped(word) for word in json.loads(one("ENTRYPOINT")) + json.loads(one("CMD"))] + ["--demo"]
    check = [mapped(word).replace("python", str(BIN / "python"), 1)
             for word in json.loads(one("HEALTHCHECK").split(" CMD ", 1)[1])]
    log = open(tmp_path / "container.log", "wb")
    proc = subprocess.Popen(argv, env=environ, cwd=data, stdout=log, stderr=subprocess.STDOUT)
    kamailio = None
    try:
        deadline = time.monotonic() + 120
        while not healthy(check, environ):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "container.log").read_text()[-4000:]
            time.sleep(0.5)
        # Healthy means one worker up; the second may still be starting: wait for it, bounded.
        for _ in range(100):
            with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=10) as response:
                ivr = json.loads(response.read())["ivr"]
            if ivr["up"] == 2:
                break
            time.sleep(0.2)
        assert ivr["status"] == "ok" and ivr["up"] == 2 and ivr["sip_front"] == "kamailio"
        kamailio = int((data / "kamailio" / "run" / "kamailio.pid").read_text())
        yield environ, data, web
    finally:
        proc.send_signal(signal.SIGTERM)  # docker stop: to the init, which hands it to the group
        try:
            code = proc.wait(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert code in (0, 143), (tmp_path / "container.log").read_text()[-4000:]
    deadline = time.monotonic() + 10
    while kamailio is not None and Path(f"/proc/{kamailio}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kamailio is None or not Path(f"/proc/{kamailio}").exists(), "Kamailio outlived the container's init"


def test_h4_the_entry_command_runs_kamailio_in_front_of_the_ivr_and_stops_on_one_sigterm(tmp_path):
    """H-4, R-7: the entry command as the image runs it: Kamailio on the advertised address in front of
    two IVR workers on loopback, the health check green, SIP answered; one SIGTERM to tini ends it all."""
    with entry_command(tmp_path) as (environ, data, web):
        assert (data / "phone-migration.db").exists() and (data / "loads").is_dir() and (data / "licenses").is_dir()
        ivr_port = environ["PHONE_MIGRATION_IVR__PORT"]
        assert "127.0.0.1:" + ivr_port in (data / "kamailio" / "ivr-workers.list").read_text()
        assert one_request(int(environ["PM_SIP_PORT"]), "OPTIONS").status == 200  # Kamailio answers on its port
        assert "advertise" not in (data / "kamailio" / "kamailio.cfg").read_text()


def test_h4_behind_port_mapping_sip_and_the_sdp_name_the_advertised_address(tmp_path):
    """H-4, R-7: ``docker run -p``: phones reach the host's address, mapped to the container's. Kamailio
    listens on the bound address and names the advertised one in Record-Route; the IVR's SDP names it
    too while its RTP is bound here (here 127.0.0.1 bound, 127.0.0.2 advertised)."""
    with entry_command(tmp_path, PM_ADVERTISED_ADDRESS="127.0.0.2", PM_BIND_ADDRESS="127.0.0.1") as (environ, data, _):
        port = int(environ["PM_SIP_PORT"])
        assert f"udp:127.0.0.1:{port} advertise 127.0.0.2:{port}" in (data / "kamailio" / "kamailio.cfg").read_text()
        caller = RawCaller(port)  # to Kamailio, which relays to a worker
        try:
            dialog = caller.invite()
            ok = caller.until_final(dialog)
            assert ok.status == 200, ok
            assert any("127.0.0.2" in route for route in ok.all("Record-Route")), ok.all("Record-Route")
            assert re.findall(r"^c=IN IP4 (\S+)", ok.body, re.M) == ["127.0.0.2"], ok.body
            caller.ack(dialog, ok)  # to the Record-Route's advertised address: nobody there in this test
        finally:
            caller.close()
