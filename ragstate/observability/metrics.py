"""ragstate's own metrics, recorded through the Temporal SDK's metric meter so they go wherever
the SDK's go (the Prometheus endpoint of ``RAGSTATE_METRICS_BIND``, or a plugin's OTLP runtime).

Nothing here is called by the workflows or activities themselves: :class:`ObservingInterceptor`,
registered on every worker by :func:`ragstate.workers.runtime.build_workers`, reads each step's
result as it passes. Query outcomes are counted from the workflow with ``workflow.metric_meter()``,
which records nothing while a history replays, so a replayed query is never counted twice.

=================================  =========  ==================================================
metric                             kind       attributes
=================================  =========  ==================================================
``ragstate_queries_total``         counter    ``mode``, ``status`` (completed/degraded/failed)
``ragstate_query_degraded_total``  counter    ``reason`` (the failed branch: VectorSearch, ...)
``ragstate_step_duration``         histogram  ``step``, ``status`` (ok/error); seconds
``ragstate_retrieval_hits``        histogram  ``branch`` (vector/keyword)
``ragstate_llm_tokens_total``      counter    ``direction`` (input/output), ``model``
``ragstate_ingested_documents_total``  counter  ``outcome`` (indexed/unchanged/failed)
``ragstate_ingested_chunks_total`` counter
``ragstate_embedding_batch_size``  histogram  chunks embedded by one EmbedChunks
``ragstate_feedback_total``        counter    ``rating`` (good/bad): ratings of answers stored
``ragstate_answer_cache_total``    counter    ``result`` (hit/miss/stored): answer cache lookups, writes
``ragstate_answer_cache_saved_microusd_total``  counter  what the hits' answers had cost, millionths of a USD
=================================  =========  ==================================================

Example::

    Worker(client, task_queue="q", interceptors=[ObservingInterceptor(settings, meter)], ...)
"""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from ragstate.contracts import Activity, Workflow
from ragstate.observability.llm_spans import llm_span, record_llm_response
from ragstate.settings import Settings

__all__ = ["ObservingInterceptor", "record_feedback", "record_query"]


def record_query(meter: MetricMeter, answer: Any) -> None:
    """Count one finished query (a :class:`~ragstate.models.RagAnswer`) by mode and status, and
    each degraded branch by the step that failed."""
    status = "degraded" if answer.degraded else "completed"
    meter.create_counter("ragstate_queries", "queries answered").add(1, {"mode": answer.mode.value, "status": status})
    cost = getattr(answer, "cost", None)
    if cost is not None and cost.usd:
        # Counters hold integers: micro-dollars keep a cent's ten-thousandth.
        meter.create_counter("ragstate_llm_cost_microusd", "LLM cost of the answers, in millionths of a USD").add(
            round(cost.usd * 1e6), {"model": cost.model or "unknown"}
        )
    degraded = meter.create_counter("ragstate_query_degraded", "answers built without a failed branch")
    for reason in answer.degraded_reasons:
        # "VectorSearch failed: <message>": the step name, not the message, keeps the series few.
        degraded.add(1, {"reason": reason.split(" failed", 1)[0]})


def record_query_failure(meter: MetricMeter, error: FailureError) -> None:
    """Count one query whose run failed, by its error type (InvalidQuery, RetrievalFailed, ...)."""
    error_type = (error.type if isinstance(error, ApplicationError) else None) or type(error).__name__
    meter.create_counter("ragstate_queries", "queries answered").add(
        1, {"mode": "none", "status": "failed", "error_type": error_type}
    )


def record_feedback(meter: MetricMeter, record: Any) -> None:
    """Count one stored rating (a :class:`~ragstate.models.FeedbackRecord`) by good or bad."""
    rating = "good" if record.good else "bad"
    meter.create_counter("ragstate_feedback", "ratings of answers stored").add(1, {"rating": rating})


