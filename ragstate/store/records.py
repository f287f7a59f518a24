"""What the store keeps: a chunk's record and id (a deterministic UUID of doc id, version and
position), what a search returns, documents, filters and counts. Backend-neutral."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ragstate.models import ParsedQuery, SearchHit
from ragstate.retrieval.bm25 import SparseVec

DENSE = "dense"
SPARSE = "bm25"
#: The payload key of a chunk's access groups (a keyword array; absent: visible to every caller).
GROUPS = "groups"
INDEXED_KEYWORDS = ("doc_id", "source", "version", GROUPS)
#: Payload keys of a point's BM25 encoding: its analysed length, and the average length its
#: sparse vector was encoded with (ChunkStore.renormalise_bm25 re-encodes when that drifts).
BM25_LEN = "bm25_len"
BM25_AVG = "bm25_avg"
_CHUNK_NS = uuid.UUID("6f1c9a52-2b7e-4d0a-9a57-0c6a1f3d2e11")
#: What list_documents reads of each chunk: never the text (a summary point's record, short, yes).
_DOCUMENT_KEYS = ["doc_id", "version", "title", "source", "position", "ingested_at", "summary", GROUPS]
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


def visible(groups, access_groups) -> bool:
    """Whether a chunk with these ``groups`` may be shown to a caller with ``access_groups``:
    the operator (None) sees everything; a chunk without groups is open to every caller; else
    the two must share a group. The store's filter (:meth:`FilterDialect.search`) says the same."""
    return access_groups is None or not groups or not set(groups).isdisjoint(access_groups)


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
    #: The document's access groups: only callers in one of them find the chunk; None or empty:
    #: every caller (the key is then left out of the payload, as before groups existed).
    groups: list[str] | None = None
    #: Its analysed length and the average length its BM25 vector was encoded with (None: not
    #: recorded; the store learns them at its next renormalise_bm25).
    bm25_len: int | None = None
    bm25_avg: float | None = None

    def payload(self) -> dict:
        extra: dict[str, object] = {"summary": self.summary} if self.summary is not None else {}
        if self.groups:
            extra[GROUPS] = sorted(set(self.groups))
        if self.bm25_len is not None and self.bm25_avg is not None:
            extra[BM25_LEN], extra[BM25_AVG] = self.bm25_len, self.bm25_avg
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
    groups: tuple[str, ...] = ()  # the document's access groups (empty: open to every caller)

    def indexed_text(self) -> str:
        return indexed_text(self.title, self.text)


def stored_chunk(record) -> StoredChunk:
    """A point read back from either client library (both have ``.id`` and a ``.payload`` dict)."""
    p = record.payload
    return StoredChunk(
        str(record.id), p["doc_id"], p["title"], p["text"], p["source"], p["position"], tuple(p.get(GROUPS) or ())
    )


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
    groups: list[str] = field(default_factory=list)  # its access groups (empty: open to every caller)


@dataclass(frozen=True)
class SearchFilter:
    sources: list[str] | None = None
    doc_ids: list[str] | None = None
    #: The caller's access groups: only chunks without groups or sharing one of these match.
    #: None (the operator): no such condition. An empty list: only chunks without groups.
    access_groups: list[str] | None = None

    @property
    def empty(self) -> bool:
        return not self.sources and not self.doc_ids and self.access_groups is None


@dataclass
class StoreCounts:
    chunks: int
    documents: int
    extra: dict = field(default_factory=dict)


def search_filter(q: ParsedQuery) -> SearchFilter:
    """What both search branches filter by: the query's sources and documents, and the caller's
    access groups (a restricted chunk is never a hit of a caller outside its groups)."""
    return SearchFilter(sources=q.sources, doc_ids=q.doc_ids, access_groups=q.access_groups)
