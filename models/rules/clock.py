"""The one wall clock of the models; rules take ``now`` as an argument instead."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
