"""Ranking metrics as trec_eval computes them (nDCG@10 with linear gains, Recall@100, MRR@10),
pure functions of a ranked list of document ids and graded judgements: the evaluation and the
re-index gate (inside a workflow) share them.

Example::

    ndcg_at(["d3", "d1"], {"d1": 2, "d7": 1})   # 0.48
"""

from __future__ import annotations

import math

from ragstate.models import SearchHit

__all__ = ["document_ranking", "mrr_at", "ndcg_at", "recall_at", "scores", "trec_ranking"]


def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """nDCG with linear graded gains (as trec_eval's ndcg_cut)."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in rels.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def trec_ranking(run: dict[str, float]) -> list[str]:
    """The documents of one query's run (id -> score) in trec_eval's order: score descending,
    ties by document id descending (string order, as its ``strcmp``). trec_eval ignores a run's
    rank column, so tied documents count in this order, not in the order they were written.

    Example::

        trec_ranking({"d1": 0.5, "d2": 0.5, "d3": 0.9})   # ["d3", "d2", "d1"]
    """
    return sorted(run, key=lambda d: (run[d], d), reverse=True)


def document_ranking(hits: list[SearchHit]) -> list[str]:
    """Documents in the order of their best chunk."""
    seen: dict[str, None] = {}
    for h in hits:
        seen.setdefault(h.doc_id, None)
    return list(seen)


def scores(ranked: list[str], rels: dict[str, int]) -> dict[str, float]:
    return {"ndcg@10": ndcg_at(ranked, rels), "recall@100": recall_at(ranked, rels), "mrr@10": mrr_at(ranked, rels)}
