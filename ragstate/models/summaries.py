"""Inputs and outputs of the summarize stage (workflows/summarize.py and its activities).

Like :mod:`ragstate.models` they travel through workflow history, so they carry document ids,
versions, batch ids and counts, never a document's text.
"""

from __future__ import annotations

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.ingest import DocumentFailure, DocVersion, SummarizeResult
from ragstate.models.names import CollectionName
from ragstate.models.query import Usage

__all__ = [
    "SummarizeRequest",
    "SummaryBatchInput",
    "SummaryBatchStatus",
    "SummaryCollectInput",
    "SummaryCopied",
    "SummaryCopyInput",
    "SummaryDocInput",
    "SummaryPlan",
    "SummaryPlanInput",
    "SummaryWork",
    "SummaryWritten",
]


class SummarizeRequest(_Model):
    """Summarize the documents of ``collection`` under ``paths`` (within ``roots`` when set)
    whose current version has no summary yet."""

    collection: CollectionName | None = None
    paths: list[str]
    roots: list[str] | None = None
    #: Continue-as-new only: where the next page starts and what the earlier runs did.
    cursor: list[str] | None = None
    mode: str | None = None
    done: SummarizeResult | None = None


class SummaryPlanInput(_Model):
    collection: str | None = None
    paths: list[str]
    roots: list[str] | None = None
    cursor: list[str] | None = Field(None, description="(source, doc id) of the last document planned")


class SummaryPlan(_Model):
    """One page of documents to summarize, and how (decided by the worker's settings on the
    first page and kept for the run)."""

    collection: str
    documents: list[DocVersion]
    next_cursor: list[str] | None = None
    already: int = Field(0, description="documents whose version has its summary (first page only)")
    pending_total: int = Field(0, description="documents that need one, every page (first page only)")
    mode: str = Field(description="llm, batch or extractive")
    poll_s: float = 30.0
    poll_max_s: float = 300.0
    embeddings_task_queue: str


class SummaryWork(_Model):
    """Extractive summaries of these documents (one activity, offline)."""

    collection: str
    documents: list[DocVersion]


class SummaryDocInput(_Model):
    """One document through the Messages API."""

    collection: str
    document: DocVersion


class SummaryBatchInput(_Model):
    """A Message Batch of these documents; ``key`` names it for this run and page, so that a
    retried creation finds the batch an earlier attempt made."""

    collection: str
    key: str
    documents: list[DocVersion]


class SummaryBatchStatus(_Model):
    batch_id: str
    processing_status: str = Field(description="in_progress, canceling or ended")
    processing: int = 0
    succeeded: int = 0
    errored: int = 0


class SummaryCollectInput(_Model):
    collection: str
    batch_id: str
    documents: list[DocVersion]


class SummaryWritten(_Model):
    """Summaries written to the store: their points (``version``: the summary point's, one
    chunk each) wait for dense vectors (EmbedChunks)."""

    written: list[DocVersion] = Field(default_factory=list)
    already: int = Field(0, description="found written by an earlier attempt: not paid again")
    failures: list[DocumentFailure] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0


class SummaryCopyInput(_Model):
    """Carry the summaries of collection version ``source`` over to ``target`` (a re-index):
    each summary whose document version ``target`` also holds."""

    source: str
    target: str


class SummaryCopied(_Model):
    """The summary points written to the target: they wait for dense vectors (EmbedChunks)."""

    written: list[DocVersion] = Field(default_factory=list)
    embeddings_task_queue: str
