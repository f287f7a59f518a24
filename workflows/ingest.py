"""The ingestion workflow: discover -> per batch [IndexChunks -> EmbedChunks -> CommitDocuments]
-> OptimizeStore.

Batches run a few at a time; only references (paths, line ranges, doc ids and versions)
travel through history. A long ingest continues as new before its history grows large. A
document that fails is recorded with its reason and the rest go on; a batch whose activity
fails for good marks its documents failed without stopping the ingest.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Query, Workflow
    from ragstate.models import (
        ChunkBatchInput,
        ChunkBatchResult,
        CommitInput,
        CommitResult,
        DeleteResult,
        DiscoverInput,
        DiscoverPage,
        DocumentFailure,
        EmbedInput,
        EmbedResult,
        IngestCarry,
        IngestProgress,
        IngestRequest,
        IngestResult,
        PruneInput,
        Routing,
        SourceRef,
        StatsRequest,
        StoreStats,
        SummarizeResult,
    )
    from ragstate.temporal import priorities
    from ragstate.temporal.conventions import set_status
    from ragstate.workflows.failures import failure_reason
    from ragstate.workflows.ingest_details import ingest_details
# Not passed through: it must share the sandbox's own copy of ragstate.models (ragstate/__init__
# imports that one inside the sandbox).
from ragstate.models.summaries import SummarizeRequest

MAX_KEPT_FAILURES = 1000
INGEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
#: A worker lost mid-batch is noticed this soon (the activities heartbeat every 2 s while working).
INGEST_HEARTBEAT = timedelta(seconds=10)
#: Patch id: failures of a batch that failed after its retries say whether retrying can help.
RETRYABLE_FAILURES = "failure-retryable"


def retry_may_help(err: ActivityError) -> bool:
    """Whether a batch that failed after its retries may succeed later: not when an activity
    refused it for good (a non-retryable error), yes when attempts ran out (workers lost, a
    store or model that was down)."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            return False
        cause = getattr(cause, "cause", None)
    return True


