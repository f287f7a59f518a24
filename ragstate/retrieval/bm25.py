"""BM25 as sparse vectors, so that the store (Qdrant, IDF modifier) computes the ranking.

A document's value for a term is BM25's saturated term frequency
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))``; the query's value is how often
the term occurs in the query; Qdrant multiplies in the inverse document frequency from its
own live statistics, so any number of stateless workers share one index.

``avg_len`` is a setting rather than a corpus statistic: a document's vector must not change
when other documents arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragstate.retrieval.analyzer import analyze, term_counts


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]

    def __len__(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Bm25Encoder:
    k1: float = 1.2
    b: float = 0.75
    avg_len: float = 100.0

    def encode_document(self, text: str) -> SparseVec:
        return self.encode_analyzed(analyze(text))

    def encode_analyzed(self, terms: list[str]) -> SparseVec:
        """A document's vector from its analysed terms."""
        norm = self.k1 * (1.0 - self.b + self.b * len(terms) / self.avg_len)
        counts = term_counts(terms)
        indices = sorted(counts)
        values = [counts[i] * (self.k1 + 1.0) / (counts[i] + norm) for i in indices]
        return SparseVec(indices, values)

    def encode_terms(self, terms: list[str], context: list[str] | None = None, weight: float = 0.0) -> SparseVec:
        """The query's vector: each term's count, plus ``weight`` times each ``context`` term's
        count (a follow-up's terms from earlier turns)."""
        counts: dict[int, float] = {i: float(c) for i, c in term_counts(terms).items()}
        if context and weight > 0:
            for i, c in term_counts(context).items():
                counts[i] = counts.get(i, 0.0) + weight * c
        indices = sorted(counts)
        return SparseVec(indices, [counts[i] for i in indices])

    def encode_query(self, text: str) -> SparseVec:
        return self.encode_terms(analyze(text))
