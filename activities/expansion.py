"""Pseudo-relevance feedback inside the search activities: a second search with the query moved
toward the first search's best chunks (``ragstate.retrieval.feedback`` holds the pure math).

Off by default (``RAGSTATE_PRF_KEYWORD_CHUNKS``, ``RAGSTATE_PRF_VECTOR_CHUNKS``): measured
leave-one-collection-out it gained less than no feedback (docs/performance.md, "Pseudo-relevance
feedback"). The feedback chunks are the first search's hits, which the caller's filter (tenant,
access groups, document) already limited, so an expansion never borrows terms or vectors from
a chunk the caller may not see.

Example (what KeywordSearch does with ``prf_keyword_chunks`` 10)::

    hits = store.search_sparse(vec, depth, flt)
    hits = store.search_sparse(expand_keyword(store, vec, hits, settings), depth, flt)
"""

from __future__ import annotations

from collections.abc import Sequence

from ragstate.models import SearchHit
from ragstate.retrieval.analyzer import analyze, term_counts
from ragstate.retrieval.bm25 import SparseVec
from ragstate.retrieval.feedback import rm3_query, rocchio
from ragstate.settings import Settings
from ragstate.store import ChunkStore


def expand_keyword(store: ChunkStore, query: SparseVec, hits: Sequence[SearchHit], s: Settings) -> SparseVec:
    """RM3: the question's terms mixed with the likeliest terms of its first chunks."""
    first = list(hits[: s.prf_keyword_chunks])
    texts = store.get([h.chunk_id for h in first])
    feedback = []
    for h in first:
        if (chunk := texts.get(h.chunk_id)) is not None:
            terms = analyze(chunk.indexed_text())
            feedback.append((term_counts(terms), len(terms), h.score))
    weights = rm3_query(dict(zip(query.indices, query.values)), feedback, s.prf_keyword_terms, s.prf_keyword_weight)
    indices = sorted(weights)
    return SparseVec(indices, [weights[i] for i in indices])


def expand_vector(store: ChunkStore, vector: list[float], hits: Sequence[SearchHit], s: Settings) -> list[float]:
    """Rocchio: the question's vector plus a share of its first chunks' mean vector."""
    first = [h.chunk_id for h in hits[: s.prf_vector_chunks]]
    stored = store.dense_vectors(first)
    return rocchio(vector, [stored[c] for c in first if c in stored], s.prf_vector_weight)