class _StepMetrics:
    """The activity-side instruments, created once per worker from the runtime's meter."""

    def __init__(self, meter: MetricMeter):
        self.duration = meter.create_histogram_timedelta("ragstate_step_duration", "time one step's attempt took")
        self.hits = meter.create_histogram("ragstate_retrieval_hits", "chunks one search branch returned")
        self.tokens = meter.create_counter("ragstate_llm_tokens", "LLM tokens", "tokens")
        self.documents = meter.create_counter("ragstate_ingested_documents", "documents through IndexChunks")
        self.chunks = meter.create_counter("ragstate_ingested_chunks", "chunks indexed")
        self.embedded = meter.create_histogram("ragstate_embedding_batch_size", "chunks one EmbedChunks embedded")
        self.cache = meter.create_counter("ragstate_answer_cache", "answer cache lookups (hit/miss) and writes")
        self.saved = meter.create_counter(
            "ragstate_answer_cache_saved_microusd", "LLM cost the answer cache's hits saved, in millionths of a USD"
        )

    def record(self, step: str, result: Any) -> None:
        """What a step's result says: hits, tokens, documents, chunks, batch sizes."""
        if step in (Activity.VECTOR_SEARCH, Activity.KEYWORD_SEARCH):
            self.hits.record(len(result.hits), {"branch": result.branch.value})
            if step == Activity.VECTOR_SEARCH and result.cache is not None:
                hit = result.cache.hit
                self.cache.add(1, {"result": "miss" if hit is None else "hit"})
                if hit is not None and hit.answer.cost.usd:
                    self.saved.add(round(hit.answer.cost.usd * 1e6), {"model": hit.answer.cost.model or "unknown"})
        elif step == Activity.STORE_CACHED_ANSWER:
            if result:
                self.cache.add(1, {"result": "stored"})
        elif step == Activity.SYNTHESIZE:
            model = result.model or "none"
            self.tokens.add(result.usage.input_tokens, {"direction": "input", "model": model})
            self.tokens.add(result.usage.output_tokens, {"direction": "output", "model": model})
        elif step == Activity.INDEX_CHUNKS:
            for outcome, documents in (
                ("indexed", result.documents),
                ("unchanged", result.unchanged),
                ("failed", result.failures),
            ):
                self.documents.add(len(documents), {"outcome": outcome})
            self.chunks.add(sum(d.chunks for d in result.documents))
        elif step == Activity.DISCOVER_DOCUMENTS:
            self.documents.add(len(result.failures), {"outcome": "failed"})
        elif step == Activity.EMBED_CHUNKS:
            self.embedded.record(result.embedded)


class ObservingInterceptor(Interceptor):
    """Worker interceptor: ragstate's metrics from each step's result and each query's answer
    (``meter``: the runtime's; None when metrics are off), and the GenAI span around Synthesize
    when tracing is on and the LLM is configured (no edit to the activity needed)."""

    def __init__(self, settings: Settings, meter: MetricMeter | None, trace_llm: bool):
        self.settings = settings
        self.steps = _StepMetrics(meter) if meter is not None else None
        self.trace_llm = trace_llm

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ObservingActivityInbound(next, self)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _ObservingWorkflowInbound if self.steps is not None else None


class _ObservingActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: ObservingInterceptor):
        super().__init__(next)
        self.root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        from temporalio import activity

        step = activity.info().activity_type
        steps = self.root.steps
        started = time.perf_counter()
        status = "error"
        try:
            with self._llm_span(step) as span:
                result = await super().execute_activity(input)
                if span is not None and result.usage is not None:
                    record_llm_response(span, result.model, result.usage.input_tokens, result.usage.output_tokens)
            status = "ok"
        finally:
            if steps is not None:
                elapsed = timedelta(seconds=time.perf_counter() - started)
                steps.duration.record(elapsed, {"step": step, "status": status})
        if steps is not None:
            # A result of an unexpected shape (a test's stand-in) goes uncounted, never fails the step.
            with contextlib.suppress(AttributeError, TypeError):
                steps.record(step, result)
        return result

    def _llm_span(self, step: str) -> contextlib.AbstractContextManager[Any]:
        """The GenAI span when this attempt calls the Anthropic API (offline mode calls nothing)."""
        if not (self.root.trace_llm and step == Activity.SYNTHESIZE and _has_llm_key(self.root.settings)):
            return contextlib.nullcontext()
        return llm_span(self.root.settings)


def _has_llm_key(settings: Settings) -> bool:
    try:
        return settings.anthropic_key() is not None
    except OSError:  # the activity reports an unreadable key file itself
        return False


class _ObservingWorkflowInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        if workflow.info().workflow_type == Workflow.FEEDBACK:
            record = await super().execute_workflow(input)
            record_feedback(workflow.metric_meter(), record)  # once per run: nothing is recorded on replay
            return record
        if workflow.info().workflow_type != Workflow.QUERY:
            return await super().execute_workflow(input)
        try:
            answer = await super().execute_workflow(input)
        except FailureError as e:  # fails the run; any other exception fails (and retries) the task
            record_query_failure(workflow.metric_meter(), e)
            raise
        record_query(workflow.metric_meter(), answer)
        return answer
