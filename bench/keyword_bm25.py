"""The keyword branch against the exact BM25 it imitates, in-process, one suspect at a time.

Each row scores every query of a BEIR-layout collection (nDCG@10) with the engine's own code:
the loader, the chunker at the default size, ``Bm25Encoder`` (saturated tf, the collection's
average length as given), Qdrant's IDF (``ln(1 + (N - n + 0.5) / (n + 0.5))`` over the points),
each query's top ``depth`` chunks, and the document ranking the Merge activity makes of a
keyword-only search (``fuse_hits`` at the settings' fusion method and ``keyword_other_chunks``).
The exact row is ``ragstate.evaluation.reference.Bm25Okapi`` over whole documents, the anchor
``ragstate eval --reference`` prints.

Rows: the engine as shipped before (fixed ``avg_len`` 100), the same with the collection's
real average analysed chunk length, each with and without the other-chunks evidence, and
whole documents as one point each (document-level statistics, Qdrant's IDF) to separate the
chunking from the IDF formula. No embeddings: seconds per collection.

    python bench/keyword_bm25.py ../shared/datasets/{cisi,med,npl}
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).parent))
from _retrieval_data import _documents, encoded_matrix

from ragstate.evaluation.beir import BeirDataset, ndcg_at
from ragstate.evaluation.reference import Bm25Okapi
from ragstate.ingest.chunking import chunk_text
from ragstate.models import SearchHit
from ragstate.retrieval.analyzer import analyze, term_index
from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.retrieval.fusion import fuse_hits
from ragstate.settings import Settings
from ragstate.store.records import indexed_text


def qdrant_scores(units: list[list[str]], queries: list[list[str]], enc: Bm25Encoder) -> np.ndarray:
    """queries x units: the dot product Qdrant computes (query counts x IDF x the unit's values)."""
    m, vocab = encoded_matrix(units, enc)
    df = np.bincount(m.indices, minlength=len(vocab))
    n = len(units)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    q = sparse.lil_matrix((len(queries), len(vocab)))
    for qi, terms in enumerate(queries):
        for t, c in Counter(term_index(w) for w in terms).items():
            if t in vocab:
                q[qi, vocab[t]] = c * idf[vocab[t]]
    return (q.tocsr() @ m.T).toarray()


def merged(row: np.ndarray, unit_doc: list[str], depth: int, s: Settings, other: float) -> list[str]:
    """The documents Merge ranks from a keyword-only search's top ``depth`` hits."""
    top = np.argsort(-row, kind="stable")[:depth]
    hits = [SearchHit(chunk_id=str(i), doc_id=unit_doc[i], score=float(row[i])) for i in top if row[i] > 0]
    fused = fuse_hits(
        [(hits, s.keyword_weight)], k=s.rrf_k, unit=s.fusion_unit, method=s.fusion_method, other_chunks=[other]
    )
    return [h.doc_id for h in fused]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directories", type=Path, nargs="+")
    ap.add_argument("--depth", type=int, default=None, help="chunks per search (default: search_depth)")
    args = ap.parse_args()
    s = Settings()
    depth = args.depth or s.search_depth
    print(f"{'collection':10} {'row':58} {'nDCG@10':>8}")
    for root in args.directories:
        ds = BeirDataset.load(root)
        name = Path(root).resolve().name
        docs = _documents(ds)
        chunk_doc, chunk_terms = [], []
        for d in docs:
            for c in chunk_text(d.text, s.chunk_tokens, s.chunk_overlap, title=d.title):
                chunk_doc.append(d.doc_id)
                chunk_terms.append(analyze(indexed_text(d.title, c.text)))
        doc_terms = [analyze(indexed_text(d.title, d.text)) for d in docs]
        doc_ids = [d.doc_id for d in docs]
        qids = list(ds.queries)
        queries = [analyze(ds.queries[q]) for q in qids]
        rels = [ds.qrels[q] for q in qids]
        chunk_avg = sum(map(len, chunk_terms)) / len(chunk_terms)
        doc_avg = sum(map(len, doc_terms)) / len(doc_terms)

        def mean(rankings) -> float:
            return float(np.mean([ndcg_at(r, g) for r, g in zip(rankings, rels)]))

        exact = Bm25Okapi(doc_terms, k1=s.bm25_k1, b=s.bm25_b)
        order = [np.argsort(-exact.get_scores(q), kind="stable")[:100] for q in queries]
        rows = [("exact BM25 (rank-bm25, whole documents)", mean([[doc_ids[i] for i in o] for o in order]))]
        for avg, label in ((100.0, "avg_len 100"), (chunk_avg, f"avg_len {chunk_avg:.1f} (real)")):
            sc = qdrant_scores(chunk_terms, queries, Bm25Encoder(s.bm25_k1, s.bm25_b, avg))
            for other in (s.keyword_other_chunks, 0.0):
                rows.append(
                    (
                        f"chunks, {label}, other chunks {other}",
                        mean([merged(r, chunk_doc, depth, s, other) for r in sc]),
                    )
                )
        for avg, label in ((100.0, "avg_len 100"), (doc_avg, f"avg_len {doc_avg:.1f} (real)")):
            sc = qdrant_scores(doc_terms, queries, Bm25Encoder(s.bm25_k1, s.bm25_b, avg))
            rows.append(
                (f"whole documents, Qdrant IDF, {label}", mean([merged(r, doc_ids, depth, s, 0.0) for r in sc]))
            )
        for label, v in rows:
            print(f"{name:10} {label:58} {v:8.4f}")
        print(f"{name:10} ({len(docs)} documents, {len(chunk_terms)} chunks, {len(queries)} queries)")


if __name__ == "__main__":
    main()
