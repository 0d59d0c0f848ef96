"""Every command docs/deploy/README.md shows runs, as written, and sets up what it says:
the product and Kamailio on one host (a phone registers), on several hosts sharing
PostgreSQL (a phone known through host B registers through Kamailio on host A), and
Kamailio as the Debian unit. ``deploy_readme.py`` does the work inside private
network, mount and PID namespaces (the README's 10.0.0.x addresses on their own
loopback, /etc, /var/lib and /run as overlays): nothing leaves them, nothing on
this machine changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).parent / "deploy_readme.py"


def test_every_command_of_the_deploy_readme_runs(tmp_path):
    if shutil.which("kamailio") is None:
        pytest.skip("kamailio is not installed (Debian: kamailio, kamailio-utils-modules)")
    for tool, package in (("sipp", "sip-tester"), ("unshare", "util-linux"), ("ip", "iproute2"), ("curl", "curl")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian: {package})")
    probe = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"this test needs network, mount and PID namespaces (root, or a privileged container): "
                    f"{probe.stderr.strip()}")
    try:
        run = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
                              "--propagation", "private", sys.executable, str(DRIVER), str(tmp_path)],
                             capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the README's commands took more than 900 s:\n{(exc.stdout or b'')[-6000:]!r}")
    assert run.returncode == 0 and "ALL README COMMANDS RAN" in run.stdout, \
        (run.stdout[-8000:] + "\n" + run.stderr[-4000:])
