"""Models of the ingestion side: the request, each step's input and output, progress and the result.

They travel through workflow history: ids, scores and short texts, never vectors."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.names import CollectionName
from ragstate.models.query import Routing, Usage
from ragstate.models.tenancy import AccessGroup, TenantName


class IngestRequest(_Model):
    """Files or folders to ingest (.txt, .md, .html, BEIR .jsonl).

    Example::

        await client.execute_workflow(
            IngestWorkflow.run, IngestRequest(paths=["examples/corpus"]),
            id="rag-ingest-corpus", task_queue="ragstate")
    """

    paths: list[str]
    collection: CollectionName | None = None
    batch_docs: int | None = Field(default=None, ge=1, le=10_000)
    concurrency: int = Field(default=4, ge=1, le=64, description="batches in flight at once")
    batches_per_run: int = Field(
        default=200, ge=1, le=2000, description="continue-as-new after this many batches (about 15 events each)"
    )
    roots: list[str] | None = Field(
        default=None,
        description="when set, only files whose real path (symbolic links resolved) lies under one "
        "of these folders are read; the rest are failures (the gateway sets it)",
    )
    sync: bool = Field(
        default=False,
        description="afterwards, remove the collection's documents under these paths "
        "whose files are gone (IngestResult.removed)",
    )
    summarize: bool = Field(
        default=False,
        description="afterwards, a summary of each document by the LLM (extractive offline), stored "
        "with it and searchable (the SummarizeDocuments child workflow; IngestResult.summaries)",
    )
    tenant: TenantName | None = Field(
        default=None, description="the tenant the ingest runs for (its RagTenant and memo); None: the operator"
    )
    access_groups: list[AccessGroup] | None = Field(
        default=None,
        max_length=256,
        description="access groups given to every document of this ingest that names none of its own "
        "(a .jsonl line's 'groups', a '<file>.groups' sidecar); None or empty: visible to the whole tenant",
    )
    groups_from: str | None = Field(
        default=None,
        description="set by a re-index only (never from a caller): the physical collection being rebuilt; a "
        "document that names no groups of its own, with no access_groups given, keeps the groups it has there",
    )
    carry: IngestCarry | None = Field(default=None, description="set by continue-as-new only")


class SourceRef(_Model):
    """Where documents come from: a whole file, or lines [start, end) of a BEIR .jsonl file."""

    path: str
    start: int | None = None
    end: int | None = None
    #: Lines of that range not to load (0-based): records whose ``_id`` repeats an earlier one.
    skip_lines: list[int] = Field(default_factory=list)

    @property
    def documents(self) -> int:
        """Documents it stands for: a whole file is one; a .jsonl slice, its lines that are loaded."""
        return 1 if self.start is None or self.end is None else self.end - self.start - len(self.skip_lines)


class SkippedFile(_Model):
    """A file of a named folder that an ingest does not read (an unsupported type), and why."""

    path: str
    reason: str


class DiscoverInput(_Model):
    paths: list[str]
    cursor: int = 0
    batch_docs: int | None = None
    collection: str | None = None
    roots: list[str] | None = None


class DiscoverPage(_Model):
    batches: list[list[SourceRef]]
    next_cursor: int | None
    failures: list[DocumentFailure] = Field(default_factory=list)
    collection: str
    routing: Routing
    documents_total: int | None = Field(None, description="documents of every page (set on the first page)")
    skipped_files: list[SkippedFile] = Field(default_factory=list, description="set on the first page")
    skipped: int = Field(0, description="files skipped, listed in skipped_files or not")


class DocumentFailure(_Model):
    doc_id: str
    source: str
    reason: str
    retryable: bool = Field(
        False, description="retrying may help (a batch lost with its worker); not for unreadable or too large files"
    )


class DocVersion(_Model):
    """A reference to one version of a document's chunks in the store (no text, no vectors)."""

    doc_id: str
    version: str
    chunks: int


class ChunkBatchInput(_Model):
    collection: str
    refs: list[SourceRef]
    access_groups: list[str] | None = Field(
        default=None, description="IngestRequest.access_groups: the groups of a document that names none"
    )
    groups_from: str | None = Field(default=None, description="IngestRequest.groups_from (a re-index)")


class ChunkBatchResult(_Model):
    documents: list[DocVersion] = Field(description="indexed for keywords, waiting for dense vectors")
    unchanged: list[DocVersion] = Field(default_factory=list, description="already fully indexed at this version")
    failures: list[DocumentFailure] = Field(default_factory=list)


class EmbedInput(_Model):
    collection: str
    documents: list[DocVersion]


class EmbedResult(_Model):
    embedded: int


class CommitInput(_Model):
    collection: str
    documents: list[DocVersion]


class CommitResult(_Model):
    stale_chunks_removed: int


class IngestProgress(_Model):
    batches_done: int = 0
    batches_discovered: int = Field(0, description="batches started so far")
    documents: int = 0
    unchanged: int = 0
    chunks: int = 0
    failed: int = 0
    gpu_fallbacks: int = Field(0, description="embedding batches sent to the CPU queue because no GPU worker took them")
    discovery_done: bool = False
    finished: bool = False
    # Progress by chunks embedded: the total of documents is known from discovery's first page
    # on; the total of chunks is exact once every document is chunked (estimated until then).
    documents_total: int | None = Field(None, description="documents discovery found; stable from the start")
    documents_chunked: int = Field(0, description="documents loaded and chunked (or failed) so far")
    chunks_found: int = Field(0, description="chunks of the documents chunked so far")
    chunks_embedded: int = Field(
        0, description="chunks with vectors; RagClient adds in-flight batches' heartbeats to the workflow's count"
    )
    started_at: datetime | None = None
    chunks_per_s: float | None = Field(None, description="embedding rate since the start (set by the client)")
    eta_s: float | None = Field(None, description="seconds left at that rate (set by the client)")


class IngestCarry(_Model):
    """Carried across continue-as-new so a long ingest keeps its history bounded."""

    cursor: int = 0
    progress: IngestProgress = Field(default_factory=IngestProgress)
    failures: list[DocumentFailure] = Field(default_factory=list)
    failures_dropped: int = 0
    started_at: datetime | None = None
    skipped_files: list[SkippedFile] = Field(default_factory=list)
    skipped: int = 0


class SummarizeResult(_Model):
    """What the summarize stage did (the SummarizeDocuments child workflow of an ingest)."""

    mode: str | None = Field(None, description="llm, batch or extractive; None when nothing needed a summary")
    summarized: int = 0
    already: int = Field(0, description="documents whose version had its summary already")
    failed: int = 0
    failures: list[DocumentFailure] = Field(default_factory=list, description="the first 100, with their reasons")
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    batch_ids: list[str] = Field(default_factory=list, description="the Message Batches made")


class IngestResult(_Model):
    documents: int
    unchanged: int = 0
    chunks: int
    failed: int
    failures: list[DocumentFailure]
    failures_dropped: int = Field(0, description="failures beyond the kept list (counted in `failed`)")
    gpu_fallbacks: int = 0
    removed: int = Field(0, description="documents removed by a sync because their files are gone")
    skipped: int = Field(0, description="files of the named folders not read (unsupported types)")
    skipped_files: list[SkippedFile] = Field(default_factory=list, description="those files, each with its reason")
    summaries: SummarizeResult | None = Field(None, description="the summarize stage (IngestRequest.summarize)")
    duration_ms: float = 0.0
    workflow_id: str = ""
