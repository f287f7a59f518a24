"""Typed inputs and outputs of every workflow and activity (pydantic, stdlib only besides).

Workflows import this module, so it must stay free of heavy or non-deterministic imports.
Everything here travels through workflow history: it carries ids, scores and short texts,
never vectors or document batches.
"""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# ---------------------------------------------------------------------------------------------
# Query side
# ---------------------------------------------------------------------------------------------


class RagQuery(_Model):
    """A question for :class:`ragstate.workflows.query.RagQueryWorkflow`.

    Example::

        await client.execute_workflow(
            RagQueryWorkflow.run, RagQuery(question="What is BM25?", top_k=5),
            id="rag-query-demo", task_queue="ragstate")
    """

    question: str
    top_k: int | None = Field(default=None, description="sources to cite; settings.default_top_k when unset")
    sources: list[str] | None = Field(default=None, description="only chunks whose source is one of these")
    doc_ids: list[str] | None = Field(default=None, description="only chunks of these documents")
    collection: str | None = Field(default=None, description="settings.collection when unset")
    synthesize: bool = Field(default=True, description="False stops after retrieval (evaluation)")
    depth: int | None = Field(
        default=None, ge=1, le=1000, description="candidates per branch before fusion; settings.search_depth when unset"
    )
    stream_tokens: bool = Field(
        default=False,
        description="publish the LLM's tokens to the run's stream as they come (streaming clients set it); "
        "a plain ask leaves them out of the history",
    )


class Routing(_Model):
    """Task queues for the steps that run elsewhere, resolved from the worker's settings by the
    first activity and so recorded in history: workflows never read the environment."""

    embeddings_task_queue: str
    llm_task_queue: str
    local_steps: bool = Field(default=False, description="KeywordSearch and Merge as local activities")
    vector_search_local: bool = Field(
        default=False, description="the workflow worker has the model: run VectorSearch as a local activity"
    )
    synthesize_local: bool = Field(
        default=False, description="offline extractive synthesis in the workflow worker: a local activity"
    )
    gpu_embeddings_task_queue: str | None = Field(
        default=None, description="ingest embeds here first when set, falling back to embeddings_task_queue"
    )
    gpu_fallback_after_s: float = 30.0
    schedule_to_start_s: float | None = Field(
        default=None,
        description="a step on a remote queue that no worker starts in this time fails (its branch "
        "degrades the answer); None (runs from before the setting): no bound",
    )
    llm_fallback_extractive: bool = Field(
        default=False,
        description="a Synthesize that fails for good (or no LLM worker takes) gives the extractive "
        "answer, flagged degraded, instead of failing the query",
    )
    abstain_min_similarity: float = Field(
        default=0.0, description="settings.abstain_min_similarity (0, runs from before it: never abstain)"
    )


class ParsedQuery(_Model):
    """Output of ParseQuery: validated, normalised and ready for both search branches."""

    question: str
    top_k: int
    depth: int = Field(description="candidates each branch returns before fusion")
    terms: list[str] = Field(description="analyzed keyword terms (lowercased, stemmed, no stop words)")
    sources: list[str] | None = None
    doc_ids: list[str] | None = None
    collection: str
    synthesize: bool = True
    routing: Routing
    attempt: int = Field(default=1, description="the ParseQuery attempt that produced it")


class Branch(str, enum.Enum):
    vector = "vector"
    keyword = "keyword"


class SearchHit(_Model):
    chunk_id: str
    doc_id: str
    score: float


class BranchResult(_Model):
    branch: Branch
    hits: list[SearchHit]
    attempt: int = Field(default=1, description="the activity attempt that produced it (the run's details show it)")


class MergeInput(_Model):
    query: ParsedQuery
    vector: BranchResult | None = None
    keyword: BranchResult | None = None


class Source(_Model):
    """One numbered passage given to the LLM; ``[number]`` in the answer cites it."""

    number: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    score: float


class MergeResult(_Model):
    sources: list[Source]
    ranking: list[SearchHit] = Field(
        default_factory=list,
        description="the fused ranking (ids and scores) of a retrieval-only query, for evaluation; empty otherwise",
    )
    candidates: int
    attempt: int = Field(default=1, description="the activity attempt that produced it")


class SynthesisInput(_Model):
    question: str
    sources: list[Source]
    best_score: float | None = Field(
        default=None, description="the vector branch's best cosine similarity (None: the branch did not answer)"
    )
    abstain_below: float = Field(
        default=0.0, description="no answer (no LLM call) when best_score is below this (ragstate.abstention)"
    )
    stream_tokens: bool = Field(
        default=False, description="publish the answer's tokens to the run's stream (a client subscribed)"
    )


class AnswerMode(str, enum.Enum):
    llm = "llm"
    offline_extractive = "offline-extractive"
    retrieval_only = "retrieval-only"


