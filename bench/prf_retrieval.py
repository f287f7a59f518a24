"""Pseudo-relevance feedback, chosen leave-one-collection-out, in-process on cached scores.

Each branch expands its own query from its own first results, as the search activities do
(``ragstate.retrieval.feedback``): the keyword branch by RM3 (the terms of its top
``fb_chunks`` chunks, each chunk weighted by its share of their scores, the ``fb_terms`` most
likely mixed into the question's terms at ``weight``), the vector branch by Rocchio (the question's
vector plus ``weight`` times the mean of its top ``fb_chunks`` chunk vectors). Then the Merge
activity's fusion at the shipped defaults (bench/loco_retrieval.py ``Collection``), nDCG@10 per
collection beside the anchor and the best branch. Each fold chooses the feedback setting on the
other collections (by ``--choose``, as loco_retrieval's rules) and is scored on the held-out one.

    python bench/prf_retrieval.py ../shared/datasets/{cisi,med,npl}
    python bench/prf_retrieval.py ../shared/datasets/{cisi,med,npl} --bm25-avg-len 0   # the real average
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _retrieval_data import DEFAULT_CACHE, _documents, _embeddings, encoded_matrix, prepare
from loco_retrieval import top_chunks, top_docs

from ragstate.evaluation.beir import ndcg_at
from ragstate.ingest.chunking import chunk_text
from ragstate.retrieval.analyzer import analyze, term_index
from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.retrieval.feedback import rm3_query, rocchio
from ragstate.retrieval.fusion import document_evidence, fuse
from ragstate.settings import FusionMethod, Settings
from ragstate.store.records import indexed_text


@dataclass(frozen=True)
class Feedback:
    kw_chunks: int  # 0: no keyword feedback
    kw_terms: int
    kw_weight: float
    vec_chunks: int  # 0: no vector feedback
    vec_weight: float

    def __str__(self) -> str:
        kw = f"rm3 {self.kw_chunks}/{self.kw_terms}/{self.kw_weight}" if self.kw_chunks else "rm3 off"
        vec = f"rocchio {self.vec_chunks}/{self.vec_weight}" if self.vec_chunks else "rocchio off"
        return f"{kw:18} {vec}"


class Collection:
    def __init__(self, root: Path, cache: Path, depth: int, avg_len: float | None):
        s = self.s = Settings()
        self.p = p = prepare(root, cache)
        self.depth = depth
        docs = _documents(p.dataset)
        chunk_texts = [
            indexed_text(d.title, c.text)
            for d in docs
            for c in chunk_text(d.text, s.chunk_tokens, s.chunk_overlap, title=d.title)
        ]
        self.cvec = _embeddings(f"{p.name}-chunks-{s.chunk_tokens}-{s.chunk_overlap}", chunk_texts, cache)
        self.qvec = _embeddings(f"{p.name}-queries", [p.dataset.queries[q] for q in p.qids], cache)
        terms = [analyze(t) for t in chunk_texts]
        self.chunk_terms = [Counter(term_index(w) for w in ts) for ts in terms]
        self.chunk_len = [len(ts) for ts in terms]
        enc = Bm25Encoder(s.bm25_k1, s.bm25_b, avg_len or sum(self.chunk_len) / len(terms))
        self.docs_matrix, self.vocab = encoded_matrix(terms, enc)
        df = np.bincount(self.docs_matrix.indices, minlength=len(self.vocab))
        self.idf = np.log(1 + (len(terms) - df + 0.5) / (df + 0.5))
        self.queries = [Counter(term_index(w) for w in analyze(p.dataset.queries[q])) for q in p.qids]
        self.rels = [p.dataset.qrels[q] for q in p.qids]
        self.anchor = self.mean(
            [
                fuse([(top_docs(d, None, 100), 1.0), (top_docs(k, None, 100), 1.0)], FusionMethod.rrf, 60)
                for d, k in zip(p.anchor_dense, p.anchor_bm25)
            ]
        )
        self._kw: dict = {}
        self._vec: dict = {}

    def mean(self, rankings) -> float:
        ids = self.p.doc_ids
        return float(np.mean([ndcg_at([ids[d] for d, _ in r], g) for r, g in zip(rankings, self.rels)]))

    def _sparse_scores(self, weights: dict[int, float]) -> np.ndarray:
        q = np.zeros(len(self.vocab))
        for t, w in weights.items():
            if t in self.vocab:
                q[self.vocab[t]] = w * self.idf[self.vocab[t]]
        return self.docs_matrix @ q

    def keyword(self, n: int, terms: int, weight: float) -> list[list[tuple[int, float]]]:
        """Per query: the keyword branch's top chunks as (document, score), after RM3."""
        key = (n, terms, weight)
        if key not in self._kw:
            out = []
            for q in self.queries:
                first = self._sparse_scores(dict(q))
                if n:
                    top = np.argsort(-first, kind="stable")[:n]
                    fb = [(self.chunk_terms[i], self.chunk_len[i], float(first[i])) for i in top if first[i] > 0]
                    first = self._sparse_scores(rm3_query(dict(q), fb, terms, weight))
                out.append(top_chunks(first, self.p.chunk_doc, self.depth))
            self._kw[key] = out
        return self._kw[key]

    def vector(self, n: int, weight: float) -> list[list[tuple[int, float]]]:
        key = (n, weight)
        if key not in self._vec:
            out = []
            for qv in self.qvec:
                first = self.cvec @ qv
                if n:
                    top = np.argsort(-first, kind="stable")[:n]
                    first = self.cvec @ np.asarray(rocchio(qv, self.cvec[top], weight))
                out.append(top_chunks(first, self.p.chunk_doc, self.depth))
            self._vec[key] = out
        return self._vec[key]

    def scores(self, f: Feedback) -> tuple[float, float, float]:
        """(hybrid, keyword, vector) nDCG@10 at the shipped fusion defaults."""
        s = self.s
        kw = self.keyword(f.kw_chunks, f.kw_terms, f.kw_weight)
        vec = self.vector(f.vec_chunks, f.vec_weight)
        w = s.keyword_weight / 2
        fused = [
            fuse(
                [
                    (document_evidence(v), s.vector_weight),
                    (document_evidence(k), w),
                    (document_evidence(k, s.keyword_other_chunks), w),
                ],
                s.fusion_method,
                s.rrf_k,
            )
            for v, k in zip(vec, kw)
        ]
        return (
            self.mean(fused),
            self.mean([document_evidence(k) for k in kw]),
            self.mean([document_evidence(v) for v in vec]),
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directories", type=Path, nargs="+")
    ap.add_argument("--depth", type=int, default=200)
    ap.add_argument("--kw-chunks", default="0,5,10")
    ap.add_argument("--kw-terms", default="10,20")
    ap.add_argument("--kw-weights", default="0.3,0.5")
    ap.add_argument("--vec-chunks", default="0,3,5,10")
    ap.add_argument("--vec-weights", default="0.5,1.0")
    ap.add_argument(
        "--choose",
        default="min,margin",
        help="min: the largest smallest gain over the anchor among the "
        "settings above anchor and best branch on every training collection; margin: the largest "
        "smallest margin over the better of anchor and best branch",
    )
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument(
        "--bm25-avg-len",
        type=float,
        default=Settings().bm25_avg_len,
        help="the keyword branch's BM25 average length (0: each collection's real one, bm25_collection_avg_len)",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ints = lambda v: [int(x) for x in v.split(",")]  # noqa: E731
    floats = lambda v: [float(x) for x in v.split(",")]  # noqa: E731
    settings = []
    for n, t, w in itertools.product(ints(args.kw_chunks), ints(args.kw_terms), floats(args.kw_weights)):
        for vn, vw in itertools.product(ints(args.vec_chunks), floats(args.vec_weights)):
            f = Feedback(n, t if n else 0, w if n else 0.0, vn, vw if vn else 0.0)
            if f not in settings:
                settings.append(f)
    cols = [Collection(d, args.cache, args.depth, args.bm25_avg_len) for d in args.directories]
    table = {f: [c.scores(f) for c in cols] for f in settings}
    off = Feedback(0, 0, 0.0, 0, 0.0)
    names = [c.p.name for c in cols]

    def margin(f: Feedback, i: int) -> float:
        h, k, v = table[f][i]
        return h - max(cols[i].anchor, k, v)

    print("per collection, nDCG@10: hybrid (keyword / vector), anchor")
    print(f"{'setting':36} " + " ".join(f"{n:>26}" for n in names) + "  mean hybrid  mean - anchor  min margin")
    anchor_mean = float(np.mean([c.anchor for c in cols]))
    order = sorted(settings, key=lambda f: -np.mean([t[0] for t in table[f]]))
    for f in [off, *[f for f in order if f != off][:15]]:
        row = " ".join(f"{h:.4f} ({k:.4f} / {v:.4f})" for h, k, v in table[f])
        m = float(np.mean([t[0] for t in table[f]]))
        print(
            f"{f!s:36} {row}  {m:11.4f}  {m - anchor_mean:+12.4f}  {min(margin(f, i) for i in range(len(cols))):+.4f}"
        )
    print("anchors: " + ", ".join(f"{c.p.name} {c.anchor:.4f}" for c in cols) + f"; mean {anchor_mean:.4f}")

    for rule in args.choose.split(","):
        print(f"\nleave one collection out ({rule}): chosen on the others, scored on the held-out one")
        print(f"{'held out':10} {'chosen':36} {'hybrid':>7} {'keyword':>7} {'vector':>7} {'anchor':>7}  holds")
        gains = []
        for h, c in enumerate(cols):
            train = [i for i in range(len(cols)) if i != h]
            if rule == "margin":
                f = max(settings, key=lambda f: min(margin(f, i) for i in train))
            else:
                f = max(
                    settings,
                    key=lambda f: (
                        min(margin(f, i) for i in train) >= 0,
                        min(table[f][i][0] - cols[i].anchor for i in train),
                    ),
                )
            hy, k, v = table[f][h]
            gains.append(hy - c.anchor)
            ok = hy >= max(c.anchor, k, v)
            print(f"{c.p.name:10} {f!s:36} {hy:7.4f} {k:7.4f} {v:7.4f} {c.anchor:7.4f}  {'yes' if ok else 'NO'}")
        print(f"held-out mean gain over the anchor: {np.mean(gains):+.4f}")


if __name__ == "__main__":
    main()
