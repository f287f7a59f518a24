"""ExtractiveAnswer: the query's answer when Synthesize fails for good or no LLM worker takes it.

The quoted sentences of offline mode (:func:`ragstate.answers.citations.extractive_answer`), from the
sources the workflow already holds, with the same citation shape as the LLM's native
citations (each quoted sentence is the cited span): it needs no API and no model, so it runs
as a local activity of the workflow worker, which every deployment has. The workflow flags the
answer ``degraded`` with the LLM step's failure as the reason (``RAGSTATE_LLM_FALLBACK=extractive``).
When nothing retrieved supports an answer (:mod:`ragstate.answers.abstention`) it quotes nothing.
"""

from __future__ import annotations

from temporalio import activity

from ragstate.answers.abstention import abstains, no_answer
from ragstate.answers.citations import extractive_answer as quoted_sentences
from ragstate.contracts import Activity
from ragstate.models import AnswerMode, SynthesisInput, SynthesisResult


@activity.defn(name=Activity.EXTRACTIVE_ANSWER)
async def extractive_answer(inp: SynthesisInput) -> SynthesisResult:
    if abstains(inp):
        return no_answer(inp, AnswerMode.offline_extractive)
    text, citations = quoted_sentences(inp.question, inp.sources)
    return SynthesisResult(
        answer=text, mode=AnswerMode.offline_extractive, citations=citations, best_score=inp.best_score
    )
