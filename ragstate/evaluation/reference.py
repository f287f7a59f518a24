"""The anchor runs `ragstate eval --reference` prints next to the engine's: plain retrieval over
whole documents, outside the engine, so a change to the engine is measured against something
it cannot move.

- ``bm25_exact_reference``: BM25Okapi as rank-bm25 scores it (:class:`Bm25Okapi`, numpy only, so
  that a plain install runs it) over whole documents with the same analyzer (Snowball stemming
  and stop words).
- ``dense_document_reference``: the packaged all-MiniLM-L6-v2, whole question against whole
  document (the model reads a document's first 256 word pieces).
- ``anchor_reference``: their reciprocal rank fusion, k 60, over each one's top 100.

Needs the embeddings extra (the model), not the dev extra.

Example::

    runs = reference_runs(BeirDataset.load(Path("../shared/datasets/med")))
    runs["anchor_reference"]["1"]  # {"ndcg@10": ..., "recall@100": ..., "mrr@10": ...}
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

from ragstate.evaluation.beir import BeirDataset, scores
from ragstate.retrieval.fusion import reciprocal_rank_fusion

REFERENCE_RUNS = ("bm25_exact_reference", "dense_document_reference", "anchor_reference")
DEPTH = 100
ANCHOR_RRF_K = 60


class Bm25Okapi:
    """rank-bm25's ``BM25Okapi`` (0.2.2), score for score, on numpy alone: the anchor must not
    move with the engine, and ``ragstate eval --reference`` must run without the dev extra
    (tests/test_evaluation_reference.py compares the two).

    Its particulars, kept: IDF ``ln(N - n + 0.5) - ln(n + 0.5)``, negative values replaced by
    ``epsilon`` times the mean IDF of the vocabulary; a term repeated in the query counts each
    time; the same floating-point operations in the same order. One difference: at ``b`` 1
    rank-bm25 scores an empty document 0/0 (NaN), this 0.
    """

    def __init__(self, corpus: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.corpus_size = len(corpus)
        self.doc_len = np.array([len(doc) for doc in corpus])
        self.avgdl = sum(len(doc) for doc in corpus) / self.corpus_size
        # term -> (documents holding it, its frequency in each), documents in corpus order
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(corpus):
            freqs: dict[str, int] = {}
            for word in doc:
                freqs[word] = freqs.get(word, 0) + 1
            for word, tf in freqs.items():
                docs, tfs = postings.setdefault(word, ([], []))
                docs.append(i)
                tfs.append(tf)
        self.postings = {w: (np.array(d), np.array(f)) for w, (d, f) in postings.items()}
        self.idf: dict[str, float] = {}
        idf_sum, negative = 0.0, []
        for word, (holding, _) in self.postings.items():  # first-seen order, as rank-bm25 sums it
            idf = math.log(self.corpus_size - len(holding) + 0.5) - math.log(len(holding) + 0.5)
            self.idf[word] = idf
            idf_sum += idf
            if idf < 0:
                negative.append(word)
        eps = self.epsilon * (idf_sum / len(self.idf))
        for word in negative:
            self.idf[word] = eps

    def get_scores(self, query: Sequence[str]) -> np.ndarray:
        score = np.zeros(self.corpus_size)
        for q in query:
            if q not in self.postings:  # rank-bm25 adds idf 0 times zeros: nothing
                continue
            docs, tf = self.postings[q]
            dl = self.doc_len[docs]
            # rank-bm25's expression; a document without the term adds exactly 0.0 there.
            score[docs] += self.idf[q] * (tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * dl / self.avgdl)))
        return score


def _documents(dataset: BeirDataset) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with dataset.corpus.open() as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                ids.append(str(d["_id"]))
                title, text = d.get("title") or "", d.get("text") or ""
                texts.append(f"{title}\n\n{text}" if title else text)  # as indexed_text
    return ids, texts


def _top(values, ids: list[str]) -> list[str]:
    order = np.argsort(-np.asarray(values), kind="stable")[:DEPTH]
    return [ids[i] for i in order]


def reference_runs(
    dataset: BeirDataset, k1: float = 1.2, b: float = 0.75, device: str = "cpu"
) -> dict[str, dict[str, dict[str, float]]]:
    """Run name -> query id -> metrics, for the three anchor runs."""
    from ragstate.retrieval.analyzer import analyze
    from ragstate.retrieval.embedding import get_embedder

    ids, texts = _documents(dataset)
    bm25 = Bm25Okapi([analyze(t) for t in texts], k1=k1, b=b)
    embedder = get_embedder(device)
    doc_vectors = np.asarray(embedder.encode(texts, batch_size=64), dtype=np.float32)
    qids = list(dataset.queries)
    query_vectors = np.asarray(embedder.encode([dataset.queries[q] for q in qids]), dtype=np.float32)
    runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in REFERENCE_RUNS}
    for qid, qvec in zip(qids, query_vectors):
        rels = dataset.qrels[qid]
        keyword = _top(bm25.get_scores(analyze(dataset.queries[qid])), ids)
        dense = _top(doc_vectors @ qvec, ids)
        fused = [d for d, _ in reciprocal_rank_fusion([(dense, 1.0), (keyword, 1.0)], k=ANCHOR_RRF_K)]
        runs["bm25_exact_reference"][qid] = scores(keyword, rels)
        runs["dense_document_reference"][qid] = scores(dense, rels)
        runs["anchor_reference"][qid] = scores(fused, rels)
    return runs


def mean_metrics(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    n = len(per_query)
    return {
        m: round(sum(q[m] for q in per_query.values()) / n, 4) if n else 0.0
        for m in ("ndcg@10", "recall@100", "mrr@10")
    }
