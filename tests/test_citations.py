"""Unit tests of ragstate.citations: citation markers, sources, prompts and the extractive answer."""

from __future__ import annotations

from ragstate.citations import (
    SYSTEM_PROMPT,
    build_prompt,
    citations_for,
    cited_numbers,
    extractive_answer,
    snippet,
)
from ragstate.models import Source


def source(n: int, text: str, title: str | None = None) -> Source:
    return Source(
        number=n,
        chunk_id=f"c{n}",
        doc_id=f"doc{n}",
        title=title or f"Title {n}",
        source=f"/src/{n}.md",
        text=text,
        score=1.0 / n,
    )


def test_cited_numbers():
    assert cited_numbers("A [1][2] and B [2].") == [1, 2]
    assert cited_numbers("A [1, 3] then [2; 1]") == [1, 3, 2]
    assert cited_numbers("BM25 ranks terms [2], unlike dense retrieval [1][2].") == [2, 1]
    assert cited_numbers("no markers, [a], [], [1 2], and a list [x, 1]") == []
    assert cited_numbers("[12] then [3]") == [12, 3]


def test_citations_for_maps_numbers_and_ignores_unknown():
    sources = [source(1, "First text."), source(2, "Second text.")]
    cites = citations_for("Claim [2]. Other [7]. Again [1][2].", sources)
    assert [c.number for c in cites] == [2, 1]
    assert cites[0].chunk_id == "c2" and cites[0].doc_id == "doc2" and cites[0].title == "Title 2"
    assert cites[0].source == "/src/2.md" and cites[0].snippet == "Second text." and cites[0].score == 0.5
    assert citations_for("nothing cited", sources) == []
    assert citations_for("[1]", []) == []


def test_snippet_shortens_on_word_boundaries():
    text = "word " * 100
    s = snippet(text, limit=50)
    assert len(s) <= 50 and s.endswith("…") and not s[:-1].endswith(" ")
    assert snippet("  a   b\n c ") == "a b c"


def test_build_prompt_numbers_sources():
    sources = [source(1, "Alpha text.", "Alpha"), source(2, "Beta text.", "Beta")]
    prompt = build_prompt("What is alpha?", sources)
    assert "[1] Alpha\nAlpha text." in prompt and "[2] Beta\nBeta text." in prompt
    assert prompt.index("[1] Alpha") < prompt.index("[2] Beta") < prompt.index("Question: What is alpha?")
    assert "[1]" in SYSTEM_PROMPT and "cite" in SYSTEM_PROMPT.lower()


def test_extractive_answer_cites_matching_sentences_first():
    sources = [
        source(1, "Temporal replays workflow history. It is unrelated to ranking."),
        source(2, "BM25 ranks documents by term frequency. BM25 saturates term frequency with k1."),
    ]
    answer = extractive_answer("How does BM25 use term frequency?", sources, max_sentences=2)
    parts = answer.split("] ")
    assert len(parts) == 2
    assert answer.startswith("BM25 saturates term frequency with k1. [2]") or answer.startswith(
        "BM25 ranks documents by term frequency. [2]"
    )
    assert "Temporal" not in answer
    assert cited_numbers(answer) == [2]


def test_extractive_answer_prefers_more_overlap_then_better_rank():
    sources = [source(1, "Qdrant stores vectors."), source(2, "Qdrant stores vectors and payloads on disk.")]
    answer = extractive_answer("Where does qdrant store vectors and payloads?", sources, max_sentences=1)
    assert answer == "Qdrant stores vectors and payloads on disk. [2]"
    tie = extractive_answer("qdrant vectors", [source(1, "Qdrant vectors A."), source(2, "Qdrant vectors B.")], 1)
    assert tie == "Qdrant vectors A. [1]"


def test_extractive_answer_dedupes_and_limits():
    sources = [source(1, "Same sentence about fusion."), source(2, "Same sentence about fusion.")]
    answer = extractive_answer("fusion", sources, max_sentences=3)
    assert answer == "Same sentence about fusion. [1]"


def test_extractive_answer_without_matches_or_sources():
    assert extractive_answer("anything?", []) == "No indexed passage matches this question."
    fallback = extractive_answer("zebra", [source(1, "First sentence here. Second one.")])
    assert fallback == "First sentence here. [1]"
