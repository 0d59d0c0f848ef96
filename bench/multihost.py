"""Screen flows/s and migrations/s with 1, then 2 hosts on one PostgreSQL (issue #18).

Each host is a network namespace running ``phone-migration serve`` (one web
process, no IVR), as tests/e2e/test_multihost.py builds them
(tests/e2e/netns.py); PostgreSQL (tests/pgcluster.py: fsync off) and this
bench's clients share a ``front`` namespace. The bench's clients are spread
over the hosts in turn:

- screen flows: ``--phones`` emulated 8851s in a closed loop (bench/screens.py's
  phone: first screen, Replace, extension, PIN, Confirm; each flow a different
  user and a new MAC, 6 lines migrated);
- migrations: ``--clients`` API clients in a closed loop, each
  ``POST /api/v1/migrate`` of a different old phone to a new 8851.

Every run is checked: every flow ends on "Success" and every migration gets
201, and the database then holds exactly one ``migrated`` record per flow and
per API migration, each new phone carrying its user's extension on line 1.
Anything else prints INVALID instead of the figure.

    python bench/multihost.py [--hosts 1,2] [--flows 300] [--phones 20] [--migrations 300] [--clients 8]

Needs root (ip netns), PostgreSQL's server binaries. This machine's 2 cores
run every host, PostgreSQL and the clients: the figure to read is that
throughput holds as hosts are added, not that it doubles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "bench"))
import netns  # noqa: E402  (tests/e2e/netns.py)
import pgcluster  # noqa: E402  (tests/pgcluster.py)
import screens  # noqa: E402  (bench/screens.py: the site and the emulated phone)

FRONT, DB = "10.0.0.4", "10.0.0.7"
ADDRESSES = ["10.0.0.5", "10.0.0.6", "10.0.0.8"]
BIN = Path(sys.executable).parent


def start_hosts(net: netns.Hosts, url: str, work: Path, count: int) -> list[subprocess.Popen]:
    procs = []
    for i, address in enumerate(ADDRESSES[:count]):
        config = work / f"host{i}.toml"
        config.write_text(f'[web]\nhost = "{address}"\n[config_http]\nhost = "{address}"\n[tftp]\nhost = "{address}"\n'
                          '[ivr]\nworkers = 0\n')
        with open(work / f"host{i}.log", "wb") as log:
            procs.append(subprocess.Popen(
                net.argv(f"h{i}", str(BIN / "phone-migration"), "--database", url, "serve", "--config", str(config)),
                stdout=log, stderr=subprocess.STDOUT, cwd=work, start_new_session=True))
    deadline = time.monotonic() + 90
    for address in ADDRESSES[:count]:
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}:8080/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"INVALID: host {address} did not start (see {work}/host*.log)")
            time.sleep(0.2)
    return procs


async def screen_storm(addresses: list[str], flows: int, phones: int, deadline: float) -> tuple[int, float, list]:
    emulated = [screens.Emulated(8080, addresses[k % len(addresses)]) for k in range(phones)]
    done, failures = [0], []
    stop = time.monotonic() + deadline

    async def run(k: int, phone: screens.Emulated) -> None:
        for i in range(k, flows, phones):
            if time.monotonic() > stop:
                failures.append("deadline")
                return
            try:
                await phone.flow(f"http://{phone.host}:8080", i)
                done[0] += 1
            except Exception as exc:  # counted; the run is then INVALID
                failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                phone.close()
        phone.close()

    began = time.perf_counter()
    await asyncio.gather(*(run(k, p) for k, p in enumerate(emulated)))
    return done[0], time.perf_counter() - began, failures


def migrate(address: str, token: str, i: int) -> int:
    body = json.dumps({"old": f"SEP0022{i:08X}", "mac": f"0044{i:08X}", "model": "8851"}).encode()
    request = urllib.request.Request(f"http://{address}:8080/api/v1/migrate", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def api_storm(addresses: list[str], token: str, first: int, count: int, clients: int) -> tuple[list[int], float]:
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(lambda i: migrate(addresses[i % len(addresses)], token, i), range(first, first + count)))
    return statuses, time.perf_counter() - began


def check(url: str, flows: int, migrations: int) -> list[str]:
    """What the database must hold after the run; each problem as a sentence."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            records = c.execute(text("SELECT count(*), count(DISTINCT old_device_uid) FROM migration_record "
                                     "WHERE outcome = 'migrated'")).one()
            carried = c.execute(text(
                "SELECT count(*) FROM device d JOIN line_appearance la ON la.device_id = d.id "
                "JOIN directory_number n ON n.id = la.dn_id "
                "WHERE la.position = 1 AND (d.name LIKE 'SEP0033%' OR d.name LIKE 'SEP0044%') "
                "AND n.pattern = '4' || lpad(('x' || substr(d.name, 8))::bit(32)::int::text, 4, '0')")).scalar()
    finally:
        engine.dispose()
    want = flows + migrations
    problems = []
    if tuple(records) != (want, want):
        problems.append(f"{records[0]} migrated records for {records[1]} old phones, not {want}")
    if carried != want:
        problems.append(f"{carried} new phones carry their user's extension on line 1, not {want}")
    return problems


