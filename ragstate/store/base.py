"""The store contract every backend fulfils (embedded Qdrant engine, Qdrant server).

A chunk is one Qdrant point: id = deterministic UUID of (doc id, version, position), a
``dense`` vector (added after embedding), a ``bm25`` sparse vector with the IDF modifier and
a payload (doc id, version, title, text, source, position, ingested_at).

Documents are the chunks that share a doc id: :meth:`ChunkStore.list_documents` and
:meth:`ChunkStore.delete_documents` work on them without knowing a backend.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from ragstate.models import SearchHit
from ragstate.retrieval.analyzer import analyze
from ragstate.retrieval.bm25 import Bm25Encoder, SparseVec
from ragstate.store.filters import FilterDialect
from ragstate.store.records import (
    _DOCUMENT_KEYS,
    BM25_AVG,
    BM25_LEN,
    GROUPS,
    SUMMARY_MARK,
    ChunkRecord,
    DocumentInfo,
    SearchFilter,
    StoreCounts,
    StoredChunk,
    stored_chunk,
    summary_version,
)


class ChunkStore(abc.ABC):
    """Usage::

    store = open_store(settings)             # ragstate.store.open_store
    store.upsert([record])                   # sparse vector + payload
    store.set_dense({record.chunk_id: vec})  # after embedding
    store.search_sparse(bm25.encode_query("q"), limit=10)
    """

    backend: str = "?"

    @abc.abstractmethod
    def upsert(self, records: list[ChunkRecord]) -> None: ...

    @abc.abstractmethod
    def set_dense(self, vectors: dict[str, list[float]]) -> None: ...

    @abc.abstractmethod
    def get(self, chunk_ids: list[str]) -> dict[str, StoredChunk]: ...

    @abc.abstractmethod
    def dense_vectors(self, chunk_ids: list[str]) -> dict[str, list[float]]:
        """The stored dense vectors of these chunks (the originals, not quantized copies: float16
        in the default layout); a chunk without one (not embedded yet, or gone) is left out."""

    @abc.abstractmethod
    def search_dense(self, vector: list[float], limit: int, flt: SearchFilter | None = None) -> list[SearchHit]: ...

    @abc.abstractmethod
    def search_sparse(self, vector: SparseVec, limit: int, flt: SearchFilter | None = None) -> list[SearchHit]: ...

    # --- what each backend provides: its filter dialect and four primitives -----------------------

    filters: FilterDialect
    #: Points per scroll page (a test makes it small to cross pages cheaply).
    scroll_page: int = 1024

    @abc.abstractmethod
    def _scroll_page(self, flt, offset, payload_keys: list[str] | None) -> tuple[list, Any]:
        """One page of points matching ``flt`` (records with ``.id`` and ``.payload``; all payload
        keys when ``payload_keys`` is None) and the next offset (None after the last)."""

    @abc.abstractmethod
    def _count(self, flt) -> int: ...

    @abc.abstractmethod
    def _delete_matching(self, flt) -> None:
        """Delete every point matching ``flt``; the caller holds the write lock."""

    _lock: Any  # writes take it (a threading lock)

    @abc.abstractmethod
    def _read_meta(self) -> dict:
        """The collection's BM25 statistics (:meth:`renormalise_bm25`); {} before the first."""

    @abc.abstractmethod
    def _write_meta(self, meta: dict) -> None: ...

    @abc.abstractmethod
    def _rewrite_sparse(self, vectors: dict[str, SparseVec], payloads: dict[str, dict]) -> None:
        """Replace these points' BM25 vectors and set these payload keys; dense vectors stay."""

    @abc.abstractmethod
    def generation(self) -> str:
        """The collection's generation: a token that every write (upsert, vectors, delete) replaces,
        so an answer cached at one generation is never served after the collection changed
        (:mod:`ragstate.store.answer_cache`). A fresh collection gets a fresh token."""

    @abc.abstractmethod
    def _bump(self) -> None:
        """Replace the generation token (after a write; the caller holds the write lock)."""

    # --- built on them, the same for every backend -----------------------------------------------

    def _points(self, flt, payload_keys: list[str] | None = None) -> Iterator[Any]:
        offset = None
        while True:
            records, offset = self._scroll_page(flt, offset, payload_keys)
            yield from records
            if offset is None:
                return

    def chunks_of(self, doc_id: str, version: str, without_dense: bool = False) -> list[StoredChunk]:
        """Chunks of one document version, by position; optionally only those not yet embedded."""
        flt = self.filters.version(doc_id, version, False if without_dense else None)
        return sorted((stored_chunk(r) for r in self._points(flt)), key=lambda c: c.position)

    def summary_of(self, doc_id: str, version: str) -> dict | None:
        """The record of a document version's summary point (ragstate.models.SummaryRecord as a
        dict); None when it has none."""
        for record in self._points(self.filters.version(doc_id, summary_version(version)), ["summary"]):
            return record.payload.get("summary") or None
        return None

    def groups_of(self, doc_id: str) -> tuple[str, ...]:
        """The access groups of a document (of its first chunk found; empty: open, or no such document)."""
        for record in self._points(self.filters.documents([doc_id], []), [GROUPS]):
            return tuple(record.payload.get(GROUPS) or ())
        return ()

    def count_version(self, doc_id: str, version: str, with_dense: bool = False) -> int:
        return self._count(self.filters.version(doc_id, version, True if with_dense else None))

    def delete_stale(self, doc_id: str, keep_version: str) -> int:
        """Remove chunks of ``doc_id`` from other versions; returns how many went."""
        return self._delete_counted(self.filters.stale(doc_id, keep_version))

    def _delete_counted(self, flt) -> int:
        with self._lock:
            n = self._count(flt)
            if n:
                self._delete_matching(flt)
        return n

    def counts(self) -> StoreCounts:
        return StoreCounts(chunks=self._count(None), documents=self._count(self.filters.first_chunks()))

    def list_documents(self, source_prefix: str | None = None) -> list[DocumentInfo]:
        """Every document whose source starts with ``source_prefix`` (a string prefix), by source
        then doc id. Reads the payload of every chunk but never its text.

        Example::

            [d.doc_id for d in store.list_documents("/data/corpus/")]
        """
        versions: dict[str, dict[str, list]] = {}  # doc id -> version -> [chunks, payload of position 0]
        summaries: dict[tuple[str, str], dict] = {}  # (doc id, version summarized) -> its record
        for record in self._points(None, _DOCUMENT_KEYS):
            p = record.payload
            if source_prefix and not p["source"].startswith(source_prefix):
                continue
            if p["version"].endswith(SUMMARY_MARK):
                summaries[(p["doc_id"], p["version"][: -len(SUMMARY_MARK)])] = p.get("summary") or {}
                continue
            entry = versions.setdefault(p["doc_id"], {}).setdefault(p["version"], [0, None])
            entry[0] += 1
            if p["position"] == 0:
                entry[1] = p
        documents = []
        for doc_id, by_version in versions.items():
            # The newest version (an ingest replacing the document has not committed yet).
            version, (chunks, first) = max(
                by_version.items(), key=lambda kv: ((kv[1][1] or {}).get("ingested_at") or "", kv[1][0])
            )
            first = first or {"title": "", "source": ""}
            documents.append(
                DocumentInfo(
                    doc_id=doc_id,
                    title=first.get("title", ""),
                    source=first.get("source", ""),
                    version=version,
                    chunks=chunks,
                    ingested_at=first.get("ingested_at"),
                    summary=summaries.get((doc_id, version)),
                    groups=list(first.get(GROUPS) or []),
                )
            )
        return sorted(documents, key=lambda d: (d.source, d.doc_id))

    def delete_documents(self, doc_ids: Iterable[str] = (), sources: Iterable[str] = ()) -> tuple[int, int]:
        """Delete every chunk of these documents and of every document from these sources
        (exact source paths); returns (documents, chunks) removed. Deleting what is not there
        removes nothing, so it can be repeated.

        Example::

            store.delete_documents(sources=["/data/corpus/old.md"])   # -> (1, 3)
        """
        doc_ids, sources = list(doc_ids), list(sources)
        if not doc_ids and not sources:
            return 0, 0
        flt = self.filters.documents(doc_ids, sources)
        with self._lock:
            documents = {r.payload["doc_id"] for r in self._points(flt, ["doc_id"])}
            return len(documents), self._delete_counted(flt)

    # --- BM25 length normalisation: the collection's real average analysed length -------------

    #: Points read or rewritten at a time by renormalise_bm25.
    bm25_batch: int = 256

    def bm25_avg_len(self, default: float) -> float:
        """The average analysed length of the collection's points as last measured
        (:meth:`renormalise_bm25`); ``default`` before the first measurement."""
        return float(self._read_meta().get("avg_len") or default)

    def renormalise_bm25(self, encoder: Bm25Encoder, tolerance: float = 0.02) -> float:
        """Measure the collection's average analysed length (every point, chunk or summary),
        record it, and re-encode the BM25 vector of each point encoded with an average more than
        ``tolerance`` (relative) away from it, from the point's own title and text. Points
        written before lengths were recorded are read once to learn theirs. Returns the
        average (``encoder.avg_len`` for an empty collection).

        BM25 normalises a document's term frequencies by its length over the collection's
        average; a fixed average (``bm25_avg_len``) is wrong for most collections and the real
        one moves as documents arrive and go. Ingest and delete call this when they finish, so
        between two calls only the points written since can be off, by the drift of one ingest.
        """
        total = count = 0
        learnt: dict[str, list[str]] = {}  # points without a recorded length: their terms
        unknown: list[str] = []
        for record in self._points(None, [BM25_LEN]):
            n = (record.payload or {}).get(BM25_LEN)
            if n is None:
                unknown.append(str(record.id))
            else:
                total, count = total + int(n), count + 1
        for start in range(0, len(unknown), self.bm25_batch):
            for cid, chunk in self.get(unknown[start : start + self.bm25_batch]).items():
                terms = analyze(chunk.indexed_text())
                learnt[cid] = terms
                total, count = total + len(terms), count + 1
        if not count:
            return encoder.avg_len
        avg = total / count
        enc = dataclasses.replace(encoder, avg_len=avg)
        stale = list(learnt)
        for record in self._points(None, [BM25_LEN, BM25_AVG]):
            p = record.payload or {}
            if p.get(BM25_LEN) is not None and abs(float(p.get(BM25_AVG) or 0.0) / avg - 1.0) > tolerance:
                stale.append(str(record.id))
        for start in range(0, len(stale), self.bm25_batch):
            ids = stale[start : start + self.bm25_batch]
            missing = [cid for cid in ids if cid not in learnt]
            by_id = {cid: analyze(c.indexed_text()) for cid, c in self.get(missing).items()} if missing else {}
            by_id |= {cid: learnt.pop(cid) for cid in ids if cid in learnt}
            with self._lock:
                self._rewrite_sparse(
                    {cid: enc.encode_analyzed(t) for cid, t in by_id.items()},
                    {cid: {BM25_LEN: len(t), BM25_AVG: avg} for cid, t in by_id.items()},
                )
        self._write_meta({"avg_len": avg, "points": count})
        return avg

    def optimize(self) -> None:  # noqa: B027 - optional hook: a no-op unless the backend needs it
        """Build indexes now (the embedded engine); servers do this in the background."""

    def close(self) -> None:  # noqa: B027 - optional hook: a no-op unless the backend holds resources
        """Release files and connections."""
