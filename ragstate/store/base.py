"""The store contract every backend fulfils (embedded Qdrant engine, Qdrant server).

A chunk is one Qdrant point: id = deterministic UUID of (doc id, version, position), a
``dense`` vector (added after embedding), a ``bm25`` sparse vector with the IDF modifier and
a payload (doc id, version, title, text, source, position, ingested_at).

Documents are the chunks that share a doc id: :meth:`ChunkStore.list_documents` and
:meth:`ChunkStore.delete_documents` work on them without knowing a backend.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from typing import Any

from ragstate.models import SearchHit
from ragstate.retrieval.bm25 import SparseVec
from ragstate.store.filters import FilterDialect
from ragstate.store.records import (
    _DOCUMENT_KEYS,
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

    def optimize(self) -> None:  # noqa: B027 - optional hook: a no-op unless the backend needs it
        """Build indexes now (the embedded engine); servers do this in the background."""

    def close(self) -> None:  # noqa: B027 - optional hook: a no-op unless the backend holds resources
        """Release files and connections."""
