"""The anchor of `ragstate eval --reference`: its BM25 is rank-bm25's BM25Okapi score for score,
without rank-bm25 (a dev-only dependency) installed."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from beir_files import EVAL_DOCS, write_eval_beir

from ragstate.evaluation import reference
from ragstate.evaluation.beir import BeirDataset
from ragstate.evaluation.reference import Bm25Okapi, reference_runs
from ragstate.retrieval.analyzer import analyze


def corpus_and_queries(seed: int = 11) -> tuple[list[list[str]], list[list[str]]]:
    """A small vocabulary, so that some terms are in more than half of the documents (rank-bm25
    floors their negative IDF at epsilon times the mean); lengths from 0 to 40 terms; queries
    with repeated and unknown terms."""
    rng = random.Random(seed)
    common, rare = ["the", "of", "and"], [f"t{i}" for i in range(40)]
    corpus = [
        [rng.choice(common) if rng.random() < 0.4 else rng.choice(rare) for _ in range(rng.randint(0, 40))]
        for _ in range(60)
    ]
    corpus[0] = []  # an empty document
    queries = [["t1"], ["t1", "t1", "t2"], ["the", "t3"], ["unknown", "t4"], ["of", "and", "the"], []]
    queries += [[rng.choice(common + rare) for _ in range(rng.randint(1, 8))] for _ in range(20)]
    return corpus, queries


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (1.5, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_bm25okapi_scores_exactly_as_rank_bm25(k1, b):
    rank_bm25 = pytest.importorskip("rank_bm25", reason="rank-bm25 is in the dev extra")
    corpus, queries = corpus_and_queries()
    if b == 1.0:  # rank-bm25 scores an empty document 0/0 = NaN at b 1; ours leaves it at 0
        corpus = [doc for doc in corpus if doc]
    assert _raw_negative_idf(corpus), "the corpus must exercise rank-bm25's IDF floor"
    ours, theirs = Bm25Okapi(corpus, k1=k1, b=b), rank_bm25.BM25Okapi(corpus, k1=k1, b=b)
    assert ours.idf == theirs.idf
    for q in queries:
        np.testing.assert_array_equal(ours.get_scores(q), theirs.get_scores(q))


def test_bm25okapi_on_analysed_prose_equals_rank_bm25():
    rank_bm25 = pytest.importorskip("rank_bm25", reason="rank-bm25 is in the dev extra")

    corpus = [analyze(f"{title}\n\n{text}") for title, text in EVAL_DOCS.values()]
    ours, theirs = Bm25Okapi(corpus, k1=1.2, b=0.75), rank_bm25.BM25Okapi(corpus, k1=1.2, b=0.75)
    for q in ("Where do penguins live? Can they fly?", "volcano magma", "penguins penguins bread"):
        np.testing.assert_array_equal(ours.get_scores(analyze(q)), theirs.get_scores(analyze(q)))


def _raw_negative_idf(corpus: list[list[str]]) -> list[str]:
    n = len(corpus)
    df: dict[str, int] = {}
    for doc in corpus:
        for w in set(doc):
            df[w] = df.get(w, 0) + 1
    return [w for w, d in df.items() if d > n / 2]


class _FakeEmbedder:
    """A vector per text from its words (no model load): documents and questions that share a
    word point the same way."""

    def encode(self, texts, batch_size=32):
        vocab = ["penguin", "volcano", "bread", "chess"]
        out = []
        for t in texts:
            v = np.array([1.0 if w in t.lower() else 0.0 for w in vocab]) + 0.01
            out.append(v / np.linalg.norm(v))
        return out


def test_reference_runs_without_rank_bm25_installed(monkeypatch, tmp_path):
    """`ragstate eval --reference` on a plain install (no dev extra): it imported rank_bm25."""
    import ragstate.retrieval.embedding as embedding

    monkeypatch.setitem(sys.modules, "rank_bm25", None)  # any import of it fails
    monkeypatch.setattr(embedding, "get_embedder", lambda device="cpu": _FakeEmbedder())
    runs = reference_runs(BeirDataset.load(write_eval_beir(tmp_path / "beir")))
    assert set(runs) == set(reference.REFERENCE_RUNS)
    for name in reference.REFERENCE_RUNS:
        assert set(runs[name]) == {"q-penguins", "q-volcano"}
        assert runs[name]["q-volcano"]["ndcg@10"] == 1.0  # the one volcano document ranks first
        assert runs[name]["q-penguins"]["recall@100"] == 1.0
