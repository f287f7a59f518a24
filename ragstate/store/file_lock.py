"""One exclusive lock per data-dir file, across processes: the writers of the files the store
keeps beside its shards (ratings in :mod:`.feedback`, session transcripts in :mod:`.transcripts`).

Example::

    with locked(path):           # path.lock beside it, created with its folder
        ...read, change and write path...
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["locked"]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``<path>.lock`` (its folder made first) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