class Usage(_Model):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = Field(default=0, description="input tokens read from the prompt cache")
    cache_creation_input_tokens: int = Field(default=0, description="input tokens written to the prompt cache")


class Cost(_Model):
    """What an answer cost in USD (:mod:`ragstate.pricing`); 0 with a ``reason`` when no LLM
    call was made, ``priced=False`` when the model's price is unknown."""

    usd: float = 0.0
    input_usd: float = 0.0
    output_usd: float = 0.0
    model: str | None = None
    priced: bool = True
    reason: str | None = None
    prices_taken: str | None = Field(default=None, description="the date the list prices were read")


class SynthesisResult(_Model):
    answer: str
    mode: AnswerMode
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    truncated: bool = Field(default=False, description="the LLM stopped at max_tokens: the answer may be cut short")
    cost: Cost | None = Field(default=None, description="the LLM call's cost; None when no call was made")
    attempt: int = Field(default=1, description="the activity attempt that produced it")
    citations: list[Citation] | None = Field(
        default=None, description="the cited spans (native API citations, extractive quotes); None: parse [n] markers"
    )
    no_answer: bool = Field(default=False, description="the sources do not contain the answer: abstained")
    best_score: float | None = Field(default=None, description="the abstention signal (SynthesisInput.best_score)")


class Citation(_Model):
    number: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    snippet: str
    score: float
    cited_text: list[str] = Field(default_factory=list, description="the spans of the source the answer cites")


class StepTiming(_Model):
    step: str
    duration_ms: float
    status: str = "ok"


class RagAnswer(_Model):
    """What a question returns: the answer, its numbered citations and how it was produced."""

    question: str
    answer: str
    citations: list[Citation]
    mode: AnswerMode
    model: str | None = None
    degraded: bool = False
    degraded_reasons: list[str] = Field(default_factory=list)
    truncated: bool = Field(default=False, description="the LLM stopped at max_tokens: the answer may be cut short")
    usage: Usage = Field(default_factory=Usage)
    cost: Cost = Field(default_factory=Cost, description="what the answer cost (0 with the reason without an LLM call)")
    no_answer: bool = Field(default=False, description="nothing retrieved supports an answer: the answer says so")
    best_score: float | None = Field(
        default=None, description="the vector branch's best cosine similarity, the abstention signal"
    )
    timings: list[StepTiming] = Field(default_factory=list)
    ranking: list[SearchHit] = Field(default_factory=list, description="fused ranking (retrieval-only mode)")
    branch_rankings: dict[Branch, list[SearchHit]] = Field(
        default_factory=dict, description="each branch's own ranking (retrieval-only mode)"
    )
    workflow_id: str = ""
    run_id: str = ""


# ---------------------------------------------------------------------------------------------
# Ingestion side
# ---------------------------------------------------------------------------------------------


class IngestRequest(_Model):
    """Files or folders to ingest (.txt, .md, .html, BEIR .jsonl).

    Example::

        await client.execute_workflow(
            IngestWorkflow.run, IngestRequest(paths=["examples/corpus"]),
            id="rag-ingest-corpus", task_queue="ragstate")
    """

    paths: list[str]
    collection: str | None = None
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
    carry: IngestCarry | None = Field(default=None, description="set by continue-as-new only")


class SourceRef(_Model):
    """Where documents come from: a whole file, or lines [start, end) of a BEIR .jsonl file."""

    path: str
    start: int | None = None
    end: int | None = None
    #: Lines of that range not to load (0-based): records whose ``_id`` repeats an earlier one.
    skip_lines: list[int] = []

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


# ---------------------------------------------------------------------------------------------
# Store statistics
# ---------------------------------------------------------------------------------------------


class StatsRequest(_Model):
    collection: str | None = None


class StoreStats(_Model):
    backend: str
    collection: str
    chunks: int
    documents: int


DiscoverPage.model_rebuild()
IngestRequest.model_rebuild()


# ---------------------------------------------------------------------------------------------
# Streaming and status (HTTP gateway, RagClient.ask_stream / get_result / ingest_status)
# ---------------------------------------------------------------------------------------------


class StreamEventType(str, enum.Enum):
    step = "step"  # a state of the graph finished: parsed, retrieved, synthesizing
    token = "token"  # answer text as the LLM produces it
    final = "final"  # the RagAnswer (citations, usage): always the last event
    error = "error"  # the workflow failed; the last event


class StreamEvent(_Model):
    """One event of a streamed answer, in order: steps, tokens, then final (or error)."""

    type: StreamEventType
    step: str | None = None
    detail: dict[str, int | float | str] = Field(default_factory=dict)
    text: str | None = None
    answer: RagAnswer | None = None
    error: str | None = None
    error_type: str | None = None


class RunState(str, enum.Enum):
    running = "running"
    completed = "completed"
    failed = "failed"


class QueryStatus(_Model):
    workflow_id: str
    state: RunState
    answer: RagAnswer | None = None
    error: str | None = None
    error_type: str | None = Field(None, description="e.g. InvalidQuery, LLMRequestRejected, RetrievalFailed")


