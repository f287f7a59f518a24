"""SummarizeDocuments: a summary of every ingested document that has none, stored with it.

The ingest workflow starts it as a child after its batches when ``IngestRequest.summarize``.
Page by page (PlanSummaries: the documents under the ingested paths whose version has no
summary, ids and versions only), the summaries are made one of three ways, chosen by the
worker's settings on the first page and kept for the run:

- ``extractive`` (no API key): ExtractiveSummaries, sentences of each document, at no cost;
- ``llm`` (``summary_batch_min`` documents or fewer): SummarizeDocument per document, a few at
  a time, each a Messages API call;
- ``batch`` (more): CreateSummaryBatch returns a Message Batch id (half the price), recorded in
  history before any waiting; then the workflow waits on a timer, ``poll_s`` growing to
  ``poll_max_s``, and looks with a short PollSummaryBatch between waits, however long the batch
  takes: a worker or server restart resumes the loop from history, and the batch is never
  made twice. CollectSummaryBatch writes the results once it has ended.

The summary points then get their dense vectors (EmbedChunks, on the embeddings queue).
A document that fails is recorded with its reason and the rest go on. Texts never travel
through history: the activities read them from the store.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Workflow
    from ragstate.models import DocumentFailure, DocVersion, EmbedInput, EmbedResult, SummarizeResult
    from ragstate.workflows.failures import failure_reason
# Not passed through: its classes must be built on the sandbox's own copy of ragstate.models
# (which ragstate/__init__ imports inside the sandbox), or a DocVersion of one is not one of the other.
from ragstate.models.summaries import (
    SummarizeRequest,
    SummaryBatchInput,
    SummaryBatchStatus,
    SummaryCollectInput,
    SummaryDocInput,
    SummaryPlan,
    SummaryPlanInput,
    SummaryWork,
    SummaryWritten,
)

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
)
#: Documents summarized at once in ``llm`` mode (each its own activity and API call).
DIRECT_CONCURRENCY = 4
#: A batch ends within 24 hours (the API expires what is left); past this the page fails.
BATCH_DEADLINE = timedelta(hours=26)
MAX_KEPT_FAILURES = 100
#: Pages per run before continuing as new (bounded history).
PAGES_PER_RUN = 20


def _non_retryable(err: ActivityError) -> bool:
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            return True
        cause = getattr(cause, "cause", None)
    return False


def _merge(into: SummaryWritten, one: SummaryWritten) -> None:
    into.written += one.written
    into.failures += one.failures
    into.already += one.already
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        setattr(into.usage, key, getattr(into.usage, key) + getattr(one.usage, key))
    into.cost_usd = round(into.cost_usd + one.cost_usd, 8)


@workflow.defn(name=Workflow.SUMMARIZE_DOCUMENTS)
class SummarizeDocumentsWorkflow:
    def __init__(self) -> None:
        self._done = SummarizeResult()

    def _fail(self, failures: list[DocumentFailure]) -> None:
        d = self._done
        d.failed += len(failures)
        d.failures.extend(failures[: max(0, MAX_KEPT_FAILURES - len(d.failures))])

    def _add(self, written: SummaryWritten) -> None:
        d = self._done
        d.summarized += len(written.written)
        d.already += written.already
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            setattr(d.usage, key, getattr(d.usage, key) + getattr(written.usage, key))
        d.cost_usd = round(d.cost_usd + written.cost_usd, 8)
        self._fail(written.failures)

    def _show(self, what: str) -> None:
        d = self._done
        workflow.set_current_details(
            f"**{what}**\n\nmode: {d.mode or '-'}, summarized: {d.summarized}, failed: {d.failed}, "
            f"cost: ${d.cost_usd:.6f}, batches: {', '.join(d.batch_ids) or '-'}"
        )

    @workflow.run
    async def run(self, req: SummarizeRequest) -> SummarizeResult:
        if req.done is not None:
            self._done = req.done
        cursor, mode = req.cursor, req.mode
        for page_no in range(PAGES_PER_RUN):
            plan: SummaryPlan = await workflow.execute_activity(
                Activity.PLAN_SUMMARIES,
                SummaryPlanInput(collection=req.collection, paths=req.paths, roots=req.roots, cursor=cursor),
                result_type=SummaryPlan,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RETRY,
                summary="documents that need a summary",
            )
            self._done.already += plan.already
            mode = mode or plan.mode  # the first page decides for the whole run
            if plan.documents:
                self._done.mode = mode
                self._show(f"summarizing {len(plan.documents)} documents ({mode})")
                await self._page(plan, mode, page_no)
            if plan.next_cursor is None:
                self._show("done")
                return self._done
            cursor = plan.next_cursor
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(req.model_copy(update={"cursor": cursor, "mode": mode, "done": self._done}))

    async def _page(self, plan: SummaryPlan, mode: str, page_no: int) -> None:
        if mode == "batch":
            written = await self._batch(plan, page_no)
        elif mode == "llm":
            written = await self._direct(plan)
        else:
            written = await workflow.execute_activity(
                Activity.EXTRACTIVE_SUMMARIES,
                SummaryWork(collection=plan.collection, documents=plan.documents),
                result_type=SummaryWritten,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
                summary=f"extractive summaries of {len(plan.documents)} documents",
            )
        self._add(written)
        if written.written:
            await self._embed(plan, written.written)

    async def _direct(self, plan: SummaryPlan) -> SummaryWritten:
        """Each document its own activity, a few at a time; their results merged."""
        total = SummaryWritten()
        docs = plan.documents
        for start in range(0, len(docs), DIRECT_CONCURRENCY):
            group = docs[start : start + DIRECT_CONCURRENCY]
            handles = [
                workflow.start_activity(
                    Activity.SUMMARIZE_DOCUMENT,
                    SummaryDocInput(collection=plan.collection, document=doc),
                    result_type=SummaryWritten,
                    start_to_close_timeout=timedelta(minutes=5),
                    heartbeat_timeout=timedelta(seconds=30),
                    retry_policy=RETRY,
                    summary=f"summarize {doc.doc_id}"[:200],
                )
                for doc in group
            ]
            for doc, handle in zip(group, handles):
                try:
                    one = await handle
                except ActivityError as e:
                    total.failures.append(DocumentFailure(doc_id=doc.doc_id, source="", reason=failure_reason(e)))
                    continue
                _merge(total, one)
        return total

    async def _batch(self, plan: SummaryPlan, page_no: int) -> SummaryWritten:
        info = workflow.info()
        try:
            batch_id: str = await workflow.execute_activity(
                Activity.CREATE_SUMMARY_BATCH,
                SummaryBatchInput(
                    collection=plan.collection,
                    key=f"{info.workflow_id}/{info.run_id}/{page_no}",
                    documents=plan.documents,
                ),
                result_type=str,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
                summary=f"create a Message Batch of {len(plan.documents)} summaries",
            )
        except ActivityError as e:
            return self._page_failed(plan, f"could not create the batch: {failure_reason(e)}")
        self._done.batch_ids.append(batch_id)  # in history from here on: a restart resumes the wait
        deadline = workflow.now() + BATCH_DEADLINE
        delay = plan.poll_s
        while True:
            self._show(f"waiting for batch {batch_id} (next look in {delay:.0f} s)")
            await workflow.sleep(timedelta(seconds=delay))
            delay = min(delay * 2, plan.poll_max_s)
            try:
                status: SummaryBatchStatus = await workflow.execute_activity(
                    Activity.POLL_SUMMARY_BATCH,
                    batch_id,
                    result_type=SummaryBatchStatus,
                    start_to_close_timeout=timedelta(minutes=1),
                    retry_policy=RETRY,
                    summary=f"look at batch {batch_id}",
                )
            except ActivityError as e:
                if _non_retryable(e) or workflow.now() > deadline:
                    return self._page_failed(plan, f"batch {batch_id}: {failure_reason(e)}")
                workflow.logger.warning("batch %s could not be looked at, trying again: %s", batch_id, e)
                continue
            if status.processing_status == "ended":
                break
            if workflow.now() > deadline:
                return self._page_failed(plan, f"batch {batch_id} did not end within {BATCH_DEADLINE}")
        try:
            return await workflow.execute_activity(
                Activity.COLLECT_SUMMARY_BATCH,
                SummaryCollectInput(collection=plan.collection, batch_id=batch_id, documents=plan.documents),
                result_type=SummaryWritten,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
                summary=f"write the summaries of batch {batch_id}",
            )
        except ActivityError as e:
            return self._page_failed(plan, f"batch {batch_id} results: {failure_reason(e)}")

    def _page_failed(self, plan: SummaryPlan, reason: str) -> SummaryWritten:
        return SummaryWritten(
            failures=[DocumentFailure(doc_id=d.doc_id, source="", reason=reason) for d in plan.documents]
        )

    async def _embed(self, plan: SummaryPlan, written: list[DocVersion]) -> None:
        """Dense vectors for the summary points; without them they are still keyword-searchable."""
        try:
            await embed_summaries(plan.collection, written, plan.embeddings_task_queue, RETRY)
        except ActivityError as e:
            workflow.logger.warning("summaries not embedded (keyword search still finds them): %s", e)
            self._fail(
                [
                    DocumentFailure(doc_id=d.doc_id, source="", reason=f"summary not embedded: {failure_reason(e)}")
                    for d in written
                ]
            )


async def embed_summaries(collection: str, written: list[DocVersion], task_queue: str, retry: RetryPolicy) -> None:
    """EmbedChunks on the embeddings queue for summary points just written (an ingest's
    summarize stage, a re-index carrying them over); raises its ActivityError."""
    await workflow.execute_activity(
        Activity.EMBED_CHUNKS,
        EmbedInput(collection=collection, documents=written),
        task_queue=task_queue,
        result_type=EmbedResult,
        start_to_close_timeout=timedelta(minutes=30),
        heartbeat_timeout=timedelta(seconds=10),
        retry_policy=retry,
        summary=f"embed {len(written)} summaries",
    )
