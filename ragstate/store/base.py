"""The store contract every backend fulfils (embedded Qdrant engine, Qdrant server).

A chunk is one Qdrant point: id = deterministic UUID of (doc id, version, position), a
``dense`` vector (added after embedding), a ``bm25`` sparse vector with the IDF modifier and
a payload (doc id, version, title, text, source, position).
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from ragstate.bm25 import SparseVec
from ragstate.models import SearchHit

DENSE = "dense"
SPARSE = "bm25"
INDEXED_KEYWORDS = ("doc_id", "source", "version")
_CHUNK_NS = uuid.UUID("6f1c9a52-2b7e-4d0a-9a57-0c6a1f3d2e11")


def chunk_id(doc_id: str, version: str, position: int) -> str:
    """Deterministic: re-ingesting or retrying never creates a second copy of a chunk."""
    return str(uuid.uuid5(_CHUNK_NS, f"{doc_id}\x00{version}\x00{position}"))


def indexed_text(title: str, text: str) -> str:
    """What BM25 and the embedding model see: the title travels with every chunk."""
    return f"{title}\n\n{text}" if title else text


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

    def payload(self) -> dict:
        return {"doc_id": self.doc_id, "version": self.version, "title": self.title, "text": self.text,
                "source": self.source, "position": self.position}


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
        must = [self.condition(key, self.match_any(list(values)))
                for key, values in (("source", flt.sources), ("doc_id", flt.doc_ids)) if values]
        return self.filter(must=must)

    def version(self, doc_id: str, version: str, dense: bool | None = None):
        """Chunks of one document version; only those with (True) or without (False) a dense vector."""
        must = [self.condition("doc_id", self.match_value(doc_id)),
                self.condition("version", self.match_value(version))]
        has_dense = [self.has_vector(DENSE)]
        if dense is True:
            return self.filter(must=must + has_dense)
        return self.filter(must=must, must_not=has_dense if dense is False else None)

    def stale(self, doc_id: str, keep_version: str):
        return self.filter(must=[self.condition("doc_id", self.match_value(doc_id))],
                           must_not=[self.condition("version", self.match_value(keep_version))])

    def first_chunks(self):
        """One point per document: its chunk at position 0."""
        return self.filter(must=[self.condition("position", self.match_value(0))])


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

    @abc.abstractmethod
    def chunks_of(self, doc_id: str, version: str, without_dense: bool = False) -> list[StoredChunk]:
        """Chunks of one document version, by position; optionally only those not yet embedded."""

    @abc.abstractmethod
    def count_version(self, doc_id: str, version: str, with_dense: bool = False) -> int: ...

    @abc.abstractmethod
    def delete_stale(self, doc_id: str, keep_version: str) -> int:
        """Remove chunks of ``doc_id`` from other versions; returns how many went."""

    @abc.abstractmethod
    def counts(self) -> StoreCounts: ...

    def optimize(self) -> None:
        """Build indexes now (the embedded engine); servers do this in the background."""

    def close(self) -> None:
        """Release files and connections."""
