"""Answers that abstain: the rule (ragstate.answers.abstention), and through the real workflow on the
dev server in offline mode, a question the example corpus cannot answer comes back
``no_answer`` with its best similarity and no citations, while questions it can answer
(including a short keyword one that embeds poorly) are answered with citations."""

from __future__ import annotations

from paths import EXAMPLES_CORPUS
from temporalio.client import Client

from ragstate.activities.llm_fallback import extractive_answer
from ragstate.answers.abstention import NO_ANSWER, abstains, best_similarity, covered, terms_needed
from ragstate.client import RagClient
from ragstate.models import AnswerMode, Branch, BranchResult, SearchHit, Source, SynthesisInput
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers

RRF = Source(
    number=1,
    chunk_id="c1",
    doc_id="d1",
    title="Reciprocal rank fusion",
    source="rrf.md",
    text="RRF sums reciprocal ranks across the branches.",
    score=0.5,
)


def test_the_rule():
    hits = [SearchHit(chunk_id=f"c{i}", doc_id="d", score=s) for i, s in enumerate([0.3, 0.7, 0.1])]
    assert best_similarity(BranchResult(branch=Branch.vector, hits=hits)) == 0.7
    assert best_similarity(BranchResult(branch=Branch.vector, hits=[])) is None
    assert best_similarity(None) is None

    def inp(question: str, best: float | None, sources: list[Source] = [RRF]) -> SynthesisInput:  # noqa: B006
        return SynthesisInput(question=question, sources=sources, best_score=best, abstain_below=0.5)

    assert abstains(inp("What is the capital of France?", 0.06))
    assert not abstains(inp("What is the capital of France?", 0.5))  # at the threshold: answered
    assert not abstains(inp("What is the capital of France?", None))  # no vector branch: no signal
    assert abstains(inp("anything", 0.9, sources=[]))  # nothing retrieved at all
    # Below the threshold, a source holding the question's terms still answers it.
    assert not abstains(inp("How does RRF work?", 0.41)) and covered("How does RRF work?", [RRF])
    assert abstains(inp("walrus sea ice RRF", 0.2))
    assert [terms_needed(n) for n in (1, 2, 3, 5, 10)] == [1, 1, 3, 4, 8]
    # Threshold 0 (runs recorded before the setting): never withheld.
    assert not abstains(SynthesisInput(question="q", sources=[RRF], best_score=0.01))


async def test_extractive_fallback_abstains_with_the_same_rule():
    below = SynthesisInput(question="capital of France", sources=[RRF], best_score=0.1, abstain_below=0.5)
    result = await extractive_answer(below)
    assert result.no_answer and result.answer == NO_ANSWER and result.citations == [] and result.best_score == 0.1
    above = await extractive_answer(below.model_copy(update={"best_score": 0.8, "question": "reciprocal ranks"}))
    assert not above.no_answer and above.citations and above.citations[0].cited_text == [RRF.text]


async def test_out_of_domain_question_abstains_offline(client: Client, settings: Settings):
    assert settings.anthropic_key() is None and settings.abstain_min_similarity == 0.525
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        await rag.ingest([str(EXAMPLES_CORPUS)])
        answer = await rag.ask("What is the capital of France?")
        assert answer.mode is AnswerMode.offline_extractive
        assert answer.no_answer and answer.answer == NO_ANSWER
        assert answer.citations == []
        assert answer.best_score is not None and answer.best_score < 0.2

        for question in ("How does reciprocal rank fusion combine rankings?", "What is RRF?"):
            answered = await rag.ask(question)
            assert not answered.no_answer, answered
            assert answered.citations and answered.citations[0].cited_text
            assert f"[{answered.citations[0].number}]" in answered.answer
            assert answered.best_score is not None and answered.best_score > 0.4
