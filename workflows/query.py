"""The query workflow, mirroring the Step Functions graph state for state:

    ParseQuery -> Parallel[VectorSearch, KeywordSearch] -> MergeAndSynthesize (Merge, Synthesize) -> Done

Every run hosts a workflow stream (``temporalio.contrib.workflow_streams``) with one topic,
:data:`STREAM_TOPIC`, of :class:`~ragstate.models.StreamEvent`, in this order:

- ``step`` events: ``parsed`` (after ParseQuery), ``retrieved`` (after both searches: hits per
  branch, ``degraded`` 0/1), ``synthesizing`` (before Synthesize: ``sources``);
- ``token`` events: the answer text as it is produced. The Synthesize activity publishes them
  from the LLM's stream (each with ``detail["attempt"]``); in offline extractive mode the
  workflow publishes the whole answer as one token event;
- ``final`` (the :class:`~ragstate.models.RagAnswer`) or ``error`` (``error``, ``error_type``),
  always last.

A retried Synthesize publishes ``step: synthesizing`` again with ``detail["attempt"] = n``
before its first token: the answer restarts there, text received before it is void (see
``RagClient.ask_stream``). Publishing from the workflow is in memory (no commands, nothing
to patch); subscribers long-poll with updates and read closed runs with queries.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from temporalio.contrib.workflow_streams import WorkflowStream

    from ragstate.citations import citations_for
    from ragstate.conventions import set_status
    from ragstate.models import (
        AnswerMode, BranchResult, MergeInput, MergeResult, ParsedQuery, RagAnswer, RagQuery, StepTiming,
        StreamEvent, StreamEventType, SynthesisInput, SynthesisResult,
    )

#: The one topic of a query's workflow stream (StreamEvent values): steps, tokens, final/error.
STREAM_TOPIC = "events"

# Step Functions `Retry: MaxAttempts 2` = three attempts in all, with backoff.
SEARCH_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                           maximum_attempts=3)
LLM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                        maximum_interval=timedelta(seconds=60), maximum_attempts=6,
                        non_retryable_error_types=["LLMRequestRejected"])


#: Patch id: ParseQuery always, and per the routing ParseQuery returns, KeywordSearch, Merge,
#: VectorSearch and offline Synthesize run as local activities. Histories from before the patch
#: keep replaying the all-regular path.
LOCAL_STEPS_PATCH = "local-cheap-steps"


def failure_reason(err: BaseException) -> str:
    """The innermost message of an activity failure, for people to read."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return getattr(err, "message", None) or str(err)


def failure_type(err: BaseException) -> str:
    """The ``ApplicationError`` type a failure is known by: the outermost one that has a type
    (e.g. ``InvalidQuery``, ``RetrievalFailed``), else the innermost cause's (an activity's
    ``LLMUnavailable``, or a Python exception's class name)."""
    if isinstance(err, asyncio.CancelledError):
        return "Cancelled"
    chain = []
    while err is not None:
        chain.append(err)
        err = getattr(err, "cause", None)
    for e in chain:
        if isinstance(e, ApplicationError) and e.type:
            return e.type
    return type(chain[-1]).__name__


