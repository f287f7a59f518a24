"""Models of the index lifecycle (workflows/lifecycle.py): sync, documents and collections.

They travel through workflow history: ids, scores and short texts, never vectors."""

from __future__ import annotations

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.names import CollectionName
from ragstate.models.query import Cost, Usage
from ragstate.models.tenancy import AccessGroup


class PruneInput(_Model):
    """Remove the collection's documents under ``paths`` (resolved by the worker) whose files
    discovery no longer finds there."""

    collection: str
    paths: list[str]
    roots: list[str] | None = None


class SummaryRecord(_Model):
    """A document's summary as stored with it (ragstate.ingest.summaries): text, how it was made and
    what it cost."""

    text: str
    mode: str = Field(description="llm (a Messages API call), batch (Message Batches API) or extractive (offline)")
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost: Cost = Field(default_factory=Cost)
    summarized_at: str | None = Field(None, description="UTC, ISO 8601")


class DocumentChunk(_Model):
    """One chunk of a document as indexed: its id, place in the document and text."""

    chunk_id: str
    position: int
    text: str


class DocumentSummary(_Model):
    doc_id: str
    title: str
    source: str
    version: str
    chunks: int
    ingested_at: str | None = Field(None, description="when this version was indexed (UTC, ISO 8601)")
    summary: SummaryRecord | None = Field(None, description="the summary of this version, when one was made")
    groups: list[str] = Field(default_factory=list, description="its access groups (empty: open to every caller)")
    content: list[DocumentChunk] | None = Field(
        None, description="the chunks of this version, by position (asked for with ListDocumentsRequest.with_chunks)"
    )


class ListDocumentsRequest(_Model):
    collection: CollectionName | None = None
    source_prefix: str | None = Field(None, description="only documents whose source starts with this")
    limit: int = Field(1000, ge=1, le=10_000, description="at most this many (the result travels through history)")
    doc_ids: list[str] | None = Field(None, max_length=100, description="only these documents")
    with_chunks: bool = Field(False, description="each listed document with its chunks' text (DocumentSummary.content)")
    chunk_ids: list[str] | None = Field(
        None, max_length=1000, description="with_chunks: only these chunks (the text of search hits)"
    )
    access_groups: list[AccessGroup] | None = Field(
        None,
        max_length=256,
        description="the caller's access groups: only documents without groups or sharing one of these are "
        "listed (and read); None (the operator): every document",
    )


class DocumentList(_Model):
    collection: str
    documents: list[DocumentSummary]
    total: int = Field(description="documents that matched, listed or not")


class DeleteDocumentsRequest(_Model):
    """Documents to delete: by doc id, or by source (a file: its documents; a folder: every
    document under it). Paths are absolute (the client makes them so)."""

    collection: CollectionName | None = None
    doc_ids: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)


class DeleteResult(_Model):
    collection: str
    documents: int
    chunks: int


class CollectionRequest(_Model):
    collection: CollectionName | None = Field(
        None, description="settings.collection when unset (ListCollections ignores it)"
    )


class CollectionList(_Model):
    backend: str
    collections: list[str]


class DropResult(_Model):
    collection: str
    dropped: bool = Field(description="False when there was no such collection")
