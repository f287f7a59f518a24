"""Ratings of answers, kept where the store keeps what it knows about its collections, one
record per query run: a later rating of the same run replaces it, so a retried write (an
activity retry) stores it once.

- The embedded store: one JSON-lines file per collection name beside the shards
  (``<data dir>/feedback/<collection>.jsonl``), rewritten whole on every rating to a temporary
  file then ``os.replace``d (as the version pointers are: a reader sees the old file or the
  new one), under an exclusive ``flock`` that orders the writers of every process.
- A Qdrant server (or its local mode), where the pointers and parameters live in Qdrant too:
  payload-only points of one collection of ragstate's own (:data:`QDRANT_COLLECTION`, not
  listed), a point per (collection, query run), so workers with no shared disk share them.

Example::

    upsert(settings, record)
    records = read(settings, "docs")         # oldest rating first
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

from ragstate.models import FeedbackRecord
from ragstate.settings import Settings, StoreBackend
from ragstate.store.file_lock import locked
from ragstate.store.registry import qdrant_client

#: The Qdrant collection of every rating: a name no ragstate collection can have, under
#: ``qdrant_server.INTERNAL_PREFIX`` so it is not listed (not imported: it loads qdrant_client).
QDRANT_COLLECTION = "_ragstate_feedback"
#: Qdrant's local mode is not thread-safe (activities run on a thread pool): as the chunk
#: stores do per collection, one lock for the ratings' collection; cheap against a server.
_qdrant_lock = threading.Lock()


def feedback_path(settings: Settings, collection: str) -> Path:
    """The embedded store's file of a collection's ratings (the name is checked by the caller)."""
    return settings.data_dir / "feedback" / f"{collection}.jsonl"


def read(settings: Settings, collection: str) -> list[FeedbackRecord]:
    """The ratings of ``collection``, oldest rating first; [] when it has none."""
    if settings.store_backend is StoreBackend.edge:
        return _read_file(feedback_path(settings, collection))
    with _qdrant_lock:
        return _read_qdrant(settings, collection)


def upsert(settings: Settings, record: FeedbackRecord) -> None:
    """Store ``record``, replacing an earlier rating of the same query run (which counts as the
    newest from now on)."""
    if settings.store_backend is not StoreBackend.edge:
        with _qdrant_lock:
            return _upsert_qdrant(settings, record)
    path = feedback_path(settings, record.collection)
    with locked(path):
        records = [r for r in _read_file(path) if r.query_id != record.query_id] + [record]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one


def _read_file(path: Path) -> list[FeedbackRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [FeedbackRecord.model_validate_json(line) for line in text.splitlines() if line.strip()]


def _point_id(collection: str, query_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ragstate-feedback\x00{collection}\x00{query_id}"))


def _upsert_qdrant(settings: Settings, record: FeedbackRecord) -> None:
    from qdrant_client import models as qm

    client = qdrant_client(settings)
    if not client.collection_exists(QDRANT_COLLECTION):
        try:
            client.create_collection(QDRANT_COLLECTION, vectors_config={})  # payload only
        except Exception:  # another worker made it in between (a server answers 409)
            if not client.collection_exists(QDRANT_COLLECTION):
                raise
    payload = {"collection": record.collection, "stored_ns": time.time_ns(), "record": record.model_dump_json()}
    point = qm.PointStruct(id=_point_id(record.collection, record.query_id), vector={}, payload=payload)
    client.upsert(QDRANT_COLLECTION, points=[point], wait=True)


def _read_qdrant(settings: Settings, collection: str) -> list[FeedbackRecord]:
    from qdrant_client import models as qm

    client = qdrant_client(settings)
    if not client.collection_exists(QDRANT_COLLECTION):
        return []
    only = qm.Filter(must=[qm.FieldCondition(key="collection", match=qm.MatchValue(value=collection))])
    points, offset = [], None
    while True:
        page, offset = client.scroll(QDRANT_COLLECTION, scroll_filter=only, limit=256, offset=offset, with_payload=True)
        points += page
        if offset is None:
            break
    points.sort(key=lambda p: (p.payload or {}).get("stored_ns", 0))
    return [FeedbackRecord.model_validate_json((p.payload or {})["record"]) for p in points]
