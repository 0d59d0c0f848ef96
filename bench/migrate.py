"""Benchmark the migration engine: N realistic phones through Migrator.migrate.

Each old phone is a SCCP 7965 with a 7914 KEM, 6 lines (the 6th shared with
the previous user's phone), 4 feature buttons that sit on the KEM and custom
product-specific parameters; each is migrated to a SIP 8861 (BEKEM) by the
same path every door takes (C-12: lock, plan, apply, record in one
transaction). The phones are built first and not timed; then the migrations
run one after another in this process and only they are timed.

    python bench/migrate.py [--count 1000] [--engines sqlite,postgres]

SQLite is a file in a temporary directory. PostgreSQL is the server named by
PHONE_MIGRATION_BENCH_POSTGRES_URL (a new database is created on it and
dropped after), else a throwaway cluster started like tests/conftest.py does
(Debian's server binaries, as the ``postgres`` user, fsync off).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy.engine import make_url
from sqlmodel import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import pgcluster  # noqa: E402  (tests/pgcluster.py: the same throwaway cluster as the tests)

from models.rules.plan import Target
from models.rules.refusals import Refused
from models.services.migration import Migrator
from models.services.site import LineSpec, create_device, create_user, get_or_create_security_profile
from models.storage.database import Database
from models.tables.devices import Device, KemModule
from models.tables.lines import FeatureButton, LineAppearance
from models.tables.records import MigrationRecord

BENCH_POSTGRES_URL_ENV = "PHONE_MIGRATION_BENCH_POSTGRES_URL"
PT = "Internal_PT"
OLD_PROFILE = "Cisco 7965 - Standard SCCP Non-Secure Profile"
CUSTOM_PARAMS = {"webAccess": "1", "pcPort": "1", "garp": "0", "settingsAccess": "0", "loggingDisplay": "0"}
BUILD_BATCH = 100  # phones per transaction while building (not timed)


def old_mac(i: int) -> str:
    return f"0BE0{i:08X}"


def new_mac(i: int) -> str:
    return f"0BE1{i:08X}"


def extension(i: int) -> str:
    return f"6{i:05d}"


def build_site(db: Database, count: int) -> list[str]:
    """``count`` old phones with their users and DNs; returns the phones' names."""
    names: list[str] = []
    with db.session() as session:
        get_or_create_security_profile(session, OLD_PROFILE, mode="non_secure", tftp_encrypted=False,
                                       transport="tcp", key_order="rsa")
    for start in range(0, count, BUILD_BATCH):
        with db.session() as session:
            for i in range(start, min(start + BUILD_BATCH, count)):
                user = f"bench{i:05d}"
                create_user(session, user, extension=extension(i), partition=PT, first_name="Bench", last_name=str(i))
                own = extension(i)
                lines = [LineSpec(own, PT, label="Me", display_name=f"Bench {i}")]
                lines += [LineSpec(f"7{i:05d}{k}", PT, label=f"Queue {k}") for k in range(1, 5)]
                # The 6th line shares the previous user's extension (the first phone shares its own queue).
                lines.append(LineSpec(extension(i - 1) if i else "7000009", PT, label="Shared"))
                features = [("speed_dial", "911", "Emergency"), ("blf", extension(i + 1), "Next"),
                            ("speed_dial", "8000", "IVR"), ("blf", extension(i - 1) if i else "7000009", "Prev")]
                device = create_device(
                    session, old_mac(i), "7965", "SCCP", owner=user, lines=lines, features=features, kems=["7914"],
                    security_profile=OLD_PROFILE, product_params=CUSTOM_PARAMS, description=f"Bench desk {i}",
                    device_pool="HQ_DP", calling_search_space="Internal_CSS", location="HQ",
                    registration="unregistered",
                )
                names.append(device.name)
    return names


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def run_migrations(db: Database, names: list[str], max_seconds: float, profile: cProfile.Profile | None) -> dict:
    migrator = Migrator(db)
    durations: list[float] = []
    refused: list[str] = []
    deadline = time.perf_counter() + max_seconds
    started, cpu_started = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    try:
        for i, name in enumerate(names):
            t0 = time.perf_counter()
            try:
                migrator.migrate(name, Target(mac=new_mac(i), model="8861", protocol="SIP"), door="bulk", actor="bench")
            except Refused as refusal:
                refused.append(f"{name}: {refusal.code} {refusal.message}")
            t1 = time.perf_counter()
            durations.append(t1 - t0)
            if t1 > deadline:
                break
    finally:
        if profile is not None:
            profile.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"durations": durations, "wall": wall, "cpu": cpu, "refused": refused,
            "stopped_early": len(durations) < len(names)}


