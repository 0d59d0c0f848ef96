"""The admin UI's bulk task page with a 1000-device task (issue #19, F-6, F-6b..F-6d), on SQLite.

Builds a site (not timed): the demo, 1000 8851s known by MAC, a task of those
1000 run to its end with 50 failed (their phones deleted after the upload) and
900 confirmed (their phones report the target load); a second task, the peer,
the same with 50 devices (5 failed, 45 confirmed) run in the same go; and a
third of 1000 devices left In progress after 3 of its 5 batches, whose page is
live. Then, through the Flask test client logged in as the demo admin, fetches
each page N times and prints its size and median time, and the 1000-device
figures as a ratio to the 50-device ones: the page (its first 50 devices) and
the summary frame, which is all that reloads every 2 seconds while a task runs.
Each answer is checked (its 50 rows, its headline, its counts) and a wrong one
prints INVALID.

    .venv/bin/python bench/task_page.py [--repeat 30]

Targets (issue #19): under 100 KB and under 300 ms with 1000 devices.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import col, delete  # noqa: E402

from models.services.demo import ADMIN_PASSWORD, ADMIN_USER, load_demo  # noqa: E402
from models.services.tasks import BulkTasks  # noqa: E402
from models.storage.database import Database  # noqa: E402
from models.tables.devices import Device  # noqa: E402
from phoneservice.config import load_config  # noqa: E402
from phoneservice.processes.server import build_services  # noqa: E402
from phoneservice.web.app import create_app  # noqa: E402

HEADER = "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan"
TARGET = "sip88xx.12-0-3MPP0001-87"  # the 8851's MPP load (F-4 Table 6)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ROW = re.compile(r"<td>([0-9A-F]{12})</td>")


def mac(prefix: str, i: int) -> str:
    return f"{prefix}{i:06X}"


def build_task(db: Database, name: str, prefix: str, devices: int, failed: int, confirmed: int,
               batches: int | None = None) -> None:
    """A task of ``devices`` 8851s; ``failed`` phones deleted after the upload, ``confirmed`` reporting the
    target load; ``batches``: stop after that many (the task stays In progress), else run to its end."""
    with db.session() as session:
        session.add_all(Device(name="SEP" + mac(prefix, i), model="8851", location="HQ") for i in range(devices))
    bulk = BulkTasks(db)
    bulk.create(name)
    bulk.upload(name, "\n".join([HEADER] + [f"USER,user{i}@example.com,,,IP,8851,{mac(prefix, i)},HQ,False"
                                            for i in range(devices)]) + "\n")
    gone = ["SEP" + mac(prefix, i) for i in range(devices - failed, devices)]
    with db.session() as session:
        session.exec(delete(Device).where(col(Device.name).in_(gone)))
        reporting = ["SEP" + mac(prefix, i) for i in range(confirmed)]
        session.exec(Device.__table__.update().where(col(Device.name).in_(reporting))  # type: ignore[attr-defined]
                     .values(reported_load=TARGET))
    bulk.start(name, "192.0.2.10")
    done = 0
    while (batches is None or done < batches) and bulk.run_next_batch(name).batch is not None:
        done += 1


def login(client) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    response = client.post("/admin/login", data={"csrf_token": TOKEN.search(page).group(1),
                                                 "username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert response.status_code == 302, response.status_code


def fetch(client, url: str, repeat: int) -> tuple[str, float]:
    """The page's text and the median of ``repeat`` fetches, in milliseconds (one warm-up first)."""
    client.get(url)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="fetches of each page (1..500)")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 500:
        parser.error("--repeat 1..500")
    work = Path(tempfile.mkdtemp(prefix="task-page-bench-"))
    url = f"sqlite:///{work / 'site.db'}"
    db = Database(url)
    db.upgrade()
    with db.session() as session:
        load_demo(session)
    build_task(db, "fleet-1000", "00CCFA", 1000, failed=50, confirmed=900)
    build_task(db, "fleet-50", "00CCFB", 50, failed=5, confirmed=45)
    build_task(db, "running-1000", "00CCFC", 1000, failed=0, confirmed=0, batches=3)
    db.dispose()

    services = build_services(load_config(database={"url": url}))
    client = create_app(services).test_client()
    login(client)
    checks = {  # each page: its device rows, and what it must say
        "fleet-1000": ("Finished with 50 failed (950 pushed)", "900 of 950 pushed devices confirmed by the phone",
                       '<rect class="failed" x="95.0" y="0" width="5.0"', "Devices <small>1000: 1 to 50"),
        "fleet-50": ("Finished with 5 failed (45 pushed)", "45 of 45 pushed devices confirmed by the phone",
                     "Devices <small>50</small>"),
        "running-1000": ('<iframe class="summary" src="/admin/tasks/running-1000/summary"',
                         "Devices <small>1000: 1 to 50"),
    }
    results, invalid = {}, []
    for name, needed in checks.items():
        text, ms = fetch(client, f"/admin/tasks/{name}", args.repeat)
        found = len(ROW.findall(text))
        missing = [n for n in needed if n not in text]
        if found != 50 or missing or 'http-equiv="refresh"' in text:
            invalid.append(f"{name}: {found} rows, missing {missing}")
        results[name] = (len(text.encode()) / 1024, ms)
    summary, summary_ms = fetch(client, "/admin/tasks/running-1000/summary", args.repeat)
    if "In progress: 600 of 1000 devices processed" not in summary or 'http-equiv="refresh"' not in summary:
        invalid.append("running-1000 summary: no live headline")
    results["running-1000 summary frame"] = (len(summary.encode()) / 1024, summary_ms)
    services.db.dispose()

    print(f"{'page':34} {'size KB':>8} {'median ms':>10}")
    for name, (kb, ms) in results.items():
        print(f"{name:34} {kb:8.1f} {ms:10.1f}")
    big, peer = results["fleet-1000"], results["fleet-50"]
    print(f"ratio 1000 / 50 devices: size {big[0] / peer[0]:.2f}, time {big[1] / peer[1]:.2f}")
    worst_kb = max(kb for kb, _ in results.values())
    worst_ms = max(ms for _, ms in results.values())
    print(f"largest {worst_kb:.1f} KB (target < 100), slowest {worst_ms:.1f} ms (target < 300): "
          + ("met" if worst_kb < 100 and worst_ms < 300 else "NOT met"))
    if invalid:
        print("INVALID: " + "; ".join(invalid))
        sys.exit(1)


if __name__ == "__main__":
    main()
