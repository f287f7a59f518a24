"""The query workflow's side of the answer cache (docs/answer-cache.md), workflow code imported
as the query workflow imports its helpers: the answer served from a hit, whether a finished
answer may be kept, and the lines the run's details show.

VectorSearch looks in the cache (it embeds the question already) and returns what it found
(:class:`~ragstate.models.CacheProbe`); on a hit the workflow skips Merge and Synthesize and
returns the cached answer, ``cached`` with the run it came from; a new LLM answer is kept by
StoreCachedAnswer on the embeddings queue, for the generation VectorSearch saw.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ragstate.models import AnswerMode, CachedAnswer, Cost, ParsedQuery, RagAnswer, StepTiming, Usage


def cacheable(answer: RagAnswer) -> bool:
    """Only a whole LLM answer is worth keeping: an extractive, abstained, degraded or cut-off
    one cost nothing or is not the answer a later question should get."""
    return (
        answer.mode is AnswerMode.llm
        and not answer.degraded
        and not answer.no_answer
        and not answer.truncated
        and not answer.cached
    )


def served(parsed: ParsedQuery, hit: CachedAnswer, best_score: float | None, timings: list[StepTiming]) -> RagAnswer:
    """The cached answer for this question: its text and citations, no tokens, no cost."""
    info = workflow.info()
    saved = hit.answer.cost.usd
    reason = f"answer cache: served the answer of run {hit.workflow_id} (no LLM call; it cost ${saved:.4f})"
    return hit.answer.model_copy(
        update={
            "question": parsed.question,
            "usage": Usage(),
            "cost": Cost(usd=0.0, model=hit.answer.cost.model, priced=True, reason=reason),
            "best_score": best_score,
            "degraded": False,
            "degraded_reasons": [],
            "timings": timings,
            "ranking": [],
            "branch_rankings": {},
            "standalone_question": "",
            "cached": True,
            "cached_from": hit.workflow_id,
            "cached_similarity": hit.similarity,
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
        }
    )


def hit_note(hit: CachedAnswer) -> str:
    return (
        f"answer cache: **hit**, the answer of run {hit.workflow_id} (similarity {hit.similarity:.3f}); "
        f"saved ${hit.answer.cost.usd:.4f}"
    )
