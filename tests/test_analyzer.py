"""Unit tests of ragstate.retrieval.analyzer: normalisation, tokenizing, stop words, stemming and term indexes."""

from __future__ import annotations

import subprocess
import sys
import zlib

from ragstate.retrieval.analyzer import STOP_WORDS, analyze, term_counts, term_index, tokenize


def test_lowercases_and_drops_stop_words():
    assert analyze("The Running of the Bulls") == ["run", "bull"]
    terms = analyze("What IS the Capital of FRANCE and why does it matter?")
    assert terms == ["capit", "franc", "matter"]
    assert not STOP_WORDS.intersection(analyze("it is what it is, and they were there"))
    assert analyze("the and of to in is was") == []


def test_snowball_stems():
    assert analyze("running runs run") == ["run", "run", "run"]
    assert analyze("connections connected connecting") == ["connect"] * 3
    assert analyze("studies") == ["studi"]
    # Query and document forms meet on the same stem.
    assert set(analyze("Indexing documents")) == set(analyze("indexed document"))


def test_nfkc_normalisation():
    # Ligature, full-width letters and digits, and a roman numeral all fold to plain text.
    assert analyze("ﬁle") == ["file"]
    assert analyze("ＢＭ２５") == ["bm25"]
    assert analyze("１２３") == ["123"]
    assert tokenize("Ⅻ") == ["xii"]
    # Composed and decomposed accents analyze identically.
    assert analyze("cafe\u0301") == analyze("caf\u00e9") == ["café"]


def test_digits_kept_single_letters_dropped():
    assert analyze("7 x 2024 q 1") == ["7", "2024", "1"]
    assert analyze("a b c") == []
    assert analyze("version 3 of python3") == ["version", "3", "python3"]


def test_punctuation_splits_tokens():
    assert tokenize("Hello, world! e-mail: a.b@c.d") == ["hello", "world", "e", "mail", "a", "b", "c", "d"]
    assert analyze("") == []
    assert analyze("  ,.;!  ") == []


def test_term_index_is_stable_32_bit(tmp_path):
    # crc32 of UTF-8: fixed values, the same in every process (no PYTHONHASHSEED dependence).
    assert term_index("run") == 1349952704 == zlib.crc32(b"run")
    assert term_index("café") == zlib.crc32("café".encode())
    for t in ("run", "bm25", "café", "x" * 500, "日本語"):
        assert 0 <= term_index(t) < 2**32
    code = "from ragstate.retrieval.analyzer import term_index; print(term_index('retrieval'), term_index('qdrant'))"
    # From an empty folder, so that the installed package is imported, not the repository's.
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout.split()
    assert [int(x) for x in out] == [term_index("retrieval"), term_index("qdrant")]


def test_term_counts():
    counts = term_counts(["run", "bull", "run"])
    assert counts == {term_index("run"): 2, term_index("bull"): 1}
    assert term_counts([]) == {}


def test_stemming_from_many_threads_gives_each_word_its_own_stem():
    """Before: one stemmer shared by the activity threads raised IndexError mid-ingest and could
    return a stem of another thread's word."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    import snowballstemmer

    from ragstate.retrieval import analyzer

    rng = random.Random(5)
    words = [
        "".join(rng.choice("abcdefghilmnoprstu") for _ in range(rng.randint(4, 14))) + suffix
        for suffix in ("ing", "ation", "ness", "ies", "ed", "ly")
        for _ in range(3000)
    ]
    expected = [snowballstemmer.stemmer("english").stemWord(w) for w in words]
    analyzer._stem.cache_clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(analyzer._stem, words, chunksize=50))
    assert got == expected
