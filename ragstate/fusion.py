"""Reciprocal rank fusion and context packing.

Example::

    >>> fused = reciprocal_rank_fusion([(["a", "b"], 1.0), (["b", "c"], 1.0)], k=60)
    >>> [doc for doc, _ in fused]
    ['b', 'a', 'c']
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

from ragstate.chunking import _TOKEN, count_tokens
from ragstate.models import SearchHit
from ragstate.settings import FusionUnit

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


def fuse_hits(
    branches: Iterable[tuple[Sequence[SearchHit], float]],
    k: int = 60,
    unit: FusionUnit = FusionUnit.document,
) -> list[SearchHit]:
    """RRF over the branches' (hits, weight) lists, best first.

    With ``unit=document`` each branch's chunk hits collapse to their documents first (a
    document ranks where its best chunk ranks), so a document split into many chunks counts
    once per branch instead of crowding out the others; each document is then represented by
    its chunk with the best chunk-level fused score. With ``unit=chunk`` chunks are fused.

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
    chunks = reciprocal_rank_fusion((([h.chunk_id for h in hits], w) for hits, w in branches), k=k)
    if unit is FusionUnit.chunk:
        return [SearchHit(chunk_id=c, doc_id=doc_of[c], score=score) for c, score in chunks]
    best_chunk: dict[str, str] = {}
    for chunk_id, _ in chunks:  # best first: the first chunk seen per document wins
        best_chunk.setdefault(doc_of[chunk_id], chunk_id)
    # dict.fromkeys keeps each document at its best place; the ranks behind it close up.
    docs = reciprocal_rank_fusion(((list(dict.fromkeys(h.doc_id for h in hits)), w) for hits, w in branches), k=k)
    return [SearchHit(chunk_id=best_chunk[doc], doc_id=doc, score=score) for doc, score in docs]


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
