"""Unit tests of the pure text modules: chunking, fusion, citations, validation, documents."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ragstate.chunking import Chunk, chunk_text, count_tokens, sentences
from ragstate.citations import (
    SYSTEM_PROMPT, build_prompt, cited_numbers, citations_for, extractive_answer, snippet,
)
from ragstate.documents import Document, DocumentError, discover, load, load_file
from ragstate.fusion import fuse_hits, pack_to_budget, reciprocal_rank_fusion
from ragstate.models import RagQuery, SearchHit, Source, SourceRef
from ragstate.settings import FusionUnit, Settings
from ragstate.validation import MAX_FILTER_VALUES, InvalidQuery, normalise_question, validate

# =============================================================================================
# chunking
# =============================================================================================

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda sigma omega".split()


def prose(n_sentences: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(n_sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 18))]
        out.append(f"S{i} " + " ".join(words) + rng.choice([".", "!", "?"]))
    return " ".join(out)


def test_count_tokens():
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("") == 0
    assert count_tokens("don't stop") == 4  # don ' t stop


def test_chunks_respect_max_tokens_and_cover_the_text():
    text = prose(80)
    chunks = chunk_text(text, max_tokens=40, overlap=10)
    assert len(chunks) > 5
    assert all(count_tokens(c.text) <= 40 for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # Offsets point into the text, move forward, and together cover every sentence.
    for c in chunks:
        assert text[c.start : c.end].strip() == c.text
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(b.start > a.start and b.end > a.end for a, b in zip(chunks, chunks[1:]))
    assert all(b.start <= a.end + 1 for a, b in zip(chunks, chunks[1:]))  # no gaps
    for i in range(80):
        assert any(f"S{i} " in c.text for c in chunks)


def test_sentences_split_like_the_chunker():
    assert sentences("What is BM25? How is it tuned!  Fine.\n\nNew paragraph") == [
        "What is BM25?", "How is it tuned!", "Fine.", "New paragraph"]
    assert sentences("no end mark") == ["no end mark"]
    assert sentences("  \n ") == [] and sentences("") == []
    # Every chunk boundary falls on a sentence boundary.
    text = prose(30)
    assert all(c.text == " ".join(sentences(c.text)) for c in chunk_text(text, max_tokens=40, overlap=0))


def test_chunks_keep_sentence_boundaries():
    text = prose(40)
    for c in chunk_text(text, max_tokens=50, overlap=0):
        assert c.text.startswith("S") and c.text[-1] in ".!?"


def test_overlap_repeats_trailing_sentences():
    text = prose(60)
    chunks = chunk_text(text, max_tokens=60, overlap=20)
    repeated = 0
    for a, b in zip(chunks, chunks[1:]):
        shared = text[b.start : a.end]
        if b.start < a.end:
            repeated += 1
            assert a.text.endswith(shared.strip()) and b.text.startswith(shared.strip())
            assert count_tokens(shared) <= 20
    assert repeated >= len(chunks) // 2
    # Without overlap, consecutive chunks never share text.
    plain = chunk_text(text, max_tokens=60, overlap=0)
    assert all(b.start >= a.end for a, b in zip(plain, plain[1:]))
    assert len(plain) < len(chunks)


def test_long_sentence_is_split_at_token_boundaries():
    words = [f"w{i}" for i in range(95)]
    text = "Short intro. " + " ".join(words) + ". Short outro."
    chunks = chunk_text(text, max_tokens=30, overlap=5)
    assert all(count_tokens(c.text) <= 30 for c in chunks)
    joined = " ".join(c.text for c in chunks)
    for w in words:  # every word survives, none is cut in half
        assert f" {w} " in f" {joined.replace('.', ' ')} "
    assert chunks[0].text == "Short intro."
    assert chunks[-1].text.endswith("Short outro.")


def test_chunking_is_deterministic():
    text = prose(50, seed=9)
    assert chunk_text(text, 45, 12) == chunk_text(text, 45, 12)
    assert chunk_text(text, 45, 12) != chunk_text(text, 45, 0)


def test_short_text_is_one_chunk():
    assert chunk_text("First sentence. Second one.", 50, 10) == [
        Chunk(0, "First sentence. Second one.", 0, 27)
    ]


def test_paragraph_breaks_split_sentences():
    text = "Heading without period\n\nBody text follows here."
    chunks = chunk_text(text, max_tokens=5, overlap=0)
    assert [c.text for c in chunks] == ["Heading without period", "Body text follows here."]
    # A single newline is not a break: the same text fits one chunk when the budget allows.
    assert [c.text for c in chunk_text(text.replace("\n\n", "\n"), 10, 0)] == [text.replace("\n\n", "\n")]


def test_empty_text_gives_no_chunks():
    assert chunk_text("", 50, 10) == []
    assert chunk_text("   \n\n  \t ", 50, 10) == []


@pytest.mark.parametrize("overlap", [10, 11, 50])
def test_overlap_not_below_max_raises(overlap):
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("Some text.", max_tokens=10, overlap=overlap)


def test_chunking_always_advances_with_large_overlap():
    text = prose(30)
    chunks = chunk_text(text, max_tokens=30, overlap=29)
    assert all(b.start > a.start for a, b in zip(chunks, chunks[1:]))
    assert chunks[-1].end == len(text)


# =============================================================================================
# fusion
# =============================================================================================


def test_rrf_exact_scores():
    fused = reciprocal_rank_fusion([(["a", "b", "c"], 1.0), (["b", "d"], 1.0)], k=60)
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61, abs=1e-15)
    assert scores["a"] == pytest.approx(1 / 61, abs=1e-15)
    assert scores["d"] == pytest.approx(1 / 62, abs=1e-15)
    assert scores["c"] == pytest.approx(1 / 63, abs=1e-15)
    assert [d for d, _ in fused] == ["b", "a", "d", "c"]


def test_rrf_weights():
    fused = reciprocal_rank_fusion([(["a", "b"], 1.0), (["b", "a"], 3.0)], k=60)
    assert dict(fused) == pytest.approx({"a": 1 / 61 + 3 / 62, "b": 1 / 62 + 3 / 61})
    assert [d for d, _ in fused] == ["b", "a"]
    # Weight zero: the list contributes nothing (its items still appear, with score 0).
    zero = dict(reciprocal_rank_fusion([(["a"], 1.0), (["z"], 0.0)], k=60))
    assert zero == {"a": pytest.approx(1 / 61), "z": 0.0}


def test_rrf_k_changes_scores():
    assert dict(reciprocal_rank_fusion([(["a", "b"], 1.0)], k=1)) == pytest.approx({"a": 1 / 2, "b": 1 / 3})


def test_rrf_dedupes_within_a_list():
    fused = dict(reciprocal_rank_fusion([(["a", "a", "b"], 1.0)], k=60))
    assert fused["a"] == pytest.approx(1 / 61)  # once, at its best rank
    assert fused["b"] == pytest.approx(1 / 63)  # ranks are list positions


def test_rrf_ties_keep_first_seen_order_and_empty_input():
    fused = reciprocal_rank_fusion([(["x", "y"], 1.0), (["y", "x"], 1.0)], k=60)
    assert [d for d, _ in fused] == ["x", "y"] and fused[0][1] == fused[1][1]
    assert reciprocal_rank_fusion([], k=60) == []
    assert reciprocal_rank_fusion([([], 1.0)], k=60) == []


@pytest.mark.parametrize("k", [0, -5])
def test_rrf_k_below_one_raises(k):
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion([(["a"], 1.0)], k=k)


def test_rrf_negative_weight_raises():
    with pytest.raises(ValueError, match="weight"):
        reciprocal_rank_fusion([(["a"], -1.0)], k=60)


def _hits(*chunk_ids: str) -> list[SearchHit]:
    """Hits whose document is the chunk id's letter: "a1", "a2" are chunks of document "a"."""
    return [SearchHit(chunk_id=c, doc_id=c[0], score=1.0 / (i + 1)) for i, c in enumerate(chunk_ids)]


