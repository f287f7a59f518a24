"""The store contract every backend fulfils (embedded Qdrant engine, Qdrant server).

A chunk is one Qdrant point: id = deterministic UUID of (doc id, version, position), a
``dense`` vector (added after embedding), a ``bm25`` sparse vector with the IDF modifier and
a payload (doc id, version, title, text, source, position, ingested_at).

Documents are the chunks that share a doc id: :meth:`ChunkStore.list_documents` and
:meth:`ChunkStore.delete_documents` work on them without knowing a backend.
"""

from __future__ import annotations

import abc
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ragstate.models import SearchHit
from ragstate.retrieval.bm25 import SparseVec

DENSE = "dense"
SPARSE = "bm25"
INDEXED_KEYWORDS = ("doc_id", "source", "version")
_CHUNK_NS = uuid.UUID("6f1c9a52-2b7e-4d0a-9a57-0c6a1f3d2e11")
#: What list_documents reads of each chunk: never the text (a summary point's record, short, yes).
_DOCUMENT_KEYS = ["doc_id", "version", "title", "source", "position", "ingested_at", "summary"]
#: A document's summary is one more point of the document: version ``<version>#summary``,
#: position -1 (so it never counts as a document's first chunk), the summary's record in its
#: payload. A new version of the document removes it with the old chunks (delete_stale).
SUMMARY_MARK = "#summary"
SUMMARY_POSITION = -1


def summary_version(version: str) -> str:
    """The version recorded on the summary point of a document version."""
    return version + SUMMARY_MARK


def summary_chunk_id(doc_id: str, version: str) -> str:
    """The id of the summary point of a document version (deterministic: rewriting replaces it)."""
    return chunk_id(doc_id, summary_version(version), SUMMARY_POSITION)


def chunk_id(doc_id: str, version: str, position: int) -> str:
    """Deterministic: re-ingesting or retrying never creates a second copy of a chunk."""
    return str(uuid.uuid5(_CHUNK_NS, f"{doc_id}\x00{version}\x00{position}"))


def content_version(version: str) -> str:
    """The document-content part of a chunk version, ``<content hash>-<indexing parameters tag>``
    (activities/qdrant.py, ``chunk_version``): the same document re-chunked keeps it."""
    return version.rsplit("-", 1)[0]


def indexed_text(title: str, text: str) -> str:
    """What BM25 and the embedding model see: the title travels with every chunk."""
    return f"{title}\n\n{text}" if title else text


def source_under(source: str, root: str) -> bool:
    """Whether ``source`` is ``root`` itself or lies in the folder ``root`` (a path prefix, not a
    string prefix: ``/a/b`` does not hold ``/a/bc.md``)."""
    root = root.rstrip(os.sep) or os.sep
    return source == root or source.startswith(root if root.endswith(os.sep) else root + os.sep)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ChunkRecord:
    chunk_id: str
    doc_id: str
    version: str
    title: str
    text: str
    source: str
    position: int
    sparse: SparseVec
    dense: list[float] | None = None
    #: When this version was indexed (UTC, ISO 8601): what `ragstate documents list` shows.
    ingested_at: str = field(default_factory=_now)
    #: A summary point's record (SummaryRecord as a dict); None for the document's own chunks.
    summary: dict | None = None

    def payload(self) -> dict:
        extra = {"summary": self.summary} if self.summary is not None else {}
        return extra | {
            "doc_id": self.doc_id,
            "version": self.version,
            "title": self.title,
            "text": self.text,
            "source": self.source,
            "position": self.position,
            "ingested_at": self.ingested_at,
        }


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    source: str
    position: int

    def indexed_text(self) -> str:
        return indexed_text(self.title, self.text)


def stored_chunk(record) -> StoredChunk:
    """A point read back from either client library (both have ``.id`` and a ``.payload`` dict)."""
    p = record.payload
    return StoredChunk(str(record.id), p["doc_id"], p["title"], p["text"], p["source"], p["position"])


def search_hits(points) -> list[SearchHit]:
    return [SearchHit(chunk_id=str(p.id), doc_id=p.payload["doc_id"], score=float(p.score)) for p in points]


@dataclass(frozen=True)
class DocumentInfo:
    """One document of a collection, from its chunks' payloads (its newest version when an
    ingest is half way through replacing it)."""

    doc_id: str
    title: str
    source: str
    version: str
    chunks: int
    ingested_at: str | None = None
    summary: dict | None = None  # the record of this version's summary point, when it has one


@dataclass(frozen=True)
class SearchFilter:
    sources: list[str] | None = None
    doc_ids: list[str] | None = None

    @property
    def empty(self) -> bool:
        return not self.sources and not self.doc_ids


@dataclass(frozen=True)
class FilterDialect:
    """The store's filters, built once for both client libraries: qdrant-edge and
    qdrant-client spell the same Qdrant filter with different constructors."""

    condition: Callable[[str, Any], Any]  # (payload key, match) -> field condition
    match_value: Callable[[Any], Any]
    match_any: Callable[[list], Any]
    has_vector: Callable[[str], Any]
    filter: Callable[..., Any]  # filter(must=[...], must_not=[...])

    def search(self, flt: SearchFilter | None):
        if flt is None or flt.empty:
            return None
        must = [
            self.condition(key, self.match_any(list(values)))
            for key, values in (("source", flt.sources), ("doc_id", flt.doc_ids))
            if values
        ]
        return self.filter(must=must)

    def version(self, doc_id: str, version: str, dense: bool | None = None):
        """Chunks of one document version; only those with (True) or without (False) a dense vector."""
        must = [
            self.condition("doc_id", self.match_value(doc_id)),
            self.condition("version", self.match_value(version)),
        ]
        has_dense = [self.has_vector(DENSE)]
        if dense is True:
            return self.filter(must=must + has_dense)
        return self.filter(must=must, must_not=has_dense if dense is False else None)

    def stale(self, doc_id: str, keep_version: str):
        """Chunks of ``doc_id`` of other versions (the kept version's summary is kept too)."""
        return self.filter(
            must=[self.condition("doc_id", self.match_value(doc_id))],
            must_not=[self.condition("version", self.match_any([keep_version, summary_version(keep_version)]))],
        )

    def first_chunks(self):
        """One point per document: its chunk at position 0."""
        return self.filter(must=[self.condition("position", self.match_value(0))])

    def documents(self, doc_ids: list[str], sources: list[str]):
        """Chunks of any of these documents or of any document from one of these sources."""
        should = [
            self.condition(key, self.match_any(list(values)))
            for key, values in (("doc_id", doc_ids), ("source", sources))
            if values
        ]
        return self.filter(should=should)


@dataclass
class StoreCounts:
    chunks: int
    documents: int
    extra: dict = field(default_factory=dict)


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
