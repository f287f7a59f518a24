"""Answers that abstain: when nothing retrieved supports an answer, say so instead of quoting noise.

The signal is the vector branch's best raw cosine similarity between the question and any
chunk it searched (:func:`best_similarity`): unlike fused scores it does not depend on the
fusion method or on the other branch, and unlike BM25 scores it is comparable across
questions and collections. Below ``settings.abstain_min_similarity`` (carried to the answer
step in :class:`~ragstate.models.SynthesisInput`) neither mode answers, unless one source
holds the question's terms (:func:`covered`: short keyword questions such as "What is RRF?"
embed poorly but match exactly); then no LLM call is made and the extractive mode quotes
nothing. The threshold is calibrated across collections by ``bench/abstention.py`` (each
collection's questions asked of another collection are the out-of-domain ones). Without the
vector branch (it failed: a degraded answer) there is no signal, and the answer is not withheld.

Example::

    >>> inp = SynthesisInput(question="What is the capital of France?", sources=[], best_score=0.12, abstain_below=0.3)
    >>> abstains(inp)
    True
"""

from __future__ import annotations

import math

from ragstate.models import AnswerMode, BranchResult, Source, SynthesisInput, SynthesisResult
from ragstate.retrieval.analyzer import analyze

__all__ = ["MIN_COVERAGE", "NO_ANSWER", "abstains", "best_similarity", "covered", "no_answer", "terms_needed"]

#: A source that holds this share of the question's analyzed terms answers it whatever the
#: similarity (bench/abstention.py: it keeps every pair's out-of-domain abstention >= 80 %).
MIN_COVERAGE = 0.8

#: The answer when the sources do not contain one (both modes).
NO_ANSWER = "The indexed sources do not contain the answer to this question."


def best_similarity(vector: BranchResult | None) -> float | None:
    """The vector branch's best score (cosine similarity), None without the branch or hits."""
    if vector is None or not vector.hits:
        return None
    return max(h.score for h in vector.hits)


def terms_needed(n: int) -> int:
    """Of a question's ``n`` distinct terms, how many one source must hold: :data:`MIN_COVERAGE`
    of them, but one of two (one of two terms is often a generic word: "How does RRF work?")."""
    return 1 if n <= 2 else math.ceil(MIN_COVERAGE * n)


def covered(question: str, sources: list[Source]) -> bool:
    """Whether one source (title and text, as indexed) holds :func:`terms_needed` of the
    question's analyzed terms."""
    terms = set(analyze(question))
    if not terms:
        return False
    need = terms_needed(len(terms))
    return any(len(terms.intersection(analyze(f"{s.title}\n\n{s.text}"))) >= need for s in sources)


def abstains(inp: SynthesisInput) -> bool:
    """No sources at all, or a best similarity below the threshold and no source holding the
    question's terms."""
    if not inp.sources:
        return True
    if inp.best_score is None or inp.best_score >= inp.abstain_below:
        return False
    return not covered(inp.question, inp.sources)


def no_answer(inp: SynthesisInput, mode: AnswerMode) -> SynthesisResult:
    """The abstaining answer, in the mode the question would have been answered in."""
    return SynthesisResult(answer=NO_ANSWER, mode=mode, no_answer=True, best_score=inp.best_score, citations=[])
