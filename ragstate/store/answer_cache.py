"""The semantic answer cache's entries, kept next to the collection version they answer from
(docs/answer-cache.md). An entry: the question, its embedding, the scope key (tenant,
access groups, filters, top_k, settings: :class:`~ragstate.models.AnswerCacheScope`), the
collection's generation when the question was searched, and the answer. A lookup sees only
entries of the same physical collection, scope and *current* generation: any write to the
collection (ingest, sync, delete, summaries) replaces the generation
(:meth:`ragstate.store.ChunkStore.generation`) and a re-index switch changes the physical
collection, so a changed collection never serves an answer made before the change. Time
alone never expires an entry; stale generations are removed as new answers are written, and
a dropped collection's entries with it.

- The embedded store: one JSON-lines file per physical collection
  (``<data dir>/answer-cache/<collection>.jsonl``), rewritten whole (temporary file, then
  ``os.replace``) under the data dir's ``flock`` (:mod:`.file_lock`); its parsed form is kept
  in memory until the file changes.
- A Qdrant server (or its local mode): points of one collection of ragstate's own
  (:data:`QDRANT_COLLECTION`, not listed), the question's vector and the entry as payload,
  searched with a filter on collection, scope and generation.

Example::

    hit = lookup(settings, "docs", scope, generation, vector, "What is BM25?")
    put(settings, "docs", scope, generation, vector, "What is BM25?", answer)
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from ragstate.answers.cache_match import compatible, signature
from ragstate.models import AnswerCacheScope, CachedAnswer, RagAnswer
from ragstate.settings import Settings, StoreBackend
from ragstate.store.file_lock import locked
from ragstate.store.registry import qdrant_client

#: The Qdrant collection of every cached answer: under ``qdrant_server.INTERNAL_PREFIX``.
QDRANT_COLLECTION = "_ragstate_answer_cache"
#: Nearest cached questions the guard is asked about, best first.
CANDIDATES = 8
_qdrant_lock = threading.Lock()
_parsed: dict[Path, tuple[tuple[int, int], list[dict], np.ndarray]] = {}
_parsed_lock = threading.Lock()


def cache_path(settings: Settings, collection: str) -> Path:
    return settings.data_dir / "answer-cache" / f"{collection}.jsonl"


def lookup(
    settings: Settings, collection: str, scope: AnswerCacheScope, generation: str, vector: list[float], question: str
) -> CachedAnswer | None:
    """The answer of the closest cached question of this scope and generation whose cosine
    similarity is at least ``scope.threshold`` and that the lexical guard accepts; None if none."""
    if not generation:
        return None  # a collection from before generations: nothing is cached for it
    if settings.store_backend is StoreBackend.edge:
        candidates = _nearest_file(cache_path(settings, collection), scope.key, generation, vector)
    else:
        with _qdrant_lock:
            candidates = _nearest_qdrant(settings, collection, scope.key, generation, vector, scope.threshold)
    mine = signature(question)
    for similarity, entry in candidates:
        if similarity < scope.threshold:
            break
        if compatible(mine, signature(entry["question"])):
            return CachedAnswer(
                answer=RagAnswer.model_validate_json(entry["answer"]),
                question=entry["question"],
                similarity=round(similarity, 4),
                workflow_id=entry["workflow_id"],
                run_id=entry.get("run_id", ""),
            )
    return None


def put(
    settings: Settings,
    collection: str,
    scope: AnswerCacheScope,
    generation: str,
    vector: list[float],
    question: str,
    answer: RagAnswer,
) -> None:
    """Keep ``answer`` for questions like ``question``; entries of other generations of the
    collection go (they can never be served again)."""
    kept = answer.model_copy(update={"timings": [], "ranking": [], "branch_rankings": {}})
    entry = {
        "scope": scope.key,
        "generation": generation,
        "question": question,
        "vector": [round(float(x), 6) for x in vector],
        "answer": kept.model_dump_json(),
        "workflow_id": answer.workflow_id,
        "run_id": answer.run_id,
        "stored_ns": time.time_ns(),
    }
    if settings.store_backend is not StoreBackend.edge:
        with _qdrant_lock:
            return _put_qdrant(settings, collection, entry)
    path = cache_path(settings, collection)
    with locked(path):
        entries = [
            e
            for e in _read_file(path)
            if e["generation"] == generation and not (e["scope"] == scope.key and e["question"] == question)
        ]
        entries = [*entries, entry][-settings.answer_cache_max_entries :]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
        os.replace(tmp, path)


def forget(settings: Settings, collection: str) -> None:
    """Remove every cached answer of a physical collection (it was dropped)."""
    if settings.store_backend is StoreBackend.edge:
        path = cache_path(settings, collection)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".lock").unlink(missing_ok=True)
        return
    from qdrant_client import models as qm

    with _qdrant_lock:
        client = qdrant_client(settings)
        if client.collection_exists(QDRANT_COLLECTION):
            only = qm.Filter(must=[qm.FieldCondition(key="collection", match=qm.MatchValue(value=collection))])
            client.delete(QDRANT_COLLECTION, qm.FilterSelector(filter=only), wait=True)


# --- the embedded store: a file per collection -------------------------------------------------


def _read_file(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _nearest_file(path: Path, scope: str, generation: str, vector: list[float]) -> list[tuple[float, dict]]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return []
    stamp = (st.st_mtime_ns, st.st_size)
    with _parsed_lock:
        parsed = _parsed.get(path)
    if parsed is None or parsed[0] != stamp:
        entries = _read_file(path)
        matrix = np.asarray([e["vector"] for e in entries], dtype=np.float32).reshape(len(entries), -1)
        parsed = (stamp, entries, matrix)
        with _parsed_lock:
            _parsed[path] = parsed
    _, entries, matrix = parsed
    idx = [i for i, e in enumerate(entries) if e["scope"] == scope and e["generation"] == generation]
    if not idx:
        return []
    sims = matrix[idx] @ np.asarray(vector, dtype=np.float32)
    order = np.argsort(-sims)[:CANDIDATES]
    return [(float(sims[j]), entries[idx[j]]) for j in order]


# --- a Qdrant server: one collection of ragstate's own -----------------------------------------


def _point_id(collection: str, scope: str, generation: str, question: str) -> str:
    name = "\x00".join(("ragstate-answer", collection, scope, generation, question))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _filter(collection: str, scope: str | None = None, generation: str | None = None):
    from qdrant_client import models as qm

    must = [qm.FieldCondition(key="collection", match=qm.MatchValue(value=collection))]
    for key, value in (("scope", scope), ("generation", generation)):
        if value is not None:
            must.append(qm.FieldCondition(key=key, match=qm.MatchValue(value=value)))
    return qm.Filter(must=must)


def _nearest_qdrant(
    settings: Settings, collection: str, scope: str, generation: str, vector: list[float], threshold: float
) -> list[tuple[float, dict]]:
    client = qdrant_client(settings)
    if not client.collection_exists(QDRANT_COLLECTION):
        return []
    res = client.query_points(
        QDRANT_COLLECTION,
        query=list(vector),
        query_filter=_filter(collection, scope, generation),
        limit=CANDIDATES,
        score_threshold=threshold,
        with_payload=True,
    )
    return [(float(p.score), dict(p.payload or {})) for p in res.points]


def _put_qdrant(settings: Settings, collection: str, entry: dict) -> None:
    import warnings

    from qdrant_client import models as qm

    client = qdrant_client(settings)
    if not client.collection_exists(QDRANT_COLLECTION):
        try:
            client.create_collection(
                QDRANT_COLLECTION,
                vectors_config=qm.VectorParams(size=len(entry["vector"]), distance=qm.Distance.COSINE),
            )
            with warnings.catch_warnings():  # local mode says payload indexes do nothing there
                warnings.simplefilter("ignore", UserWarning)
                for key in ("collection", "scope", "generation"):
                    client.create_payload_index(QDRANT_COLLECTION, key, qm.PayloadSchemaType.KEYWORD)
        except Exception:  # another worker made it in between (a server answers 409)
            if not client.collection_exists(QDRANT_COLLECTION):
                raise
    # Entries of the collection's other generations can never be served again.
    stale = _filter(collection)
    stale.must_not = [qm.FieldCondition(key="generation", match=qm.MatchValue(value=entry["generation"]))]
    client.delete(QDRANT_COLLECTION, qm.FilterSelector(filter=stale), wait=True)
    payload = {k: v for k, v in entry.items() if k != "vector"} | {"collection": collection}
    point_id = _point_id(collection, entry["scope"], entry["generation"], entry["question"])
    client.upsert(QDRANT_COLLECTION, [qm.PointStruct(id=point_id, vector=entry["vector"], payload=payload)], wait=True)
