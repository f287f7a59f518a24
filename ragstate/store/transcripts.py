"""Session transcripts, outside workflow history (the claim check of workflows/session.py): one
JSON line per turn in ``<data dir>/sessions/<session id>.jsonl``, beside the embedded store.
Every worker that runs a session's turns must see the same data dir (one machine, or a shared
volume: docs/deploy.md).

Appending is idempotent by turn number (an activity retry after a write that landed adds
nothing), under an exclusive ``flock`` (:mod:`.file_lock`) that orders the writers of every process.

Example::

    append(settings, "chat-1", record)
    turns = read(settings, "chat-1")
    erase(settings, "chat-1")               # True if there was one
"""

from __future__ import annotations

import os
from pathlib import Path

from ragstate.models.session import TurnRecord, check_id
from ragstate.settings import Settings
from ragstate.store.file_lock import locked


def transcript_path(settings: Settings, session_id: str) -> Path:
    """The transcript's file; ValueError for an id that cannot name one."""
    return settings.data_dir / "sessions" / f"{check_id(session_id)}.jsonl"


def read(settings: Settings, session_id: str) -> list[TurnRecord]:
    """The session's turns, first turn first; [] when it has none (or was erased)."""
    try:
        text = transcript_path(settings, session_id).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [TurnRecord.model_validate_json(line) for line in text.splitlines() if line.strip()]


def append(settings: Settings, session_id: str, record: TurnRecord) -> bool:
    """Add ``record`` unless its turn is there already; whether it was added."""
    path = transcript_path(settings, session_id)
    with locked(path):
        if any(r.turn == record.turn for r in read(settings, session_id)):
            return False
        with open(path, "a", encoding="utf-8") as f:
            f.write(record.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
    return True


def erase(settings: Settings, session_id: str) -> bool:
    """Delete the transcript; whether there was one."""
    path = transcript_path(settings, session_id)
    with locked(path):
        existed = path.exists()
        path.unlink(missing_ok=True)
    path.with_name(path.name + ".lock").unlink(missing_ok=True)
    return existed