def test_document_fusion_counts_a_document_once_per_branch():
    # Document "a" has three chunks at the top of the vector list; "b" and "c" one each.
    vector, keyword = _hits("a1", "a2", "a3", "b1"), _hits("b1", "c1", "a3")
    by_chunk = fuse_hits([(vector, 1.0), (keyword, 1.0)], k=60, unit=FusionUnit.chunk)
    assert [h.chunk_id for h in by_chunk] == ["b1", "a3", "a1", "a2", "c1"]
    assert by_chunk[0].score == pytest.approx(1 / 64 + 1 / 61)
    by_doc = fuse_hits([(vector, 1.0), (keyword, 1.0)], k=60, unit=FusionUnit.document)
    # Collapsed, the vector list is [a, b] (b moves up from 4 to 2) and the keyword list [b, c, a].
    assert [(h.doc_id, h.chunk_id) for h in by_doc] == [("b", "b1"), ("a", "a3"), ("c", "c1")]
    assert [h.score for h in by_doc] == pytest.approx([1 / 62 + 1 / 61, 1 / 61 + 1 / 63, 1 / 62])


def test_document_fusion_represents_a_document_by_its_best_fused_chunk():
    # a2 is second in one list but first in the other: its fused score beats a1's.
    fused = fuse_hits([(_hits("a1", "a2"), 1.0), (_hits("a2"), 1.0)], k=60)
    assert [(h.doc_id, h.chunk_id) for h in fused] == [("a", "a2")]
    assert fuse_hits([], k=60) == [] and fuse_hits([([], 1.0)], k=60) == []


