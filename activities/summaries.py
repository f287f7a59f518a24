"""The store side of the summarize stage (workflows/summarize.py): which documents need a
summary, a document's text, and the summary written as one more point of its document.

A summary is stored with its document version (:func:`ragstate.store.base.summary_version`):
one chunk titled ``Summary: <title>`` with its BM25 vector now and its dense vector from
EmbedChunks next, so keyword and vector search find it and a citation of it says it is the
summary; its record (text, mode, model, usage, cost) is in its payload, which
``documents list`` returns, with the document's access groups (only the callers who may read the
document find its summary). A new version of the document removes it with the old chunks.

They run on the workflow worker, next to the store. Writing is idempotent: the point's id is
derived from the document version, so a retry replaces it.

Example::

    acts = SummaryActivities(settings)
    Worker(client, task_queue=..., activities=acts.all())
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity

from ragstate.activities.heartbeat import heartbeating
from ragstate.activities.lifecycle import documents_under
from ragstate.answers.pricing import no_llm_cost
from ragstate.contracts import Activity
from ragstate.ingest.summaries import EXTRACTIVE, document_text, extractive_summary, summary_title
from ragstate.models import DocumentFailure, DocVersion, SummaryRecord
from ragstate.models.summaries import (
    SummaryCopied,
    SummaryCopyInput,
    SummaryPlan,
    SummaryPlanInput,
    SummaryWork,
    SummaryWritten,
)
from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.settings import Settings
from ragstate.store import ChunkRecord, ChunkStore, open_store, source_under
from ragstate.store.records import SUMMARY_POSITION, content_version, indexed_text, summary_chunk_id, summary_version

__all__ = ["StoredDocument", "SummaryActivities", "SummaryStore"]


class StoredDocument:
    """A document version as the store holds it: title, source and text (from its chunks)."""

    def __init__(self, doc: DocVersion, title: str, source: str, text: str, groups: tuple[str, ...] = ()):
        self.doc, self.title, self.source, self.text = doc, title, source, text
        self.groups = groups  # its access groups: its summary point gets them too


class SummaryStore:
    """Reading documents and writing their summaries, through :class:`ChunkStore`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.bm25 = Bm25Encoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avg_len)

    def store(self, collection: str | None) -> ChunkStore:
        return open_store(self.settings, collection)

    def read(self, store: ChunkStore, doc: DocVersion) -> StoredDocument | DocumentFailure:
        chunks = store.chunks_of(doc.doc_id, doc.version)
        if not chunks:
            return DocumentFailure(
                doc_id=doc.doc_id, source="", reason=f"version {doc.version} is no longer in the store", retryable=False
            )
        text = document_text([c.text for c in chunks], self.settings.summary_input_chars)
        return StoredDocument(doc, chunks[0].title, chunks[0].source, text, chunks[0].groups)

    def existing(self, store: ChunkStore, doc: DocVersion) -> SummaryRecord | None:
        found = store.summary_of(doc.doc_id, doc.version)
        return SummaryRecord.model_validate(found) if found else None

    def write(self, store: ChunkStore, stored: StoredDocument, record: SummaryRecord) -> DocVersion:
        """The summary point of ``stored`` (replacing an earlier one); returns the reference
        EmbedChunks takes to embed it."""
        doc, title = stored.doc, summary_title(stored.title)
        version = summary_version(doc.version)
        record.summarized_at = record.summarized_at or datetime.now(UTC).isoformat(timespec="seconds")
        store.upsert(
            [
                ChunkRecord(
                    chunk_id=summary_chunk_id(doc.doc_id, doc.version),
                    doc_id=doc.doc_id,
                    version=version,
                    title=title,
                    text=record.text,
                    source=stored.source,
                    position=SUMMARY_POSITION,
                    sparse=self.bm25.encode_document(indexed_text(title, record.text)),
                    summary=record.model_dump(mode="json"),
                    groups=list(stored.groups),  # found only by the callers who may read the document
                )
            ]
        )
        return DocVersion(doc_id=doc.doc_id, version=version, chunks=1)


