"""Unit tests of ragstate.answers.citations: search-result blocks, native citations and their rendered
markers, the marker fallback, the streamed rendering and the extractive answer."""

from __future__ import annotations

from ragstate.answers.citations import (
    SYSTEM_PROMPT,
    citations_for,
    cite_block,
    cited_numbers,
    extractive_answer,
    native_answer,
    search_results,
    snippet,
    stable_prefix,
    system_blocks,
    user_content,
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


def test_citations_for_parses_markers_only_without_native_citations():
    sources = [source(1, "First text."), source(2, "Second text.")]
    cites = citations_for("Claim [2]. Other [7]. Again [1][2].", sources)
    assert [c.number for c in cites] == [2, 1]
    assert cites[0].chunk_id == "c2" and cites[0].doc_id == "doc2" and cites[0].title == "Title 2"
    assert cites[0].source == "/src/2.md" and cites[0].snippet == "Second text." and cites[0].score == 0.5
    assert citations_for("nothing cited", sources) == []
    assert citations_for("[1]", []) == []
    native = citations_for("Claim [2].", sources, [])  # the answer step said: nothing cited
    assert native == []
    given = citations_for("Claim [2].", sources, cites[:1])
    assert given == cites[:1]


def test_snippet_shortens_on_word_boundaries():
    text = "word " * 100
    s = snippet(text, limit=50)
    assert len(s) <= 50 and s.endswith("…") and not s[:-1].endswith(" ")
    assert snippet("  a   b\n c ") == "a b c"


def test_sources_as_search_result_blocks_with_citations_and_cache():
    sources = [source(1, "Alpha is first. Alpha ends here.", "Alpha"), source(2, "Beta text.", "Beta")]
    blocks = search_results(sources)
    assert [b["type"] for b in blocks] == ["search_result", "search_result"]
    assert blocks[0]["title"] == "Alpha" and blocks[0]["source"] == "/src/1.md"
    # One text block per sentence: the unit a citation spans.
    assert blocks[0]["content"] == [
        {"type": "text", "text": "Alpha is first."},
        {"type": "text", "text": "Alpha ends here."},
    ]
    assert all(b["citations"] == {"enabled": True} for b in blocks)
    # The cached prefix ends with the last source.
    assert "cache_control" not in blocks[0] and blocks[1]["cache_control"] == {"type": "ephemeral"}
    content = user_content("What is alpha?", sources)
    assert content[:2] == blocks and content[-1] == {"type": "text", "text": "Question: What is alpha?"}
    assert search_results([]) == []
    [system] = system_blocks()
    assert system["text"] == SYSTEM_PROMPT and system["cache_control"] == {"type": "ephemeral"}
    assert "only" in SYSTEM_PROMPT and "do not contain the answer" in SYSTEM_PROMPT


def test_cite_block_puts_markers_before_closing_punctuation():
    assert cite_block("BM25 ranks terms", [1]) == "BM25 ranks terms [1]"
    assert cite_block("BM25 ranks terms. ", [2, 1, 2]) == "BM25 ranks terms [2][1]. "
    assert cite_block("Plain text.", []) == "Plain text."
    assert cite_block(".", [3]) == "[3]."
    assert stable_prefix("BM25 ranks, ") == len("BM25 ranks")


def test_native_answer_renders_markers_and_collects_cited_spans():
    sources = [source(1, "BM25 uses term frequency. It saturates."), source(2, "Dense uses vectors.")]
    blocks = [
        ("BM25 weighs term frequency", [(0, "BM25 uses term frequency.")]),
        (", while dense retrieval compares vectors", [(1, "Dense uses vectors."), (0, "It saturates.")]),
        (".", []),
        (" Nothing else", [(7, "hallucinated index")]),  # names no source sent: dropped
    ]
    text, cites = native_answer(blocks, sources)
    assert text == "BM25 weighs term frequency [1], while dense retrieval compares vectors [2][1]. Nothing else"
    assert [c.number for c in cites] == [1, 2]
    assert cites[0].cited_text == ["BM25 uses term frequency.", "It saturates."]
    assert cites[0].chunk_id == "c1" and cites[0].doc_id == "doc1" and cites[0].snippet.startswith("BM25 uses")
    assert cites[1].cited_text == ["Dense uses vectors."]
    assert native_answer([], sources) == ("", [])


def test_extractive_answer_cites_matching_sentences_first():
    sources = [
        source(1, "Temporal replays workflow history. It is unrelated to ranking."),
        source(2, "BM25 ranks documents by term frequency. BM25 saturates term frequency with k1."),
    ]
    answer, cites = extractive_answer("How does BM25 use term frequency?", sources, max_sentences=2)
    parts = answer.split("]. ")
    assert len(parts) == 2
    assert answer.startswith("BM25 saturates term frequency with k1 [2].") or answer.startswith(
        "BM25 ranks documents by term frequency [2]."
    )
    assert "Temporal" not in answer
    assert cited_numbers(answer) == [2]
    # The same shape as native citations: the quoted sentences are the cited spans.
    [cite] = cites
    assert cite.number == 2 and cite.chunk_id == "c2" and len(cite.cited_text) == 2
    assert all(span in sources[1].text for span in cite.cited_text)


def test_extractive_answer_prefers_more_overlap_then_better_rank():
    sources = [source(1, "Qdrant stores vectors."), source(2, "Qdrant stores vectors and payloads on disk.")]
    answer, _ = extractive_answer("Where does qdrant store vectors and payloads?", sources, max_sentences=1)
    assert answer == "Qdrant stores vectors and payloads on disk [2]."
    tie, _ = extractive_answer("qdrant vectors", [source(1, "Qdrant vectors A."), source(2, "Qdrant vectors B.")], 1)
    assert tie == "Qdrant vectors A [1]."


def test_extractive_answer_dedupes_and_limits():
    sources = [source(1, "Same sentence about fusion."), source(2, "Same sentence about fusion.")]
    answer, cites = extractive_answer("fusion", sources, max_sentences=3)
    assert answer == "Same sentence about fusion [1]."
    assert [(c.number, c.cited_text) for c in cites] == [(1, ["Same sentence about fusion."])]


def test_extractive_answer_without_matches_or_sources():
    assert extractive_answer("anything?", []) == ("No indexed passage matches this question.", [])
    fallback, _ = extractive_answer("zebra", [source(1, "First sentence here. Second one.")])
    assert fallback == "First sentence here [1]."