def test_fusion_unit_names_the_choices():
    assert Settings(fusion_unit="chunk").fusion_unit is FusionUnit.chunk
    with pytest.raises(ValueError, match="choose one of \\['document', 'chunk'\\]"):
        FusionUnit("passage")


def test_pack_keeps_order_within_budget():
    texts = ["one two three", "four five", "six seven eight nine", "ten"]
    assert pack_to_budget(texts, budget_tokens=5, max_items=10) == ["one two three", "four five"]
    assert pack_to_budget(texts, budget_tokens=100, max_items=10) == texts
    assert pack_to_budget(texts, budget_tokens=100, max_items=2) == texts[:2]
    assert pack_to_budget(texts, budget_tokens=9, max_items=10) == texts[:3]
    assert pack_to_budget([], 10, 5) == []


def test_pack_result_is_a_prefix_so_it_zips_with_its_sources():
    """Callers pair packed texts with their sources by position, so a text that does not fit
    must end the packing rather than let a later, smaller one slide into its place."""
    texts = ["short one", " ".join(["big"] * 50), "tiny"]
    packed = pack_to_budget(texts, budget_tokens=20, max_items=10)
    assert packed == ["short one"]
    for got, original in zip(packed, texts):
        assert original.startswith(got)


def test_pack_cuts_an_oversized_first_item_to_the_budget():
    long_text = " ".join(f"word{i}" for i in range(100))
    packed = pack_to_budget([long_text, "next"], budget_tokens=10, max_items=5)
    assert len(packed) == 1
    assert long_text.startswith(packed[0])
    assert 0 < count_tokens(packed[0]) <= 10
    # Punctuation-dense text (URLs, code) must not blow the budget either.
    dense = "a.b.c.d.e.f.g.h.i.j " * 30
    cut = pack_to_budget([dense], budget_tokens=10, max_items=5)[0]
    assert 0 < count_tokens(cut) <= 10 and dense.startswith(cut)


# =============================================================================================
# citations
# =============================================================================================


def source(n: int, text: str, title: str | None = None) -> Source:
    return Source(number=n, chunk_id=f"c{n}", doc_id=f"doc{n}", title=title or f"Title {n}",
                  source=f"/src/{n}.md", text=text, score=1.0 / n)


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
        "BM25 ranks documents by term frequency. [2]")
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


# =============================================================================================
# validation
# =============================================================================================


@pytest.fixture
def cfg() -> Settings:
    return Settings(_env_file=None)


def test_valid_question_is_normalised(cfg):
    q, k = validate(RagQuery(question="  What\tis\n\nBM25? ＡＢＣ "), cfg)
    assert q == "What is BM25? ABC"
    assert k == cfg.default_top_k
    assert normalise_question("  What is   BM25?\n") == "What is BM25?"


@pytest.mark.parametrize("question", ["", "   ", "\n\t \r\n", "\u3000\u00a0", "\u200b\u200b", " \ufeff "])
def test_empty_question_rejected(cfg, question):
    with pytest.raises(InvalidQuery, match="empty"):
        validate(RagQuery(question=question), cfg)


