"""A bench's peer: a git revision of this repository checked out beside it, for ``--peer REV``.

The peer's code runs from that worktree put first on ``PYTHONPATH`` (its
packages shadow the editable install), so both trees run in the same go.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def worktree(rev: str | None, parent: Path | None = None) -> Iterator[Path | None]:
    """``rev`` checked out (detached) under ``parent`` (a new temp dir by default); None when no ``rev``.
    The worktree is removed on the way out."""
    if not rev:
        yield None
        return
    tree = (parent or Path(tempfile.mkdtemp(prefix="bench-peer-"))) / "peer"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
