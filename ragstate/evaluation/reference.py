"""The anchor runs `ragstate eval --reference` prints next to the engine's: plain retrieval over
whole documents, outside the engine, so a change to the engine is measured against something
it cannot move.

- ``bm25_exact_reference``: rank-bm25 (BM25Okapi) over whole documents with the same analyzer
  (Snowball stemming and stop words).
- ``dense_document_reference``: the packaged all-MiniLM-L6-v2, whole question against whole
  document (the model reads a document's first 256 word pieces).
- ``anchor_reference``: their reciprocal rank fusion, k 60, over each one's top 100.

Needs the dev extra (rank-bm25) and the embeddings extra.

Example::

    runs = reference_runs(BeirDataset.load(Path("../shared/datasets/med")))
    runs["anchor_reference"]["1"]  # {"ndcg@10": ..., "recall@100": ..., "mrr@10": ...}
"""

from __future__ import annotations

import json

from ragstate.evaluation.beir import BeirDataset, scores
from ragstate.retrieval.fusion import reciprocal_rank_fusion

REFERENCE_RUNS = ("bm25_exact_reference", "dense_document_reference", "anchor_reference")
DEPTH = 100
ANCHOR_RRF_K = 60


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
    import numpy as np

    order = np.argsort(-np.asarray(values), kind="stable")[:DEPTH]
    return [ids[i] for i in order]


def reference_runs(
    dataset: BeirDataset, k1: float = 1.2, b: float = 0.75, device: str = "cpu"
) -> dict[str, dict[str, dict[str, float]]]:
    """Run name -> query id -> metrics, for the three anchor runs."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    from ragstate.retrieval.analyzer import analyze
    from ragstate.retrieval.embedding import get_embedder

    ids, texts = _documents(dataset)
    bm25 = BM25Okapi([analyze(t) for t in texts], k1=k1, b=b)
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