def test_too_long_question_rejected(cfg):
    with pytest.raises(InvalidQuery, match=rf"{cfg.max_query_chars + 1} characters long; the limit is {cfg.max_query_chars}"):
        validate(RagQuery(question="x" * (cfg.max_query_chars + 1)), cfg)
    # The limit applies after whitespace is collapsed.
    q, _ = validate(RagQuery(question="x" * (cfg.max_query_chars - 2) + " " * 500 + "y"), cfg)
    assert len(q) == cfg.max_query_chars
    # exactly at the limit passes
    assert validate(RagQuery(question="y" * cfg.max_query_chars), cfg)[0] == "y" * cfg.max_query_chars


@pytest.mark.parametrize("bad, code", [("\x07", "U+0007"), ("\x00", "U+0000"), ("\x1b", "U+001B"),
                                       ("\x7f", "U+007F")])
def test_control_characters_rejected(cfg, bad, code):
    with pytest.raises(InvalidQuery, match="control characters") as e:
        validate(RagQuery(question=f"What is{bad} BM25?"), cfg)
    assert code in str(e.value)


def test_tabs_and_newlines_allowed(cfg):
    assert validate(RagQuery(question="a\tb\nc\r\nd"), cfg)[0] == "a b c d"


def test_top_k_bounds(cfg):
    assert validate(RagQuery(question="q?", top_k=1), cfg)[1] == 1
    assert validate(RagQuery(question="q?", top_k=cfg.max_top_k), cfg)[1] == cfg.max_top_k
    for bad in (0, -1, cfg.max_top_k + 1):
        with pytest.raises(InvalidQuery, match=f"top_k must be between 1 and {cfg.max_top_k}, got {bad}"):
            validate(RagQuery(question="q?", top_k=bad), cfg)


@pytest.mark.parametrize("name", ["sources", "doc_ids"])
def test_filter_bounds(cfg, name):
    ok = validate(RagQuery(question="q?", **{name: ["a"] * MAX_FILTER_VALUES}), cfg)
    assert ok == ("q?", cfg.default_top_k)
    with pytest.raises(InvalidQuery, match=f"{name} filter needs 1 to {MAX_FILTER_VALUES} values, got 0"):
        validate(RagQuery(question="q?", **{name: []}), cfg)
    with pytest.raises(InvalidQuery, match=f"got {MAX_FILTER_VALUES + 1}"):
        validate(RagQuery(question="q?", **{name: ["a"] * (MAX_FILTER_VALUES + 1)}), cfg)
    with pytest.raises(InvalidQuery, match="non-empty strings"):
        validate(RagQuery(question="q?", **{name: ["a", "  "]}), cfg)


def test_settings_limits_are_used():
    small = Settings(_env_file=None, max_query_chars=10, max_top_k=3, default_top_k=2)
    assert validate(RagQuery(question="short"), small) == ("short", 2)
    with pytest.raises(InvalidQuery, match="limit is 10"):
        validate(RagQuery(question="eleven chars"), small)
    with pytest.raises(InvalidQuery, match="between 1 and 3"):
        validate(RagQuery(question="q", top_k=4), small)


def test_invalid_query_is_value_error():
    assert issubclass(InvalidQuery, ValueError)


# =============================================================================================
# documents
# =============================================================================================


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def only_doc(ref: SourceRef, max_bytes: int = 1_000_000) -> Document:
    items = list(load(ref, max_bytes))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def only_error(ref: SourceRef, max_bytes: int = 1_000_000) -> DocumentError:
    items = list(load(ref, max_bytes))
    assert len(items) == 1 and isinstance(items[0], DocumentError), items
    return items[0]


def test_load_txt(tmp_path):
    p = write(tmp_path / "my_notes-file.txt", "Line one.\r\nLine   two.\n\n\n\n\nLast\tline.")
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.doc_id == str(p.resolve()) == doc.source
    assert doc.title == "My notes file"
    assert doc.text == "Line one.\nLine two.\n\nLast line."