# Not sandboxed: a fresh sandbox per run re-imports this package's modules, about 11 ms of
# worker CPU per query, a fifth of the worker's whole share (bench/query_throughput.py). What
# the sandbox would guard is kept by hand here: this module imports only temporalio, stdlib
# and ragstate's models and helpers (passed through, as a sandbox would), keeps no global
# state, and the committed replay histories (tests/histories) check determinism. The
# long-running ingest workflow keeps the sandbox.
@workflow.defn(name="RagQuery", sandboxed=False)
class RagQueryWorkflow:
    def __init__(self) -> None:
        self._timings: list[StepTiming] = []
        # Registers the stream's signal, update and query handlers (no commands: old histories replay).
        self._stream = WorkflowStream()
        self._events = self._stream.topic(STREAM_TOPIC, type=StreamEvent)

    def _publish(self, type_: StreamEventType, **fields) -> None:
        self._events.publish(StreamEvent(type=type_, **fields))

    @workflow.query
    def timings(self) -> list[StepTiming]:
        return self._timings

    async def _step(self, name: str, call, status_on_error: str = "failed"):
        started = workflow.time()
        try:
            result = await call
        except BaseException:
            self._timings.append(StepTiming(step=name, duration_ms=(workflow.time() - started) * 1000,
                                            status=status_on_error))
            raise
        self._timings.append(StepTiming(step=name, duration_ms=(workflow.time() - started) * 1000))
        return result

    def _activity(self, name: str, arg, result_type: type, *, local: bool, task_queue: str | None = None,
                  timeout: timedelta, retry: RetryPolicy, summary: str, heartbeat: timedelta | None = None):
        """A step as a local activity (cheap, safe to retry: no extra round trip through the
        server, still a named step in the UI) or as a regular activity on ``task_queue``."""
        if local:
            return workflow.execute_local_activity(name, arg, result_type=result_type, start_to_close_timeout=timeout,
                                                   retry_policy=retry, summary=summary)
        return workflow.execute_activity(name, arg, result_type=result_type, task_queue=task_queue,
                                         start_to_close_timeout=timeout, heartbeat_timeout=heartbeat,
                                         retry_policy=retry, summary=summary)

    @workflow.run
    async def run(self, query: RagQuery) -> RagAnswer:
        try:
            return await self._run(query)
        except BaseException as e:
            set_status("failed")
            # Only what fails (or cancels) the run: other exceptions fail the workflow task, which
            # is retried, and the run goes on.
            if isinstance(e, (FailureError, asyncio.CancelledError)):
                message = "the query was cancelled" if isinstance(e, asyncio.CancelledError) else failure_reason(e)
                if isinstance(e, ApplicationError):
                    message = e.message  # the workflow's own summary, e.g. "invalid query: ..."
                self._publish(StreamEventType.error, error=message, error_type=failure_type(e))
            raise

    async def _run(self, query: RagQuery) -> RagAnswer:
        local = workflow.patched(LOCAL_STEPS_PATCH)
        try:
            parsed: ParsedQuery = await self._step("ParseQuery", self._activity(
                "ParseQuery", query, ParsedQuery, local=local, timeout=timedelta(seconds=10),
                retry=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["InvalidQuery"]),
                summary="validate and normalise the question"))
        except ActivityError as e:
            # Bad input fails the workflow at once (not a workflow task retried forever).
            raise ApplicationError(f"invalid query: {failure_reason(e)}", type="InvalidQuery",
                                   non_retryable=True) from e
        self._publish(StreamEventType.step, step="parsed", detail={"top_k": parsed.top_k, "terms": len(parsed.terms)})

        vector, keyword = await asyncio.gather(
            self._step("VectorSearch", self._activity(
                "VectorSearch", parsed, BranchResult, local=local and parsed.routing.vector_search_local,
                task_queue=parsed.routing.embeddings_task_queue, timeout=timedelta(seconds=30), retry=SEARCH_RETRY,
                summary="embed the question and search dense vectors")),
            self._step("KeywordSearch", self._activity(
                "KeywordSearch", parsed, BranchResult, local=local and parsed.routing.local_steps,
                timeout=timedelta(seconds=30), retry=SEARCH_RETRY, summary="BM25 search over sparse vectors")),
            return_exceptions=True,
        )
        reasons = [f"{name} failed: {failure_reason(r)}" for name, r in (("VectorSearch", vector),
                                                                         ("KeywordSearch", keyword))
                   if isinstance(r, BaseException)]
        if len(reasons) == 2:
            raise ApplicationError("both retrieval branches failed; " + "; ".join(reasons),
                                   type="RetrievalFailed", non_retryable=True)
        self._publish(StreamEventType.step, step="retrieved", detail={
            "vector": 0 if isinstance(vector, BaseException) else len(vector.hits),
            "keyword": 0 if isinstance(keyword, BaseException) else len(keyword.hits),
            "degraded": int(bool(reasons))})

        merged: MergeResult = await self._step("Merge", self._activity(
            "Merge", MergeInput(query=parsed, vector=None if isinstance(vector, BaseException) else vector,
                                keyword=None if isinstance(keyword, BaseException) else keyword),
            MergeResult, local=local and parsed.routing.local_steps, timeout=timedelta(seconds=30),
            retry=RetryPolicy(maximum_attempts=3),
            summary="reciprocal rank fusion and context packing"))

        if not parsed.synthesize:
            synthesis = SynthesisResult(answer="", mode=AnswerMode.retrieval_only)
        else:
            self._publish(StreamEventType.step, step="synthesizing", detail={"sources": len(merged.sources)})
            # Local only for offline extractive synthesis in a worker that serves the LLM role.
            synthesis = await self._step("Synthesize", self._activity(
                "Synthesize", SynthesisInput(question=parsed.question, sources=merged.sources), SynthesisResult,
                local=local and parsed.routing.synthesize_local, task_queue=parsed.routing.llm_task_queue,
                timeout=timedelta(seconds=120), heartbeat=timedelta(seconds=60), retry=LLM_RETRY,
                summary=f"answer from {len(merged.sources)} sources"))
            # An LLM answer was streamed by the activity itself; an extractive one is published whole.
            if synthesis.mode is not AnswerMode.llm and synthesis.answer:
                self._publish(StreamEventType.token, text=synthesis.answer)

        set_status("degraded" if reasons else "completed")
        info = workflow.info()
        answer = RagAnswer(
            question=parsed.question, answer=synthesis.answer,
            citations=citations_for(synthesis.answer, merged.sources), mode=synthesis.mode, model=synthesis.model,
            degraded=bool(reasons), degraded_reasons=reasons, usage=synthesis.usage, timings=list(self._timings),
            ranking=merged.ranking if not parsed.synthesize else [],
            branch_rankings={} if parsed.synthesize else {
                r.branch: r.hits for r in (vector, keyword) if not isinstance(r, BaseException)},
            workflow_id=info.workflow_id,
            run_id=info.run_id,
        )
        self._publish(StreamEventType.final, answer=answer)
        return answer