def _resolved(paths: list[str]) -> list[str]:
    return [str(Path(p).expanduser().resolve()) for p in paths]


class SummaryActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.summaries = SummaryStore(settings)

    def all(self) -> list[Callable]:
        """What the workflow worker registers."""
        return [self.plan_summaries, self.extractive_summaries, self.copy_summaries]

    @activity.defn(name=Activity.PLAN_SUMMARIES)
    def plan_summaries(self, inp: SummaryPlanInput) -> SummaryPlan:
        """The next page of documents under the ingested paths whose version has no summary, by
        (source, doc id) after ``cursor``; and, from this worker's settings, how to summarize
        them: extractive without an API key, a Message Batch for more than
        ``summary_batch_min`` documents, otherwise one Messages API call each."""
        s = self.settings
        collection = inp.collection or s.collection
        store = self.summaries.store(collection)
        allowed = _resolved(inp.roots) if inp.roots is not None else None
        roots = [r for r in _resolved(inp.paths) if allowed is None or any(source_under(r, a) for a in allowed)]
        docs = sorted(documents_under(store, roots), key=lambda d: (d.source, d.doc_id))
        pending = [d for d in docs if not d.summary]
        first = inp.cursor is None
        if not first:
            after = tuple(inp.cursor or ())
            pending = [d for d in pending if (d.source, d.doc_id) > after]
        page = pending[: s.summary_page_docs]
        mode = EXTRACTIVE if s.anthropic_key() is None else "batch" if len(pending) > s.summary_batch_min else "llm"
        return SummaryPlan(
            collection=collection,
            documents=[DocVersion(doc_id=d.doc_id, version=d.version, chunks=d.chunks) for d in page],
            next_cursor=[page[-1].source, page[-1].doc_id] if len(pending) > len(page) else None,
            already=len(docs) - len(pending) if first else 0,
            pending_total=len(pending) if first else 0,
            mode=mode,
            poll_s=s.summary_poll_s,
            poll_max_s=s.summary_poll_max_s,
            embeddings_task_queue=s.embeddings_task_queue,
        )

    @activity.defn(name=Activity.EXTRACTIVE_SUMMARIES)
    def extractive_summaries(self, work: SummaryWork) -> SummaryWritten:
        """Offline summaries (no API key): sentences of each document, labelled extractive, at
        no cost."""
        store = self.summaries.store(work.collection)
        out = SummaryWritten()
        with heartbeating():
            for doc in work.documents:
                stored = self.summaries.read(store, doc)
                if isinstance(stored, DocumentFailure):
                    out.failures.append(stored)
                    continue
                record = SummaryRecord(
                    text=extractive_summary(stored.title, stored.text),
                    mode=EXTRACTIVE,
                    cost=no_llm_cost("offline: an extractive summary, no LLM call"),
                )
                out.written.append(self.summaries.write(store, stored, record))
        return out

    @activity.defn(name=Activity.COPY_SUMMARIES)
    def copy_summaries(self, inp: SummaryCopyInput) -> SummaryCopied:
        """Write the summaries of ``inp.source`` into ``inp.target`` for the document versions
        the target holds (a re-index re-chunks documents, it does not change them, so their
        summaries stay true and are not paid for again). Idempotent: summary point ids are
        deterministic."""
        source, target = self.summaries.store(inp.source), self.summaries.store(inp.target)
        written = []
        with heartbeating():
            rebuilt = {d.doc_id: d for d in target.list_documents()}
            for info in source.list_documents():
                now = rebuilt.get(info.doc_id)
                if not info.summary or now is None or content_version(now.version) != content_version(info.version):
                    continue  # no summary, or the document is gone or changed since: nothing true to carry
                doc = DocVersion(doc_id=now.doc_id, version=now.version, chunks=now.chunks)
                stored = StoredDocument(doc, info.title, now.source, text="", groups=tuple(now.groups))
                written.append(self.summaries.write(target, stored, SummaryRecord.model_validate(info.summary)))
        return SummaryCopied(written=written, embeddings_task_queue=self.settings.embeddings_task_queue)
