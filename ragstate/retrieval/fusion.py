"""Fusion of the retrieval branches (reciprocal rank or score-normalised) and context packing.

Example::

    >>> fused = reciprocal_rank_fusion([(["a", "b"], 1.0), (["b", "c"], 1.0)], k=60)
    >>> [doc for doc, _ in fused]
    ['b', 'a', 'c']
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

from ragstate.ingest.chunking import _TOKEN, count_tokens
from ragstate.models import SearchHit
from ragstate.settings import FusionMethod, FusionUnit

T = TypeVar("T", bound=Hashable)


def reciprocal_rank_fusion(rankings: Iterable[tuple[Sequence[T], float]], k: int = 60) -> list[tuple[T, float]]:
    """Fuse ranked lists: score(d) = sum_i weight_i / (k + rank_i(d)), ranks from 1.

    An id repeated within one list counts once, at its best rank; ties keep first-seen order.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    scores: dict[T, float] = {}
    for ids, weight in rankings:
        if weight < 0:
            raise ValueError("fusion weights must be >= 0")
        seen: set[T] = set()
        for rank, item in enumerate(ids, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def normalised_score_fusion(
    rankings: Iterable[tuple[Sequence[tuple[T, float]], float]], method: FusionMethod = FusionMethod.minmax
) -> list[tuple[T, float]]:
    """CombSUM of each list's scores after normalising them within that list, best first.

    ``max`` divides each score by the list's best (a score at or below 0 counts 0), so a
    candidate close to the best stays close to 1 however far the worst candidate lies;
    ``minmax`` maps a list's scores to [0, 1] (its worst candidate 0, its best 1); ``zscore``
    measures each score above the list's worst in standard deviations, so a branch whose best
    hits stand far above the rest of its candidates (a confident branch) weighs more for that
    query. An item a list does not hold gets 0 from it: as low as (or, for ``max``, below) that
    list's worst candidate.
    Raw scores are not comparable across branches (cosine vs BM25), their spread within one
    list is. An id repeated within one list counts once, with its best score.

    Example::

        >>> normalised_score_fusion([([("a", 0.9), ("b", 0.7), ("c", 0.5)], 1.0), ([("b", 12.0), ("d", 2.0)], 1.0)])
        [('b', 1.5), ('a', 1.0), ('c', 0.0), ('d', 0.0)]
    """
    if method is FusionMethod.rrf:
        raise ValueError("normalised_score_fusion takes max, minmax or zscore; rrf is reciprocal_rank_fusion")
    totals: dict[T, float] = {}
    for items, weight in rankings:
        if weight < 0:
            raise ValueError("fusion weights must be >= 0")
        best: dict[T, float] = {}
        for item, score in items:
            best[item] = max(float(score), best.get(item, -math.inf))
        if not best:
            continue
        values = list(best.values())
        if method is FusionMethod.max:
            top = max(values)
            for item, score in best.items():
                totals[item] = totals.get(item, 0.0) + weight * (max(score, 0.0) / top if top > 0 else 1.0)
            continue
        lo = min(values)
        if method is FusionMethod.minmax:
            spread = max(values) - lo
        else:
            mean = sum(values) / len(values)
            spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        for item, score in best.items():
            # One candidate, or all equal: each counts fully (nothing to tell them apart by).
            totals[item] = totals.get(item, 0.0) + weight * ((score - lo) / spread if spread > 0 else 1.0)
    return sorted(totals.items(), key=lambda kv: -kv[1])


def fuse(
    rankings: Sequence[tuple[Sequence[tuple[T, float]], float]], method: FusionMethod, k: int = 60
) -> list[tuple[T, float]]:
    """Fuse (``[(id, score), ...]`` best first, weight) lists by ``method``."""
    if method is FusionMethod.rrf:
        return reciprocal_rank_fusion((([i for i, _ in items], w) for items, w in rankings), k=k)
    return normalised_score_fusion(rankings, method)


def fuse_hits(
    branches: Iterable[tuple[Sequence[SearchHit], float]],
    k: int = 60,
    unit: FusionUnit = FusionUnit.document,
    method: FusionMethod = FusionMethod.rrf,
    other_chunks: Sequence[float] = (),
) -> list[SearchHit]:
    """Fuse the branches' (hits, weight) lists by ``method``, best first.

    With ``unit=document`` each branch's chunk hits collapse to their documents first (a
    document ranks, and scores, as its best chunk), so a document split into many chunks counts
    once per branch instead of crowding out the others; each document is then represented by
    its chunk with the best chunk-level fused score. With ``unit=chunk`` chunks are fused.

    ``other_chunks[i]`` (document unit; 0 when absent) gives branch i whole-document evidence:
    half its weight ranks documents by their best chunk, the other half by
    :func:`document_evidence` (the best chunk plus that share of the document's other chunks).

    Example::

        >>> a1, a2 = SearchHit(chunk_id="a1", doc_id="a", score=0.9), SearchHit(chunk_id="a2", doc_id="a", score=0.7)
        >>> b1 = SearchHit(chunk_id="b1", doc_id="b", score=0.8)
        >>> [(h.doc_id, h.chunk_id) for h in fuse_hits([([a1, a2, b1], 1.0), ([a2], 1.0)])]
        [('a', 'a2'), ('b', 'b1')]
        >>> [h.chunk_id for h in fuse_hits([([a1, a2, b1], 1.0), ([a2], 1.0)], unit=FusionUnit.chunk)]
        ['a2', 'a1', 'b1']
    """
    branches = [(list(hits), weight) for hits, weight in branches]
    doc_of = {h.chunk_id: h.doc_id for hits, _ in branches for h in hits}
    chunks = fuse([([(h.chunk_id, h.score) for h in hits], w) for hits, w in branches], method, k)
    if unit is FusionUnit.chunk:
        return [SearchHit(chunk_id=c, doc_id=doc_of[c], score=score) for c, score in chunks]
    best_chunk: dict[str, str] = {}
    for chunk_id, _ in chunks:  # best first: the first chunk seen per document wins
        best_chunk.setdefault(doc_of[chunk_id], chunk_id)
    # A document keeps its best chunk's place (rrf) or score (normalised); the ranks behind close up.
    shares = list(other_chunks) + [0.0] * (len(branches) - len(other_chunks))
    lists: list[tuple[Sequence[tuple[str, float]], float]] = []
    for (hits, w), share in zip(branches, shares):
        per_doc = [(h.doc_id, h.score) for h in hits]
        if share > 0:
            lists += [(document_evidence(per_doc, 0.0), w / 2), (document_evidence(per_doc, share), w / 2)]
        else:
            lists.append((document_evidence(per_doc, 0.0), w))
    docs = fuse(lists, method, k)
    return [SearchHit(chunk_id=best_chunk[doc], doc_id=doc, score=score) for doc, score in docs]


def document_evidence(hits: Iterable[tuple[T, float]], other_chunks: float = 0.0) -> list[tuple[T, float]]:
    """(document, score) best first from (document, chunk score) pairs of one branch: a
    document's best chunk score plus ``other_chunks`` times the sum of its other chunks' scores
    (0: the best chunk alone). Ties keep the order of each document's first hit.

    Example::

        >>> document_evidence([("a", 3.0), ("b", 2.5), ("a", 1.0)], other_chunks=0.25)
        [('a', 3.25), ('b', 2.5)]
    """
    chunks: dict[T, list[float]] = {}
    for doc, score in hits:
        chunks.setdefault(doc, []).append(float(score))
    scored = {}
    for doc, scores in chunks.items():
        scores.sort(reverse=True)
        scored[doc] = scores[0] + other_chunks * sum(scores[1:]) if other_chunks else scores[0]
    return sorted(scored.items(), key=lambda kv: -kv[1])


def pack_to_budget(texts: Sequence[str], budget_tokens: int, max_items: int) -> list[str]:
    """Take texts in order until ``budget_tokens`` is spent; the first one is always kept
    (cut to the budget if it alone is larger). Packing stops at the first text that does not
    fit, so the result is a prefix of ``texts``: item i of the result is (a cut of) ``texts[i]``,
    and callers may zip it with the metadata of their texts."""
    packed: list[str] = []
    used = 0
    for text in texts:
        if len(packed) >= max_items:
            break
        n = count_tokens(text)
        if used + n <= budget_tokens:
            packed.append(text)
            used += n
        elif not packed:
            packed.append(_cut(text, budget_tokens))
            break
        else:
            break
    return packed


def _cut(text: str, budget_tokens: int) -> str:
    """The longest prefix of ``text`` with at most ``budget_tokens`` tokens (at least one)."""
    end = None
    for i, m in enumerate(_TOKEN.finditer(text)):
        if i >= max(1, budget_tokens):
            break
        end = m.end()
    return text[:end].strip() if end is not None else text.strip()
