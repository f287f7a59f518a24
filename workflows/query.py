"""The query workflow, mirroring the Step Functions graph state for state:

    ParseQuery -> Parallel[VectorSearch, KeywordSearch] -> MergeAndSynthesize (Merge, Synthesize) -> Done

Every run hosts a workflow stream (``temporalio.contrib.workflow_streams``) with one topic,
:data:`~ragstate.contracts.STREAM_TOPIC`, of :class:`~ragstate.models.StreamEvent`, in this order:

- ``step`` events: ``parsed`` (after ParseQuery), ``retrieved`` (after both searches: hits per
  branch, ``degraded`` 0/1), ``synthesizing`` (before Synthesize: ``sources``);
- ``token`` events: the answer text as it is produced. The Synthesize activity publishes them
  from the LLM's stream (each with ``detail["attempt"]``) when the query asked for them
  (``RagQuery.stream_tokens``: a streaming client; a plain ask keeps its history free of
  them); in offline extractive mode the workflow publishes the whole answer as one token event;
- ``final`` (the :class:`~ragstate.models.RagAnswer`) or ``error`` (``error``, ``error_type``),
  always last.

A retried Synthesize publishes ``step: synthesizing`` again with ``detail["attempt"] = n``
before its first token: the answer restarts there, text received before it is void (see
``RagClient.ask_stream``). Publishing from the workflow is in memory (no commands, nothing
to patch); subscribers long-poll with updates and read closed runs with queries.

The run's current details (the Temporal UI's "Current Details", the metadata query) are a
table of the five states with status, duration, attempts and key figures, then the outcome
(:mod:`ragstate.workflows.query_details`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporalio.contrib.workflow_streams import WorkflowStream

    from ragstate.answers.abstention import best_similarity
    from ragstate.answers.pricing import plus_call
    from ragstate.contracts import STREAM_TOPIC, Activity, ErrorType, Query, Workflow
    from ragstate.models import (
        AnswerMode,
        BranchResult,
        CachedAnswer,
        CacheProbe,
        CacheWrite,
        Condensed,
        Cost,
        MergeInput,
        MergeResult,
        ParsedQuery,
        PriorTurn,
        RagAnswer,
        RagQuery,
        StepTiming,
        StreamEvent,
        StreamEventType,
        SynthesisInput,
        SynthesisResult,
    )
    from ragstate.temporal import priorities
    from ragstate.temporal.conventions import set_status

# The query's own helpers are workflow code: imported in the sandbox like this module, so that
# they see the same ragstate.models as it does whatever the runner passes through (a replay
# with temporalio's default runner passes none, and a class from each side fails validation).
from ragstate.workflows.budget import settle
from ragstate.workflows.failures import (
    degraded_reasons,
    ends_run,
    failure_reason,
    failure_type,
    llm_fallback_applies,
    succeeded,
)
from ragstate.workflows.query_answer import best_hit_per_document, build_answer, log_outcome
from ragstate.workflows.query_cache import cacheable, hit_note, served
from ragstate.workflows.query_details import (
    condense_figures,
    hit_figures,
    no_llm_call_reason,
    outcome_notes,
    synthesis_figures,
)
from ragstate.workflows.query_policies import (
    ANSWER_CACHE_PATCH,
    ANSWER_CACHE_RETRY,
    CONDENSE_PATCH,
    CONDENSE_RETRY,
    LLM_FALLBACK_PATCH,
    LLM_HEARTBEAT,
    LLM_RETRY,
    LOCAL_STEPS_PATCH,
    SEARCH_RETRY,
)
from ragstate.workflows.query_steps import QuerySteps, Retrieval


# Sandboxed like every workflow: the worker passes ragstate's shared modules through
# (ragstate.workers.registry.workflow_runner), so a run re-imports only the workflow modules;
# bench/query_throughput.py --sandbox both measures what that costs against no sandbox.
@workflow.defn(name=Workflow.QUERY)
class RagQueryWorkflow:
    def __init__(self) -> None:
        self._steps = QuerySteps()  # timings and the run's details table in the UI
        self._synthesis_degraded: list[str] = []  # why the answer is extractive instead of the LLM's
        # Registers the stream's signal, update and query handlers (no commands: old histories replay).
        self._stream = WorkflowStream()
        self._events = self._stream.topic(STREAM_TOPIC, type=StreamEvent)

    def _publish(self, type_: StreamEventType, **fields) -> None:
        self._events.publish(StreamEvent(type=type_, **fields))

    @workflow.query(name=Query.QUERY_TIMINGS)
    def timings(self) -> list[StepTiming]:
        return self._steps.timings

    @workflow.run
    async def run(self, query: RagQuery) -> RagAnswer:
        try:
            answer = await self._run(query)
        except BaseException as e:
            set_status("failed")
            if ends_run(e):
                self._publish_error(e)
            if query.budget and ends_run(e):
                await settle(query.budget, 0.0)  # a failed run's reservation is released
            raise
        if query.budget:  # only runs a tenant's budget admitted: other histories are unchanged
            await settle(query.budget, answer.cost.usd)
        return answer

    async def _run(self, query: RagQuery) -> RagAnswer:
        """ParseQuery -> Parallel[VectorSearch, KeywordSearch] -> MergeAndSynthesize (Merge, Synthesize) -> Done."""
        # Steps that go through a task queue wait there before bulk ingest batches, fairly
        # between tenants (an option of the commands, not a command: histories replay).
        self._steps.priority = priorities.interactive(query.tenant)
        local = workflow.patched(LOCAL_STEPS_PATCH)
        # Only a follow-up has the step: a one-off question's commands stay as they were.
        if query.history and workflow.patched(CONDENSE_PATCH):
            query = await self._condense(query, local=local)
        parsed = await self._parse_query(query, local=local)
        retrieval = await self._retrieve(parsed, local=local)
        # The answer cache, only when ParseQuery's worker has it on: other runs call nothing new.
        probe = retrieval.vector.cache if retrieval.vector is not None else None
        cache = parsed.answer_cache is not None and workflow.patched(ANSWER_CACHE_PATCH)
        if cache and probe is not None and probe.hit is not None:
            return self._cached(parsed, retrieval, probe.hit)
        merged = await self._merge(parsed, retrieval, local=local)
        synthesis = await self._synthesize(
            parsed,
            merged,
            local=local,
            stream_tokens=query.stream_tokens,
            best_score=best_similarity(retrieval.vector),
            history=query.history,
        )
        rewrite = query.condensed
        if rewrite is not None and rewrite.usage is not None and rewrite.cost is not None:
            # The follow-up's LLM rewrite is paid by this turn: its tokens and cost in the answer.
            usage, cost = plus_call(synthesis.usage, synthesis.cost, rewrite.usage, rewrite.cost)
            synthesis = synthesis.model_copy(update={"usage": usage, "cost": cost})
        answer = self._done(parsed, retrieval, merged, synthesis)
        if cache and probe is not None:
            await self._keep(parsed, probe, answer)
        if query.ranked_documents and not parsed.synthesize:
            # Only the result is smaller (no command changes: no patch): the parent's history
            # holds it, 200 x 600 hits for a 100-question re-index gate otherwise.
            answer.ranking = best_hit_per_document(answer.ranking)[: query.ranked_documents]
            answer.branch_rankings = {}
        return answer

    def _cached(self, parsed: ParsedQuery, retrieval: Retrieval, hit: CachedAnswer) -> RagAnswer:
        """An answered question close enough to this one: its answer, without Merge or Synthesize."""
        for state in (Activity.MERGE, Activity.SYNTHESIZE):
            self._steps.details.skip(state, "answer cache hit")
        answer = served(parsed, hit, best_similarity(retrieval.vector), list(self._steps.timings))
        set_status("completed")
        self._steps.details.note(hit_note(hit))
        for line in outcome_notes(answer, total_ms=sum(t.duration_ms for t in self._steps.timings)):
            self._steps.details.note(line)
        log_outcome(parsed.question, answer, sum(t.duration_ms for t in self._steps.timings))
        self._publish(StreamEventType.token, text=answer.answer)
        self._publish(StreamEventType.final, answer=answer)
        return answer

    async def _keep(self, parsed: ParsedQuery, probe: CacheProbe, answer: RagAnswer) -> None:
        """A new LLM answer kept for the questions like it (best effort: a failure is a note)."""
        if not cacheable(answer):
            self._steps.details.note("answer cache: miss; this answer is not kept (not a whole LLM answer)")
            return
        try:
            kept = await workflow.execute_activity(
                Activity.STORE_CACHED_ANSWER,
                CacheWrite(query=parsed, probe=probe, answer=answer),
                result_type=bool,
                task_queue=parsed.routing.embeddings_task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_start_timeout=timedelta(seconds=parsed.routing.schedule_to_start_s or 30),
                retry_policy=ANSWER_CACHE_RETRY,
                summary="keep the answer in the answer cache",
            )
        except ActivityError as e:
            self._steps.details.note(f"answer cache: miss; the answer was not kept: {failure_reason(e)}")
            return
        kept_note = "kept for questions like it" if kept else "not kept: the collection changed meanwhile"
        self._steps.details.note(f"answer cache: miss; the answer is {kept_note}")

    async def _condense(self, query: RagQuery, *, local: bool) -> RagQuery:
        """CondenseQuestion: the follow-up's standalone form and context, for ParseQuery. If it
        fails for good the question is searched as asked (a worse ranking, not a failed run)."""
        self._steps.details.first(Activity.CONDENSE_QUESTION)
        try:
            condensed: Condensed = await self._steps.run(
                Activity.CONDENSE_QUESTION,
                query,
                Condensed,
                local=local,
                limit=timedelta(seconds=10),
                retry=CONDENSE_RETRY,
                summary=f"make the follow-up standalone from {len(query.history)} earlier turns",
                figures=condense_figures,
            )
        except ActivityError as e:
            self._steps.details.note(f"follow-up searched as asked: {failure_reason(e)}")
            return query
        return query.model_copy(update={"condensed": condensed})

    async def _parse_query(self, query: RagQuery, *, local: bool) -> ParsedQuery:
        """The question validated and normalised, with the routing of the steps that follow."""
        try:
            parsed: ParsedQuery = await self._steps.run(
                Activity.PARSE_QUERY,
                query,
                ParsedQuery,
                local=local,
                limit=timedelta(seconds=10),
                retry=RetryPolicy(maximum_attempts=3, non_retryable_error_types=[ErrorType.INVALID_QUERY]),
                summary="validate and normalise the question",
                figures=lambda p: f"{len(p.terms)} terms, top_k {p.top_k}, depth {p.depth}",
            )
        except ActivityError as e:
            # Bad input fails the workflow at once (not a workflow task retried forever).
            raise ApplicationError(
                f"invalid query: {failure_reason(e)}", type=ErrorType.INVALID_QUERY, non_retryable=True
            ) from e
        self._publish(StreamEventType.step, step="parsed", detail={"top_k": parsed.top_k, "terms": len(parsed.terms)})
        return parsed

    async def _retrieve(self, parsed: ParsedQuery, *, local: bool) -> Retrieval:
        """Both searches at once: one that fails degrades the answer, both failing fail the run."""
        routing = parsed.routing
        vector: BranchResult | BaseException
        keyword: BranchResult | BaseException
        vector, keyword = await asyncio.gather(
            self._steps.run(
                Activity.VECTOR_SEARCH,
                parsed,
                BranchResult,
                local=local and routing.vector_search_local,
                task_queue=routing.embeddings_task_queue,
                limit=timedelta(seconds=30),
                retry=SEARCH_RETRY,
                summary="embed the question and search dense vectors",
                figures=hit_figures,
                routing=routing,
            ),
            self._steps.run(
                Activity.KEYWORD_SEARCH,
                parsed,
                BranchResult,
                local=local and routing.local_steps,
                limit=timedelta(seconds=30),
                retry=SEARCH_RETRY,
                summary="BM25 search over sparse vectors",
                figures=hit_figures,
            ),
            return_exceptions=True,
        )
        reasons = degraded_reasons({Activity.VECTOR_SEARCH: vector, Activity.KEYWORD_SEARCH: keyword})
        if len(reasons) == 2:
            raise ApplicationError(
                "both retrieval branches failed; " + "; ".join(reasons),
                type=ErrorType.RETRIEVAL_FAILED,
                non_retryable=True,
            )
        retrieval = Retrieval(vector=succeeded(vector), keyword=succeeded(keyword), degraded_reasons=reasons)
        self._publish(StreamEventType.step, step="retrieved", detail=retrieval.step_detail())
        return retrieval

    async def _merge(self, parsed: ParsedQuery, retrieval: Retrieval, *, local: bool) -> MergeResult:
        """The branches fused into one ranking, and the best chunks packed as numbered sources."""
        return await self._steps.run(
            Activity.MERGE,
            MergeInput(query=parsed, vector=retrieval.vector, keyword=retrieval.keyword),
            MergeResult,
            local=local and parsed.routing.local_steps,
            limit=timedelta(seconds=30),
            retry=RetryPolicy(maximum_attempts=3),
            summary="reciprocal rank fusion and context packing",
            figures=lambda m: (
                f"{len(m.sources)} sources packed of {m.candidates} candidates"
                if parsed.synthesize
                else f"{len(m.ranking)} ranked of {m.candidates} candidates"
            ),
        )

    async def _synthesize(
        self,
        parsed: ParsedQuery,
        merged: MergeResult,
        *,
        local: bool,
        stream_tokens: bool,
        best_score: float | None,
        history: list[PriorTurn],
    ) -> SynthesisResult:
        """The answer from the sources (skipped for retrieval only)."""
        if not parsed.synthesize:
            self._steps.details.skip(Activity.SYNTHESIZE, "retrieval only")
            return SynthesisResult(answer="", mode=AnswerMode.retrieval_only)
        self._publish(StreamEventType.step, step="synthesizing", detail={"sources": len(merged.sources)})
        routing = parsed.routing
        inp = SynthesisInput(
            question=parsed.question,
            sources=merged.sources,
            stream_tokens=stream_tokens,
            best_score=best_score,  # abstention (ragstate.answers.abstention): below the threshold, no answer
            abstain_below=routing.abstain_min_similarity,
            history=history,  # a follow-up: the conversation so far, before the sources
        )
        try:
            # Local only for offline extractive synthesis in a worker that serves the LLM role.
            synthesis: SynthesisResult = await self._steps.run(
                Activity.SYNTHESIZE,
                inp,
                SynthesisResult,
                local=local and routing.synthesize_local,
                task_queue=routing.llm_task_queue,
                limit=timedelta(seconds=120),
                heartbeat=LLM_HEARTBEAT,
                retry=LLM_RETRY,
                summary=f"answer from {len(merged.sources)} sources",
                figures=synthesis_figures,
                routing=routing,
            )
        except (ActivityError, ApplicationError) as e:
            if not (
                routing.llm_fallback_extractive and llm_fallback_applies(e) and workflow.patched(LLM_FALLBACK_PATCH)
            ):
                raise
            return await self._extractive_fallback(inp, reason=f"{Activity.SYNTHESIZE} failed: {failure_reason(e)}")
        # An LLM answer was streamed by the activity itself; an extractive one is published whole.
        if synthesis.mode is not AnswerMode.llm and synthesis.answer:
            self._publish(StreamEventType.token, text=synthesis.answer)
        return synthesis

    async def _extractive_fallback(self, inp: SynthesisInput, *, reason: str) -> SynthesisResult:
        """The quoted-sentences answer instead of the LLM's, on the workflow worker itself."""
        self._synthesis_degraded.append(reason)
        # Clients restart the answer at a later attempt than any of Synthesize's (ask_stream
        # drops tokens of earlier attempts).
        attempt = {"attempt": (LLM_RETRY.maximum_attempts or 0) + 1, "fallback": "extractive"}
        self._publish(StreamEventType.step, step="synthesizing", detail=attempt)
        synthesis: SynthesisResult = await self._steps.run(
            Activity.EXTRACTIVE_ANSWER,
            inp,
            SynthesisResult,
            local=True,
            limit=timedelta(seconds=30),
            retry=RetryPolicy(maximum_attempts=3),
            summary="extractive answer: the LLM step failed",
            figures=synthesis_figures,
        )
        self._publish(StreamEventType.token, text=synthesis.answer, detail={"attempt": attempt["attempt"]})
        return synthesis

    def _done(
        self, parsed: ParsedQuery, retrieval: Retrieval, merged: MergeResult, synthesis: SynthesisResult
    ) -> RagAnswer:
        """The run's status and its answer, published as the stream's ``final`` event."""
        reasons = retrieval.degraded_reasons + self._synthesis_degraded
        set_status("degraded" if reasons else "completed")
        fallback = bool(self._synthesis_degraded)
        cost = synthesis.cost or Cost(reason=no_llm_call_reason(synthesis.mode, fallback=fallback))
        answer = build_answer(parsed, retrieval, merged, synthesis, reasons, cost, list(self._steps.timings))
        total_ms = sum(t.duration_ms for t in self._steps.timings)
        for line in outcome_notes(answer, total_ms=total_ms):
            self._steps.details.note(line)
        log_outcome(parsed.question, answer, total_ms)
        self._publish(StreamEventType.final, answer=answer)
        return answer

    def _publish_error(self, err: BaseException) -> None:
        """The stream's last event when the run fails or is cancelled."""
        if isinstance(err, asyncio.CancelledError):
            message = "the query was cancelled"
        elif isinstance(err, ApplicationError):
            message = err.message  # the workflow's own summary, e.g. "invalid query: ..."
        else:
            message = failure_reason(err)
        self._steps.details.note(f"**failed** ({failure_type(err)}): {message}")
        self._publish(StreamEventType.error, error=message, error_type=failure_type(err))
