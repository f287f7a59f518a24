"""Ratings of answers, kept beside the store: one JSON-lines file per collection name
(``<data dir>/feedback/<collection>.jsonl``), one record per query run.

The file is rewritten whole on every rating, to a temporary file then ``os.replace``d (as the
embedded store's version pointers are), so a reader sees the old file or the new one, never half
of one; an exclusive ``flock`` on a lock file beside it orders writers of every process sharing
the data dir. A rating of a query run already rated replaces its record: retrying the write
(an activity retry) leaves the same file.

On a Qdrant server the store keeps its pointers and parameters in Qdrant itself; ratings stay in
the workers' data dir (a volume the workflow workers share), which is where this module puts them
on either backend.

Example::

    upsert(settings, record)                 # -> the records of record.collection, oldest first
    records = read(settings, "docs")
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragstate.models import FeedbackRecord
from ragstate.settings import Settings


def feedback_path(settings: Settings, collection: str) -> Path:
    """Where a collection's ratings live (its name is checked by the caller: no separators)."""
    return settings.data_dir / "feedback" / f"{collection}.jsonl"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> list[FeedbackRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [FeedbackRecord.model_validate_json(line) for line in text.splitlines() if line.strip()]


def read(settings: Settings, collection: str) -> list[FeedbackRecord]:
    """The ratings of ``collection``, oldest rating first; [] when it has none."""
    return _read(feedback_path(settings, collection))


def upsert(settings: Settings, record: FeedbackRecord) -> list[FeedbackRecord]:
    """Store ``record``, replacing an earlier rating of the same query run (which moves to the
    end: the order is that of the latest ratings). Returns the records now stored."""
    path = feedback_path(settings, record.collection)
    with _locked(path):
        records = [r for r in _read(path) if r.query_id != record.query_id] + [record]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    return records