def test_load_markdown_title_from_heading(tmp_path):
    p = write(tmp_path / "guide.md", "Intro line.\n\n# The Real Title #\n\nBody text.\n\n## Section\n\nMore.")
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.title == "The Real Title"
    assert "The Real Title" not in doc.text
    assert doc.text.startswith("Intro line.") and "## Section" in doc.text and doc.text.endswith("More.")
    nohead = only_doc(SourceRef(path=str(write(tmp_path / "no-heading.md", "## Sub only\n\nText."))))
    assert nohead.title == "No heading"


@pytest.mark.parametrize("heading, title", [
    ("# Learn C#", "Learn C#"),            # a trailing # without a space belongs to the text
    ("# Closed heading ##", "Closed heading"),
    ("#   Spaced   ", "Spaced"),
    ("# Windows line ##\r", "Windows line"),
])
def test_markdown_heading_forms(tmp_path, heading, title):
    p = write(tmp_path / "h.md", f"{heading}\nBody text.")
    doc = only_doc(SourceRef(path=str(p)))
    assert (doc.title, doc.text) == (title, "Body text.")


def test_markdown_lone_hash_is_not_a_heading(tmp_path):
    p = write(tmp_path / "lone.md", "#\n\nNot a title line.\n\n#hashtag too")
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.title == "Lone" and "Not a title line." in doc.text


def test_load_html_strips_script_and_style(tmp_path):
    p = write(tmp_path / "page.html", """<!doctype html><html><head>
        <title>  Fish &amp; Chips
          Guide </title><meta charset="utf-8"><style>body { color: red }</style>
        <script>var secret = "<p>hidden</p>";</script></head>
        <body><h1>Heading</h1><p>First para &lt;tag&gt;.<br>Second line.</p>
        <noscript>enable js</noscript><ul><li>Item one</li><li>Item two</li></ul></body></html>""")
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.title == "Fish & Chips Guide"
    for gone in ("color", "secret", "hidden", "enable js", "Fish"):
        assert gone not in doc.text
    assert "Heading" in doc.text and "First para <tag>." in doc.text and "Item two" in doc.text
    # Block elements separate paragraphs.
    assert "Heading\n\nFirst para" in doc.text and "Item one\n\nItem two" in doc.text


def test_html_title_entities_decoded_once(tmp_path):
    p = write(tmp_path / "t.html", "<title>AT&amp;amp;T &lt;3</title><p>x</p>")
    assert only_doc(SourceRef(path=str(p))).title == "AT&amp;T <3"


def test_html_without_title_uses_file_name(tmp_path):
    p = write(tmp_path / "some-page.htm", "<p>Only text.</p>")
    doc = only_doc(SourceRef(path=str(p)))
    assert (doc.title, doc.text) == ("Some page", "Only text.")