def one_run(hosts: int, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"multihost-bench-{hosts}-"))
    net = netns.Hosts(f"b{os.getpid()}", (FRONT, DB), {f"h{i}": ADDRESSES[i] for i in range(hosts)})
    procs: list[subprocess.Popen] = []
    try:
        with netns.inside(net.front), pgcluster.throwaway_cluster(
                prefix="phone-migration-bench-pg-", listen=DB, hba=("host all all 10.0.0.0/24 trust",)) as url:
            screens.build_site(url, args.flows + args.migrations)
            token = subprocess.run([str(BIN / "phone-migration"), "--database", url, "tokens", "create", "bench",
                                    "--scope", "write"], capture_output=True, text=True, timeout=60, check=True
                                   ).stdout.strip().rsplit(" ", 1)[-1]
            procs = start_hosts(net, url, work, hosts)
            addresses = ADDRESSES[:hosts]
            done, wall, failures = asyncio.run(screen_storm(addresses, args.flows, args.phones, args.deadline))
            statuses, api_wall = api_storm(addresses, token, args.flows, args.migrations, args.clients)
            problems = failures[:3] + check(url, args.flows, args.migrations)
            bad = [s for s in statuses if s != 201]
            if bad:
                problems.append(f"{len(bad)} migrations not 201: {sorted(set(bad))}")
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
    finally:
        net.remove()
    return {"flows/s": done / wall, "migrations/s": len(statuses) / api_wall, "problems": problems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,2", help="host counts to run, in order (each 1..3)")
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--phones", type=int, default=20)
    parser.add_argument("--migrations", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=300.0)
    args = parser.parse_args()
    counts = [int(n) for n in args.hosts.split(",")]
    if not all(1 <= n <= 3 for n in counts) or not (1 <= args.flows <= 5000 and 1 <= args.phones <= 200
                                                      and 1 <= args.migrations <= 5000 and 1 <= args.clients <= 64):
        parser.error("--hosts 1..3 each, --flows/--migrations 1..5000, --phones 1..200, --clients 1..64")
    screens.PINS.update((i, screens.pin_of(i)) for i in range(args.flows))
    print(f"{args.flows} screen flows by {args.phones} phones, then {args.migrations} API migrations by "
          f"{args.clients} clients, closed loop, on {os.cpu_count()} CPUs; load before: {os.getloadavg()}")
    for hosts in counts:
        result = one_run(hosts, args)
        verdict = "INVALID: " + "; ".join(result["problems"]) if result["problems"] else "checked"
        print(f"{hosts} host{'s' if hosts > 1 else ''}: screen flows/s {result['flows/s']:.1f}, "
              f"migrations/s {result['migrations/s']:.1f}  ({verdict})", flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
