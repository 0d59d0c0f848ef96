"""A 1000-device Enterprise -> MPP task from CSV upload to complete, on SQLite (F-6).

Builds a site of N 8851s known by MAC (not timed), then times: create the task,
upload the CSV (validation and eligibility of every row), start, and run every
batch of 200 (each sets the devices' target load and license rule in one
transaction). Prints seconds and devices/s for the whole and for each phase.

    python bench/bulk_task.py [--devices 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.services.tasks import BulkTasks  # noqa: E402
from models.storage.database import Database  # noqa: E402
from models.tables.devices import Device  # noqa: E402

HEADER = "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan"


def mac(i: int) -> str:
    return f"00CCFD{i:06X}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000, help="devices in the task (1..1000)")
    args = parser.parse_args()
    if not 1 <= args.devices <= 1000:
        parser.error("--devices 1..1000 (F-6: at most 1000 devices a task)")
    work = Path(tempfile.mkdtemp(prefix="bulk-bench-"))
    db = Database(f"sqlite:///{work / 'site.db'}")
    db.upgrade()
    with db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model="8851", location="HQ", load_override=None)
                        for i in range(args.devices))
    csv_text = "\n".join([HEADER] + [f"USER,user{i}@example.com,,,IP,8851,{mac(i)},HQ,False"
                                     for i in range(args.devices)]) + "\n"
    bulk = BulkTasks(db)
    phases = {}
    began = time.perf_counter()
    bulk.create("bench-e2m")
    result = bulk.upload("bench-e2m", csv_text, file_name="fleet.csv")
    phases["upload"] = time.perf_counter() - began
    mark = time.perf_counter()
    bulk.start("bench-e2m", "192.0.2.10")
    batches = 0
    while bulk.run_next_batch("bench-e2m").batch is not None:
        batches += 1
    phases["batches"] = time.perf_counter() - mark
    total = time.perf_counter() - began
    progress = bulk.progress("bench-e2m")
    with db.read_session() as session:
        from sqlmodel import func, select

        loaded = session.exec(select(func.count()).select_from(Device).where(Device.load_override.is_not(None))).one()
    assert loaded == args.devices, f"only {loaded} devices got their target load"
    print(f"{args.devices} devices: added {result.added}, refused {result.refused}; {batches} batches; "
          f"status {progress.status}; counts {dict(progress.counts)}; devices with the target load: {loaded}")
    print(f"upload + eligibility: {phases['upload']:.2f} s; start + batches: {phases['batches']:.2f} s")
    print(f"total {total:.2f} s = {args.devices / total:.0f} devices/s (target: under 10 s for 1000)")
    db.dispose()


if __name__ == "__main__":
    main()