def check(db: Database, expected: int) -> None:
    """Every timed migration really happened: one 'migrated' record per phone, all buttons copied."""
    with db.session() as session:
        done = session.exec(select(func.count()).where(MigrationRecord.outcome == "migrated")).one()
        new = session.exec(select(Device).where(Device.name == "SEP" + new_mac(0))).first()
        buttons = (
            session.exec(select(func.count()).where(LineAppearance.device_id == new.id)).one(),
            session.exec(select(func.count()).where(FeatureButton.device_id == new.id)).one(),
            session.exec(select(KemModule.model).where(KemModule.device_id == new.id)).all(),
        ) if new else None
    if done != expected:
        raise SystemExit(f"expected {expected} migrated records, found {done}")
    if expected and buttons != (6, 4, ["BEKEM"]):
        raise SystemExit(f"the first new 8861 has (lines, features, KEMs) = {buttons}, expected (6, 4, ['BEKEM'])")


def bench_engine(engine: str, url: str, count: int, max_seconds: float, profile_path: str | None) -> dict:
    db = Database(url)
    try:
        # The tables straight from the metadata, as the tests' fixtures do
        # (the schema versions are checked against them by tests/test_schema.py).
        db.create_all()
        t0 = time.perf_counter()
        names = build_site(db, count)
        build = time.perf_counter() - t0
        print(f"{engine}: built {len(names)} old phones in {build:.1f} s (not timed)", flush=True)
        profile = cProfile.Profile() if profile_path else None
        result = run_migrations(db, names, max_seconds, profile)
        if profile is not None:
            path = f"{profile_path}.{engine}"
            profile.dump_stats(path)
            print(f"{engine}: profile written to {path}")
            pstats.Stats(path).sort_stats("cumulative").print_stats(30)
        check(db, len(result["durations"]) - len(result["refused"]))
        return result
    finally:
        db.dispose()


# --- where the databases come from ----------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="phone-migration-bench-") as root:
        yield f"sqlite:///{Path(root) / 'bench.db'}"


_admin_conninfo = pgcluster.admin_conninfo


@contextmanager
def postgres_server() -> Iterator[str]:
    """A server URL: the environment's, else a throwaway cluster stopped on exit."""
    if os.environ.get(BENCH_POSTGRES_URL_ENV):
        yield os.environ[BENCH_POSTGRES_URL_ENV]
        return
    try:
        with pgcluster.throwaway_cluster(prefix="phone-migration-bench-pg-") as url:
            yield url
    except pgcluster.ClusterError as exc:
        raise SystemExit(f"{exc}; set {BENCH_POSTGRES_URL_ENV} or run with --engines sqlite") from None


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on the server, dropped after the run."""
    import psycopg
    from psycopg import sql

    with postgres_server() as server_url:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        admin = _admin_conninfo(server_url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


DATABASES = {"sqlite": sqlite_database, "postgres": postgres_database}


# --- report -----------------------------------------------------------------------


def report(engine: str, result: dict) -> float:
    durations = sorted(result["durations"])
    n = len(durations)
    rate = n / result["wall"] if result["wall"] else 0.0
    print(f"{engine}: {n} migrations in {result['wall']:.2f} s = {rate:.0f} migrations/s; "
          f"per migration p50 {percentile(durations, 50) * 1000:.2f} ms, "
          f"p99 {percentile(durations, 99) * 1000:.2f} ms, mean {statistics.fmean(durations) * 1000:.2f} ms, "
          f"max {durations[-1] * 1000:.2f} ms; client CPU {result['cpu'] / n * 1000:.2f} ms/migration", flush=True)
    if result["stopped_early"]:
        print(f"{engine}: stopped after {n} migrations: --max-seconds reached")
    if result["refused"]:
        print(f"{engine}: {len(result['refused'])} refused, first: {result['refused'][0]}")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="old phones to build and migrate (default 1000)")
    parser.add_argument("--engines", default="sqlite,postgres",
                        help="comma-separated engines among sqlite, postgres (default both)")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop an engine's timed loop after this many seconds (default 600)")
    parser.add_argument("--profile", metavar="PATH",
                        help="cProfile the timed migrations; writes PATH.<engine> and prints the top functions")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in DATABASES]
    if unknown or not engines:
        parser.error(f"--engines: unknown {unknown or engines}; choose among {', '.join(DATABASES)}")
    if args.count < 1:
        parser.error("--count must be at least 1")

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.count} migrations "
          "(7965 SCCP + 7914, 6 lines, 4 KEM buttons -> 8861 SIP + BEKEM)", flush=True)
    rates: dict[str, float] = {}
    for engine in engines:
        with DATABASES[engine]() as url:
            result = bench_engine(engine, url, args.count, args.max_seconds, args.profile)
        rates[engine] = report(engine, result)
    if rates.get("sqlite") and rates.get("postgres"):
        print(f"ratio sqlite/postgres: {rates['sqlite'] / rates['postgres']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
