"""Pseudo-relevance feedback: a query moved toward its own first results.

- :func:`rm3_query`: RM3 for the keyword branch. The feedback chunks' terms, each chunk
  weighted by its share of the feedback scores and each term by its share of the chunk
  (``tf / length``), give a relevance model; its ``terms`` most likely terms, renormalised,
  are mixed into the question's own term distribution at ``weight``.
- :func:`rocchio`: its dense counterpart, the question's vector plus ``weight`` times the mean
  of the feedback chunks' vectors, unit length.

Both are pure: the search activities (activities/qdrant.py) run a first search, read the
feedback chunks, and search again with what these return.

Example::

    >>> q = rm3_query({1: 1.0}, [({1: 2, 2: 2}, 4, 3.0), ({2: 1, 3: 1}, 2, 1.0)], terms=2, weight=0.5)
    >>> sorted((t, round(w, 3)) for t, w in q.items())
    [(1, 0.714), (2, 0.286)]
    >>> [round(x, 3) for x in rocchio([1.0, 0.0], [[0.0, 1.0]], weight=1.0)]
    [0.707, 0.707]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def rm3_query(
    query: Mapping[int, float],
    feedback: Sequence[tuple[Mapping[int, float], int, float]],
    terms: int,
    weight: float,
) -> dict[int, float]:
    """The expanded query: ``(1 - weight)`` times the question's terms (as shares of its
    counts) plus ``weight`` times the relevance model's ``terms`` best terms (as shares).

    ``feedback``: one (term counts, analysed length, score) per feedback chunk, best first;
    a chunk of length 0 or score <= 0 contributes nothing. Without usable feedback, or with
    ``weight`` 0 or ``terms`` 0, the question's own counts come back unchanged.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError("weight must be within [0, 1]")
    usable = [(tf, n, s) for tf, n, s in feedback if n > 0 and s > 0]
    total_q = sum(query.values())
    if not usable or weight == 0 or terms <= 0 or total_q <= 0:
        return dict(query)
    total_s = sum(s for _, _, s in usable)
    model: dict[int, float] = {}
    for tf, n, s in usable:
        share = s / total_s
        for t, c in tf.items():
            model[t] = model.get(t, 0.0) + share * c / n
    best = sorted(model.items(), key=lambda kv: (-kv[1], kv[0]))[:terms]
    mass = sum(w for _, w in best)
    out = {t: (1.0 - weight) * c / total_q for t, c in query.items()}
    for t, w in best:
        out[t] = out.get(t, 0.0) + weight * w / mass
    return out


def rocchio(vector: Sequence[float], feedback: Sequence[Sequence[float]], weight: float) -> list[float]:
    """``vector + weight * mean(feedback)``, unit length (the vector itself, unit length, when
    there is no feedback)."""
    if weight < 0:
        raise ValueError("weight must be >= 0")
    out = [float(x) for x in vector]
    if len(feedback) and weight > 0:
        k = weight / len(feedback)
        for fb in feedback:
            for i, x in enumerate(fb):
                out[i] += k * float(x)
    norm = math.sqrt(sum(x * x for x in out))
    return [x / norm for x in out] if norm > 0 else out
