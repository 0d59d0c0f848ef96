"""What one "Replace an existing phone" flow costs the server, counted in
instructions: the same number on a fast or a slow hour of this VM.

``bench/screens.py`` measures flows/s and latency, which is what the target
asks, but this VM's speed swings by a third within minutes, so two trees can
only be compared there in alternating runs. Here the server (Twisted, the
screens' bridge, Flask, SQLite: ``phoneservice.processes.server.web_site``) runs in one
process under valgrind's cachegrind, and a client in another process walks
the flow over real HTTP. The count of 40 flows minus the count of 5 flows,
over 35, is the cost of a flow without the start-up; it moves by about 0.3 %
from run to run.

    python bench/screens_cost.py                  # this tree
    python bench/screens_cost.py --peer HEAD~3    # and a git revision, in the same go

Prints instructions per flow, the part of them one argon2 PIN check is (a
fixed cost: ``models/auth.py``), and with ``--peer`` the ratio. Needs
valgrind (Debian ``valgrind``). Instructions are not time: argon2 runs about
three times more instructions per cycle than the interpreter does.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMALL, LARGE = 5, 40
USERS = LARGE


def serve(flows: int, url: str, ready: Path) -> None:
    """The server under valgrind: stops after ``flows`` Success screens."""
    from twisted.internet import reactor

    from phoneservice.config import load_config
    try:
        from phoneservice.processes.server import build_services, web_site
    except ImportError:  # a --peer revision from before phoneservice/ had subpackages
        from phoneservice.server import build_services, web_site

    config = load_config(database={"url": url})
    services = build_services(config)
    site, pools = web_site(config, services, reactor)
    for pool in pools:
        pool.start()
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    ready.write_text(str(port.getHost().port))
    done = [0]
    original = site.log

    def log(request) -> None:  # the access log of each answer: count the confirms
        original(request)
        if request.path == b"/screens/confirm":
            done[0] += 1
            if done[0] == flows:
                reactor.callLater(0.2, reactor.stop)  # once the answer has gone out

    site.log = log
    reactor.callLater(600, reactor.stop)  # bounded, whatever the client does
    reactor.run()
    for pool in pools:
        pool.stop()
    services.close()


def walk(flows: int, port: int) -> None:
    """The client: ``flows`` replace flows, one after another, over one connection."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    from lxml import etree

    sys.path.insert(0, str(HERE))
    from screens import HEADERS, pin_of

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(url: str):
        parts = urlsplit(url)
        connection.request("GET", parts.path + "?" + parts.query, headers=HEADERS)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status} on {parts.path}")
        return etree.fromstring(body)

    for i in range(flows):
        doc = get(f"http://127.0.0.1/screens/?name=SEP0033{i:08X}")
        doc = get(next(m.findtext("URL") for m in doc.findall("MenuItem") if "Replace" in m.findtext("Name")))
        doc = get(doc.findtext("URL") + "&" + urlencode({"ext": f"4{i:04d}"}))
        doc = get(doc.findtext("URL") + "&" + urlencode({"pin": pin_of(i)}))
        keys = {k.findtext("Name"): k.findtext("URL") for k in doc.findall("SoftKeyItem")}
        doc = get(keys["Confirm"])
        if doc.findtext("Prompt") != "Success":
            raise SystemExit(f"flow {i} did not succeed")


def counted(argv: list[str], tree: Path) -> tuple[int, subprocess.Popen]:
    out = tempfile.NamedTemporaryFile(prefix="cachegrind-", delete=False).name
    process = subprocess.Popen(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
                                sys.executable, *argv], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return out, process


def instructions(stderr: str) -> int:
    found = re.search(r"I\s+refs:\s+([\d,]+)", stderr)
    if not found:
        raise SystemExit("valgrind printed no instruction count:\n" + stderr[-2000:])
    return int(found.group(1).replace(",", ""))


def run_flows(tree: Path, site: Path, flows: int) -> int:
    work = Path(tempfile.mkdtemp(prefix="screens-cost-"))
    try:
        shutil.copy(site, work / "site.db")
        ready = work / "port"
        out, server = counted([str(Path(__file__).resolve()), "--serve", str(flows), f"sqlite:///{work / 'site.db'}",
                               str(ready)], tree)
        for _ in range(1200):  # valgrind starts Python slowly: up to 2 minutes
            if ready.exists() and ready.read_text():
                break
            if server.poll() is not None:
                raise SystemExit("the server under valgrind exited:\n" + server.stderr.read()[-2000:])
            time.sleep(0.1)
        client = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--walk", str(flows), ready.read_text()],
                                cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, timeout=900)
        _, stderr = server.communicate(timeout=900)
        os.unlink(out)
        if client.returncode:
            raise SystemExit(f"the client failed on {tree}")
        return instructions(stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def per_flow(tree: Path, site: Path) -> float:
    return (run_flows(tree, site, LARGE) - run_flows(tree, site, SMALL)) / (LARGE - SMALL)


def argon2_check(tree: Path) -> float:
    """One PIN check at the server's own cost (``models.rules.auth``)."""
    code = ("import sys; from models.rules.auth import hash_secret, verify_secret; h = hash_secret('493817');"
            "[verify_secret(h, '493817') for _ in range(int(sys.argv[1]))]")
    counts = []
    for n in (1, 11):
        out, process = counted(["-c", code, str(n)], tree)
        counts.append(instructions(process.communicate(timeout=600)[1]))
        os.unlink(out)
    return (counts[1] - counts[0]) / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", metavar="REV", help="also count a git revision of this repository")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--walk", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(int(args.serve[0]), args.serve[1], Path(args.serve[2]))
    if args.walk:
        return walk(*args.walk)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    work = Path(tempfile.mkdtemp(prefix="screens-cost-site-"))
    sys.path.insert(0, str(HERE))
    from peer import worktree
    from screens import build_site

    try:
        build_site(f"sqlite:///{work / 'site.db'}", USERS)
        with worktree(args.peer, work) as peer_tree:
            report(args.peer, peer_tree, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(rev: str | None, peer_tree: Path | None, work: Path) -> None:
    """Instructions a screens flow on this tree, and on the peer's (``rev``) when there is one."""
    mine = per_flow(ROOT, work / "site.db")
    check = argon2_check(ROOT)
    print(f"this tree: {mine / 1e6:.2f} M instructions a flow, of which one argon2 PIN check {check / 1e6:.2f} M "
          f"({check / mine:.0%}); the rest {(mine - check) / 1e6:.2f} M")
    if peer_tree is not None:
        theirs = per_flow(peer_tree, work / "site.db")
        print(f"peer {rev}: {theirs / 1e6:.2f} M instructions a flow; the rest {(theirs - check) / 1e6:.2f} M")
        rest = (mine - check) / (theirs - check)
        print(f"ratio, this tree to the peer: {mine / theirs:.3f} (without the PIN check: {rest:.3f})")


if __name__ == "__main__":
    main()
