"""Pseudo-relevance feedback (ragstate.retrieval.feedback): RM3 for the keyword branch, Rocchio
for the vector branch."""

from __future__ import annotations

import math

import pytest

from ragstate.retrieval.feedback import rm3_query, rocchio


def test_rm3_mixes_question_and_relevance_model():
    # Chunk shares 3/4 and 1/4; model: 1 -> .375, 2 -> .5, 3 -> .125; the best two kept.
    q = rm3_query({1: 1.0}, [({1: 2, 2: 2}, 4, 3.0), ({2: 1, 3: 1}, 2, 1.0)], terms=2, weight=0.5)
    assert q == pytest.approx({1: 0.5 + 0.5 * 0.375 / 0.875, 2: 0.5 * 0.5 / 0.875})
    assert sum(q.values()) == pytest.approx(1.0)


def test_rm3_question_terms_as_shares_of_their_counts():
    q = rm3_query({1: 2.0, 2: 2.0}, [({3: 1}, 1, 1.0)], terms=5, weight=0.2)
    assert q == pytest.approx({1: 0.4, 2: 0.4, 3: 0.2})


def test_rm3_without_usable_feedback_returns_the_question():
    query = {1: 2.0, 5: 1.0}
    assert rm3_query(query, [], 10, 0.5) == query
    assert rm3_query(query, [({1: 1}, 0, 1.0), ({2: 1}, 3, 0.0)], 10, 0.5) == query
    assert rm3_query(query, [({2: 1}, 1, 1.0)], 10, 0.0) == query
    assert rm3_query(query, [({2: 1}, 1, 1.0)], 0, 0.5) == query


def test_rm3_ties_break_by_term_id_and_weight_is_checked():
    q = rm3_query({9: 1.0}, [({4: 1, 3: 1}, 2, 1.0)], terms=1, weight=1.0)
    assert q == {9: 0.0, 3: 1.0}
    with pytest.raises(ValueError):
        rm3_query({1: 1.0}, [], 3, 1.5)


def test_rocchio_moves_toward_the_feedback_mean_unit_length():
    v = rocchio([1.0, 0.0, 0.0], [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], weight=2.0)
    assert v == pytest.approx([1 / math.sqrt(3)] * 3)
    assert rocchio([3.0, 4.0], [], 1.0) == pytest.approx([0.6, 0.8])
    assert rocchio([3.0, 4.0], [[1.0, 0.0]], 0.0) == pytest.approx([0.6, 0.8])
    with pytest.raises(ValueError):
        rocchio([1.0], [[1.0]], -1.0)