@workflow.defn(name=Workflow.INGEST)
class IngestWorkflow:
    def __init__(self) -> None:
        self._carry = IngestCarry()
        self._groups: list[str] | None = None
        self._groups_from: str | None = None
        #: Every activity's priority: after questions, fair between tenants (ragstate/temporal/priorities.py).
        self._priority = priorities.bulk(None)

    @workflow.query(name=Query.INGEST_PROGRESS)
    def progress(self) -> IngestProgress:
        return self._carry.progress

    def _show(self, phase: str) -> None:
        """The run's current details in the UI: documents, chunks, failed, batches, rate."""
        workflow.set_current_details(ingest_details(self._carry.progress, workflow.now(), phase=phase))

    def _fail(self, failures: list[DocumentFailure]) -> None:
        c = self._carry
        c.progress.failed += len(failures)
        room = MAX_KEPT_FAILURES - len(c.failures)
        c.failures.extend(failures[:room])
        c.failures_dropped += max(0, len(failures) - room)

    async def _embed(self, request: EmbedInput, routing: Routing) -> None:
        """EmbedChunks on the GPU queue when one is configured; if no GPU worker picks the batch
        up within ``gpu_fallback_after_s`` (schedule-to-start), on the CPU queue instead."""
        summary = f"embed {sum(d.chunks for d in request.documents)} chunks"
        options: dict[str, Any] = dict(
            result_type=EmbedResult,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=INGEST_HEARTBEAT,
            retry_policy=INGEST_RETRY,
            priority=self._priority,
        )
        if routing.gpu_embeddings_task_queue:
            try:
                await workflow.execute_activity(
                    Activity.EMBED_CHUNKS,
                    request,
                    task_queue=routing.gpu_embeddings_task_queue,
                    schedule_to_start_timeout=timedelta(seconds=routing.gpu_fallback_after_s),
                    summary=summary + " (GPU)",
                    **options,
                )
                return
            except ActivityError as e:
                timeout = e.cause
                if not (isinstance(timeout, TimeoutError) and timeout.type == TimeoutType.SCHEDULE_TO_START):
                    raise
                self._carry.progress.gpu_fallbacks += 1
                workflow.logger.warning(
                    "no GPU worker took an embedding batch in %ss; using the CPU queue", routing.gpu_fallback_after_s
                )
        await workflow.execute_activity(
            Activity.EMBED_CHUNKS, request, task_queue=routing.embeddings_task_queue, summary=summary, **options
        )

    async def _batch(self, collection: str, refs: list[SourceRef], routing: Routing) -> None:
        p = self._carry.progress
        indexed: ChunkBatchResult | None = None
        try:
            indexed = await workflow.execute_activity(
                Activity.INDEX_CHUNKS,
                # The ingest's access groups (and a re-index's previous version), for documents
                # that name none of their own: the input changes, not the commands (no patch).
                ChunkBatchInput(
                    collection=collection, refs=refs, access_groups=self._groups, groups_from=self._groups_from
                ),
                result_type=ChunkBatchResult,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=INGEST_HEARTBEAT,
                retry_policy=INGEST_RETRY,
                priority=self._priority,
                summary=f"load, chunk and BM25-index {len(refs)} sources",
            )
            # Progress only (no commands): what is chunked, and the unchanged documents' vectors.
            p.documents_chunked += len(indexed.documents) + len(indexed.unchanged) + len(indexed.failures)
            p.chunks_found += sum(d.chunks for d in indexed.documents + indexed.unchanged)
            p.chunks_embedded += sum(d.chunks for d in indexed.unchanged)
            if indexed.documents:
                await self._embed(EmbedInput(collection=collection, documents=indexed.documents), routing)
                p.chunks_embedded += sum(d.chunks for d in indexed.documents)
                await workflow.execute_activity(
                    Activity.COMMIT_DOCUMENTS,
                    CommitInput(collection=collection, documents=indexed.documents),
                    result_type=CommitResult,
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=INGEST_RETRY,
                    priority=self._priority,
                    summary="remove chunks of replaced versions",
                )
        except ActivityError as e:
            reason = f"batch failed after retries: {failure_reason(e)}"
            # The patch marks new runs, whose results carry the flag; replayed older runs had none.
            retryable = workflow.patched(RETRYABLE_FAILURES) and retry_may_help(e)
            self._fail(
                [
                    DocumentFailure(
                        doc_id=r.path if r.start is None else f"{r.path}:{r.start + 1}-{r.end}",
                        source=r.path,
                        reason=reason,
                        retryable=retryable,
                    )
                    for r in refs
                ]
            )
            if indexed is None:  # never chunked: done with all the same, for the progress total
                p.documents_chunked += sum(r.documents for r in refs)
        else:
            self._fail(indexed.failures)
            p.documents += len(indexed.documents) + len(indexed.unchanged)
            p.unchanged += len(indexed.unchanged)
            p.chunks += sum(d.chunks for d in indexed.documents + indexed.unchanged)
        p.batches_done += 1
        self._show("indexing")

    async def _prune(self, request: IngestRequest, collection: str) -> int:
        """Sync: remove the documents under the ingested paths whose files are gone. The activity
        finds what is on disk itself (discovery again), so no list of seen sources is carried
        through history or continue-as-new; it runs last, so a sync killed and restarted prunes
        the same way. Only sync runs reach it: earlier histories never do."""
        if not workflow.patched("sync-prune"):
            return 0
        pruned: DeleteResult = await workflow.execute_activity(
            Activity.PRUNE_DOCUMENTS,
            PruneInput(collection=collection, paths=request.paths, roots=request.roots),
            result_type=DeleteResult,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=INGEST_RETRY,
            priority=self._priority,
            summary="sync: remove documents whose files are gone",
        )
        return pruned.documents

    @workflow.run
    async def run(self, request: IngestRequest) -> IngestResult:
        if request.carry is not None:
            self._carry = request.carry
        c = self._carry
        self._groups, self._groups_from = request.access_groups, request.groups_from
        self._priority = priorities.bulk(request.tenant)
        if c.started_at is None:
            c.started_at = workflow.now()
        c.progress.started_at = c.started_at
        set_status("running")
        self._show("discovering")
        collection = await self._discover_and_embed(request)
        c.progress.discovery_done = True
        self._show("pruning" if request.sync else "optimizing")
        removed = await self._prune(request, collection) if request.sync else 0
        summaries = await self._summarize(request, collection)
        stats: StoreStats = await workflow.execute_activity(
            Activity.OPTIMIZE_STORE,
            StatsRequest(collection=collection),
            result_type=StoreStats,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=INGEST_HEARTBEAT,
            retry_policy=INGEST_RETRY,
            priority=self._priority,
            summary="build search indexes",
        )
        c.progress.finished = True
        self._show("done")
        set_status("completed" if not c.progress.failed else "completed-with-failures")
        workflow.logger.info("ingest done: %s documents, %s chunks in store", c.progress.documents, stats.chunks)
        return self._result(removed, summaries)

    async def _discover_and_embed(self, request: IngestRequest) -> str:
        """Page through the documents from the carried cursor, embedding up to ``concurrency``
        batches at once; continues as new when the run's share of batches is used. Returns the
        collection the pages resolved to."""
        c = self._carry
        running: set[asyncio.Task] = set()
        batches_this_run = 0
        while True:
            page = await workflow.execute_activity(
                Activity.DISCOVER_DOCUMENTS,
                DiscoverInput(
                    paths=request.paths,
                    cursor=c.cursor,
                    batch_docs=request.batch_docs,
                    collection=request.collection,
                    roots=request.roots,
                ),
                result_type=DiscoverPage,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=INGEST_RETRY,
                priority=self._priority,
                summary=f"list documents from unit {c.cursor}",
            )
            self._fail(page.failures)
            c.skipped_files += page.skipped_files  # unsupported files of the named folders
            c.skipped += page.skipped
            if c.progress.documents_total is None and page.documents_total is not None:
                c.progress.documents_total = page.documents_total  # stable from here on
            for refs in page.batches:
                if batches_this_run >= request.batches_per_run or workflow.info().is_continue_as_new_suggested():
                    # Bounded history: finish what is in flight, then go on in a fresh run from
                    # the first batch not yet started.
                    if running:
                        await workflow.wait(running)
                    workflow.continue_as_new(request.model_copy(update={"carry": c}))
                if len(running) >= request.concurrency:
                    done, _ = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    running.difference_update(done)
                running.add(asyncio.create_task(self._batch(page.collection, refs, page.routing)))
                c.cursor += len(refs)
                c.progress.batches_discovered += 1
                batches_this_run += 1
            if page.next_cursor is None:
                break
            c.cursor = page.next_cursor
        if running:
            await workflow.wait(running)
        return page.collection

    async def _summarize(self, request: IngestRequest, collection: str) -> SummarizeResult | None:
        """The summarize stage as a child workflow (workflows/summarize.py), when asked for."""
        if not (request.summarize and workflow.patched("summarize-stage")):
            return None
        self._show("summarizing")
        return await workflow.execute_child_workflow(
            Workflow.SUMMARIZE_DOCUMENTS,
            SummarizeRequest(collection=collection, paths=request.paths, roots=request.roots),
            id=f"{workflow.info().workflow_id}-summarize",
            result_type=SummarizeResult,
        )

    def _result(self, removed: int, summaries: SummarizeResult | None) -> IngestResult:
        c = self._carry
        assert c.started_at is not None  # set at the start of every run
        return IngestResult(
            documents=c.progress.documents,
            unchanged=c.progress.unchanged,
            chunks=c.progress.chunks,
            failed=c.progress.failed,
            failures=c.failures,
            failures_dropped=c.failures_dropped,
            gpu_fallbacks=c.progress.gpu_fallbacks,
            removed=removed,
            skipped=c.skipped,
            skipped_files=c.skipped_files,
            summaries=summaries,
            duration_ms=(workflow.now() - c.started_at).total_seconds() * 1000,
            workflow_id=workflow.info().workflow_id,
        )
