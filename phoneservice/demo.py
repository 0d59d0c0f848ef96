"""The demo site, loaded once into an empty database: ``init-db --demo`` and ``serve --demo``."""

from __future__ import annotations

from models.services import reports
from models.storage.database import Database


def load_demo_once(db: Database) -> bool:
    """Load the demo site into an empty database; False when it has devices already."""
    from models.services.demo import load_demo

    with db.session() as session:
        if reports.find_devices(session, limit=1):
            return False
        load_demo(session)
    return True
