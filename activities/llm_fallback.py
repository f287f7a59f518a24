"""ExtractiveAnswer: the query's answer when Synthesize fails for good or no LLM worker takes it.

The quoted sentences of offline mode (:func:`ragstate.citations.extractive_answer`), from the
sources the workflow already holds: it needs no API and no model, so it runs as a local
activity of the workflow worker, which every deployment has. The workflow flags the answer
``degraded`` with the LLM step's failure as the reason (``RAGSTATE_LLM_FALLBACK=extractive``).
"""

from __future__ import annotations

from temporalio import activity

from ragstate.citations import extractive_answer as quoted_sentences
from ragstate.contracts import Activity
from ragstate.models import AnswerMode, SynthesisInput, SynthesisResult


@activity.defn(name=Activity.EXTRACTIVE_ANSWER)
async def extractive_answer(inp: SynthesisInput) -> SynthesisResult:
    return SynthesisResult(answer=quoted_sentences(inp.question, inp.sources), mode=AnswerMode.offline_extractive)
