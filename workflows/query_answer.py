"""The query's answer, assembled from the states' results (a pure part of the query workflow,
imported as workflow code like its other helpers), and the one log line of its outcome."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ragstate.answers.citations import citations_for
    from ragstate.models import Cost, MergeResult, ParsedQuery, RagAnswer, SearchHit, StepTiming, SynthesisResult

from ragstate.workflows.query_details import question_hash
from ragstate.workflows.query_steps import Retrieval


def best_hit_per_document(hits: list[SearchHit]) -> list[SearchHit]:
    """The first hit of each document, in ranking order (the document ranking, with its chunk)."""
    first: dict[str, SearchHit] = {}
    for hit in hits:
        first.setdefault(hit.doc_id, hit)
    return list(first.values())


def build_answer(
    parsed: ParsedQuery,
    retrieval: Retrieval,
    merged: MergeResult,
    synthesis: SynthesisResult,
    reasons: list[str],
    cost: Cost,
    timings: list[StepTiming],
) -> RagAnswer:
    """The answer with its citations, why it is degraded (``reasons``), cost and step timings."""
    info = workflow.info()
    return RagAnswer(
        question=parsed.question,
        answer=synthesis.answer,
        citations=citations_for(synthesis.answer, merged.sources, synthesis.citations),
        no_answer=synthesis.no_answer,
        best_score=synthesis.best_score,
        mode=synthesis.mode,
        model=synthesis.model,
        degraded=bool(reasons),
        degraded_reasons=reasons,
        truncated=synthesis.truncated,
        usage=synthesis.usage,
        cost=cost,
        timings=timings,
        # Retrieval only (evaluation) returns the rankings; an answer does without them.
        ranking=merged.ranking if not parsed.synthesize else [],
        branch_rankings={}
        if parsed.synthesize
        else {r.branch: r.hits for r in (retrieval.vector, retrieval.keyword) if r is not None},
        standalone_question=parsed.standalone,
        workflow_id=info.workflow_id,
        run_id=info.run_id,
    )


def log_outcome(question: str, answer: RagAnswer, total_ms: float) -> None:
    """One line per query: never the question itself (its hash), its mode, time, tokens and cost."""
    workflow.logger.info(
        "query %s: %s, mode %s, %.0f ms, tokens %d in / %d out, cost $%.4f",
        question_hash(question),
        "degraded" if answer.degraded else "completed",
        answer.mode.value,
        total_ms,
        answer.usage.input_tokens,
        answer.usage.output_tokens,
        answer.cost.usd,
    )