class IngestStatus(_Model):
    workflow_id: str
    state: RunState
    progress: IngestProgress | None = None
    result: IngestResult | None = None
    error: str | None = None


class RateLimitWait(_Model):
    """A query run whose LLM step is waiting out a rate limit (``RagClient.llm_rate_limit``)."""

    retry_in_s: float | None = Field(None, description="seconds until the next attempt, when Temporal says")
    message: str = Field(description="the last attempt's failure, as the activity reported it")
    activity: str = Field(description="the waiting activity's type (Synthesize)")


# ---------------------------------------------------------------------------------------------
# Index lifecycle: sync, documents and collections (workflows/lifecycle.py)
# ---------------------------------------------------------------------------------------------


class PruneInput(_Model):
    """Remove the collection's documents under ``paths`` (resolved by the worker) whose files
    discovery no longer finds there."""

    collection: str
    paths: list[str]
    roots: list[str] | None = None


class SummaryRecord(_Model):
    """A document's summary as stored with it (ragstate.summaries): text, how it was made and
    what it cost."""

    text: str
    mode: str = Field(description="llm (a Messages API call), batch (Message Batches API) or extractive (offline)")
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost: Cost = Field(default_factory=Cost)
    summarized_at: str | None = Field(None, description="UTC, ISO 8601")


class DocumentSummary(_Model):
    doc_id: str
    title: str
    source: str
    version: str
    chunks: int
    ingested_at: str | None = Field(None, description="when this version was indexed (UTC, ISO 8601)")
    summary: SummaryRecord | None = Field(None, description="the summary of this version, when one was made")


class ListDocumentsRequest(_Model):
    collection: str | None = None
    source_prefix: str | None = Field(None, description="only documents whose source starts with this")
    limit: int = Field(1000, ge=1, le=10_000, description="at most this many (the result travels through history)")


class DocumentList(_Model):
    collection: str
    documents: list[DocumentSummary]
    total: int = Field(description="documents that matched, listed or not")


class DeleteDocumentsRequest(_Model):
    """Documents to delete: by doc id, or by source (a file: its documents; a folder: every
    document under it). Paths are absolute (the client makes them so)."""

    collection: str | None = None
    doc_ids: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)


class DeleteResult(_Model):
    collection: str
    documents: int
    chunks: int


class CollectionRequest(_Model):
    collection: str | None = Field(None, description="settings.collection when unset (ListCollections ignores it)")


class CollectionList(_Model):
    backend: str
    collections: list[str]


class DropResult(_Model):
    collection: str
    dropped: bool = Field(description="False when there was no such collection")


# ---------------------------------------------------------------------------------------------
# Blue/green re-index (workflows/reindex.py)
# ---------------------------------------------------------------------------------------------


class IndexParams(_Model):
    """How a collection version is chunked and indexed; unset fields: the live version's (or
    the worker's settings). Recorded with the version, so later ingests into it chunk the same way."""

    chunk_tokens: int | None = Field(None, ge=16, le=2048)
    chunk_overlap: int | None = Field(None, ge=0, le=1024)
    titles: bool | None = Field(None, description="index each chunk with its document's title (default yes)")


class ReindexRequest(_Model):
    collection: str
    params: IndexParams = Field(default_factory=IndexParams)
    gate: str | None = Field(None, description="a BEIR-layout folder the worker reads: switch only if nDCG@10 holds")
    tolerance: float = Field(0.005, ge=0, le=1, description="the new version may score this much below the live one")
    grace_s: float = Field(300.0, ge=0, le=7 * 86400, description="queries still on the old version finish in this")
    gate_concurrency: int = Field(8, ge=1, le=64)


class ReindexPlanInput(_Model):
    request: ReindexRequest
    tag: str = Field(description="8 hex digits naming the new version (the workflow picks it: a retry reuses it)")


class ReindexPlan(_Model):
    collection: str
    live: str = Field(description="the physical collection serving queries now")
    new: str = Field(description="the version being built beside it")
    sources: list[str]
    params: IndexParams = Field(description="the new version's parameters, every field set")


class GateSet(_Model):
    """The judged queries of a gate folder: query id -> text, query id -> doc id -> grade."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


class SwitchInput(_Model):
    collection: str
    target: str


class ReindexResult(_Model):
    """Where a re-index stands (its query) and, at the end, what it did."""

    phase: str = "planning"  # planning, building, gating, switched, refused, done
    collection: str = ""
    live: str = ""
    new: str = ""
    params: IndexParams | None = None
    documents: int = 0
    chunks: int = 0
    failed: int = 0
    live_ndcg: float | None = None
    new_ndcg: float | None = None
    summaries: int = Field(0, description="document summaries carried over to the new version, not made again")
    switched: bool = False
    old_dropped: bool = False
    reason: str = ""