def beir(tmp_path: Path, name: str, records: list, extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    return write(tmp_path / name, "\n".join(lines) + "\n")


def test_load_beir_jsonl(tmp_path):
    p = beir(tmp_path, "corpus.jsonl", [
        {"_id": "d1", "title": " T1 ", "text": "Text  one."},
        {"_id": 42, "text": "No title."},
        {"_id": "d3", "title": None, "text": "Null title."},
    ])
    docs = list(load(SourceRef(path=str(p)), 1_000_000))
    assert [(d.doc_id, d.title, d.text) for d in docs] == [
        ("d1", "T1", "Text one."), ("42", "", "No title."), ("d3", "", "Null title.")]
    assert all(d.source == str(p) for d in docs)


def test_jsonl_bad_lines_yield_errors_while_others_load(tmp_path):
    p = write(tmp_path / "mixed.jsonl", b"\n".join([
        json.dumps({"_id": "ok1", "text": "Good."}).encode(),
        b"{not json",
        json.dumps({"title": "no id", "text": "x"}).encode(),
        json.dumps({"_id": "num", "text": 5}).encode(),
        b"",
        json.dumps({"_id": "empty", "text": "   "}).encode(),
        b'{"_id": "latin", "text": "caf\xe9"}',
        json.dumps(["_id"]).encode(),
        json.dumps({"_id": "ok2", "text": "Also good."}).encode(),
    ]) + b"\n")
    items = list(load(SourceRef(path=str(p)), 1_000_000))
    docs = [i for i in items if isinstance(i, Document)]
    errors = [i for i in items if isinstance(i, DocumentError)]
    assert [d.doc_id for d in docs] == ["ok1", "ok2"]
    reasons = {e.failure.doc_id: e.failure.reason for e in errors}
    assert reasons[f"{p}:2"] == "line 2 is not valid JSON (Expecting property name enclosed in double quotes)"
    assert reasons[f"{p}:3"] == 'line 3 has no "_id" (BEIR layout expected)'
    assert "must be strings" in reasons["num"]
    assert "empty document" in reasons["empty"]
    assert "line 7 is not UTF-8" in reasons[f"{p}:7"]
    assert "line 8" in reasons[f"{p}:8"]
    assert len(errors) == 6
    assert all(e.failure.source == str(p) for e in errors)


def test_jsonl_slice_and_too_large_line(tmp_path):
    p = beir(tmp_path, "c.jsonl", [{"_id": f"d{i}", "text": f"Text {i}." + ("x" * 200 if i == 3 else "")}
                                   for i in range(6)])
    docs = list(load(SourceRef(path=str(p), start=2, end=5), 100))
    assert isinstance(docs[0], Document) and docs[0].doc_id == "d2"
    assert isinstance(docs[1], DocumentError) and "too large" in docs[1].failure.reason
    assert docs[2].doc_id == "d4" and len(docs) == 3


def test_empty_file_is_a_failure(tmp_path):
    e = only_error(SourceRef(path=str(write(tmp_path / "empty.txt", ""))))
    assert "empty document" in e.failure.reason
    e = only_error(SourceRef(path=str(write(tmp_path / "blank.md", "  \n\n\t"))))
    assert "empty" in e.failure.reason
    e = only_error(SourceRef(path=str(write(tmp_path / "scripts.html", "<script>x()</script>"))))
    assert "empty" in e.failure.reason


def test_non_utf8_file_is_a_failure(tmp_path):
    p = write(tmp_path / "latin1.txt", "café au lait".encode("latin-1"))
    e = only_error(SourceRef(path=str(p)))
    assert e.failure.reason.startswith("not UTF-8 text (byte 3")
    assert e.failure.doc_id == str(p.resolve()) or e.failure.doc_id == str(p)
    assert str(e).endswith(e.failure.reason)


def test_utf8_bom_is_stripped(tmp_path):
    p = write(tmp_path / "bom.txt", "\ufeffHello there.".encode("utf-8"))
    assert only_doc(SourceRef(path=str(p))).text == "Hello there."


def test_nul_bytes_rejected(tmp_path):
    p = write(tmp_path / "bin.txt", b"abc\x00def")
    assert "NUL" in only_error(SourceRef(path=str(p))).failure.reason


def test_too_large_file_is_a_failure(tmp_path):
    p = write(tmp_path / "big.txt", "x" * 101)
    e = only_error(SourceRef(path=str(p)), max_bytes=100)
    assert e.failure.reason == "too large: 101 bytes > limit 100"
    assert only_doc(SourceRef(path=str(p)), max_bytes=101).text == "x" * 101


def test_missing_file_loads_as_failure(tmp_path):
    e = only_error(SourceRef(path=str(tmp_path / "gone.txt")))
    assert "unreadable" in e.failure.reason
    e = only_error(SourceRef(path=str(tmp_path / "gone.jsonl")))
    assert "unreadable" in e.failure.reason


def test_version_hash_is_stable_and_content_based(tmp_path):
    a = Document("id", "Title", "Some text.", "src")
    assert a.version == Document("other-id", "Title", "Some text.", "elsewhere").version
    assert len(a.version) == 16 and int(a.version, 16) >= 0
    assert a.version == "%s" % Document("id", "Title", "Some text.", "src").version
    assert Document("id", "Title", "Some text!", "src").version != a.version
    assert Document("id", "Title2", "Some text.", "src").version != a.version
    # Title and text are separated: moving a character across the boundary changes the hash.
    assert Document("id", "ab", "c", "s").version != Document("id", "a", "bc", "s").version
    p = write(tmp_path / "v.txt", "Version one.")
    v1 = only_doc(SourceRef(path=str(p))).version
    assert only_doc(SourceRef(path=str(p))).version == v1
    write(p, "Version two.")
    assert only_doc(SourceRef(path=str(p))).version != v1


def make_tree(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write(root / "a.txt", "A text.")
    write(root / "b.md", "# B\n\nB text.")
    write(root / "sub" / "c.html", "<p>C text.</p>")
    write(root / "sub" / "notes.pdf", b"%PDF")  # unsupported inside a directory: skipped quietly
    write(root / ".hidden" / "h.txt", "hidden")
    write(root / ".dot.txt", "dot file")
    beir(root, "z.jsonl", [{"_id": f"j{i}", "text": f"J {i}."} for i in range(7)])
    return root


def test_discover_walks_directories_in_stable_order(tmp_path):
    root = make_tree(tmp_path)
    batches, cursor, failures = discover([str(root)], batch_docs=100)
    assert cursor is None and failures == []
    refs = [r for b in batches for r in b]
    names = [Path(r.path).name for r in refs]
    assert names == ["a.txt", "b.md", "c.html", "z.jsonl"]
    assert refs[-1].start == 0 and refs[-1].end == 7
    assert len(batches) == 1


def test_discover_batches_of_batch_docs(tmp_path):
    root = make_tree(tmp_path)
    batches, cursor, _ = discover([str(root)], batch_docs=3)
    assert cursor is None
    sizes = []
    for b in batches:
        n = sum((r.end - r.start) if r.start is not None else 1 for r in b)
        assert n <= 3
        sizes.append(n)
    assert sum(sizes) == 10  # 3 files + 7 jsonl records
    jsonl = [r for b in batches for r in b if r.path.endswith(".jsonl")]
    assert [(r.start, r.end) for r in jsonl] == [(0, 3), (3, 6), (6, 7)]
    # Every document loads exactly once across the batches.
    ids = [d.doc_id for b in batches for r in b for d in load(r, 1_000_000)]
    assert len(ids) == len(set(ids)) == 10


def test_discover_cursor_paging(tmp_path):
    root = make_tree(tmp_path)
    every, _, _ = discover([str(root)], batch_docs=2)
    pages, cursor = [], 0
    while True:
        batches, nxt, failures = discover([str(root)], batch_docs=2, cursor=cursor, max_batches=2)
        assert len(batches) <= 2
        pages.append(batches)
        if nxt is None:
            break
        assert nxt > cursor
        cursor = nxt
    assert len(pages) > 1
    assert [b for page in pages for b in page] == every


def test_discover_reports_bad_named_paths(tmp_path):
    root = make_tree(tmp_path)
    missing = tmp_path / "nope"
    pdf = write(tmp_path / "doc.pdf", b"%PDF")
    noext = write(tmp_path / "README", "text")
    good = write(tmp_path / "ok.txt", "fine")
    batches, _, failures = discover([str(missing), str(pdf), str(noext), str(good), str(root)], batch_docs=50)
    reasons = {Path(f.doc_id).name: f.reason for f in failures}
    assert reasons == {"nope": "no such file or directory", "doc.pdf": "unsupported file type '.pdf'",
                       "README": "unsupported file type '(none)'"}
    names = [Path(r.path).name for b in batches for r in b]
    assert names[0] == "ok.txt" and "doc.pdf" not in names and len(names) == 5
    # Failures are reported on the first page only.
    _, _, later = discover([str(missing), str(good), str(root)], batch_docs=1, cursor=1)
    assert later == []


def test_discover_explicit_file_and_empty_jsonl(tmp_path):
    p = write(tmp_path / "one.MD", "# One\n\nText.")
    e = write(tmp_path / "empty.jsonl", "")
    batches, cursor, failures = discover([str(p), str(e)], batch_docs=10)
    assert failures == [] and cursor is None
    assert [[r.path for r in b] for b in batches] == [[str(p.resolve())]]
    assert only_doc(batches[0][0]).title == "One"


def test_examples_corpus_loads_cleanly():
    root = Path(__file__).resolve().parent.parent / "examples" / "corpus"
    batches, cursor, failures = discover([str(root)], batch_docs=64)
    assert cursor is None and failures == []
    items = [i for b in batches for r in b for i in load(r, 20_000_000)]
    assert items and all(isinstance(i, Document) for i in items)
    html_doc = next(i for i in items if i.source.endswith(".html"))
    assert "<" not in html_doc.text
    assert len({i.doc_id for i in items}) == len(items)
