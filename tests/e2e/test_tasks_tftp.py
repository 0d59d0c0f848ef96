"""F-5, F-6, T-5 end to end: after a bulk task completes, a real TFTP client
fetching a migrated phone's SEP<MAC>.cnf.xml sees the target load, and the
phone's license file is served for its own MAC and for no other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
from test_server import BIN, Server, tool  # noqa: E402

pytestmark = pytest.mark.slow
HEADER = "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan"


def cli(server, *args, input_file=None):
    out = subprocess.run([str(BIN / "phone-migration"), "--database", server.url, *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_f6_task_reaches_the_config_file_and_f5_license_only_for_its_mac(tmp_path_factory, tmp_path):
    server = Server(tmp_path_factory.mktemp("tasks"))
    try:
        fleet = tmp_path / "fleet.csv"
        # bob's 8851 (SEP001122330002) and olivia's 7841 (SEP001122330033), both in the demo at location HQ/Hub_None
        fleet.write_text(HEADER + "\nUSER,bob@example.com,,,IP,8851,001122330002,HQ_DP,False"
                                  "\nUSER,olivia@example.com,,,IP,7841,001122330033,Hub_None,False\n")
        cli(server, "tasks", "create", "e2e-fleet", "--direction", "e2m")
        upload = cli(server, "tasks", "upload", "e2e-fleet", str(fleet), "--location", "HQ_DP", "--location", "Hub_None")
        assert "Added: 2\nRefused rows: 0" in upload  # F-6b: a bad row is refused
        cli(server, "tasks", "start", "e2e-fleet", "--tftp-server", "127.0.0.1")
        report = cli(server, "tasks", "report", "e2e-fleet")
        assert "complete" in report.lower()

        (server.dir / "licenses" / "001122330002.lic").write_bytes(b"LICENSE-FOR-BOB")
        out = tmp_path / "bob.xml"
        tool("tftp", "127.0.0.1", str(server.tftp), "-m", "binary", "-c", "get", "SEP001122330002.cnf.xml", str(out))
        load = etree.fromstring(out.read_bytes()).findtext("loadInformation")
        assert "MPP" in load, load  # the F-4 target MPP load reached the phone's file
        r = tool("curl", "-sS", f"tftp://127.0.0.1:{server.tftp}/001122330002.lic")
        assert r.stdout == b"LICENSE-FOR-BOB"
        r = tool("curl", "-sS", f"tftp://127.0.0.1:{server.tftp}/001122330033.lic")
        assert r.returncode == 68 and r.stdout == b""  # no license of another MAC is ever served
    finally:
        assert server.stop() == 0
