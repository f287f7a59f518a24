"""Unit tests of ragstate.fusion: reciprocal rank fusion (by chunk and by document) and packing to a budget."""

from __future__ import annotations

import pytest

from ragstate.chunking import count_tokens
from ragstate.fusion import fuse_hits, pack_to_budget, reciprocal_rank_fusion
from ragstate.models import SearchHit
from ragstate.settings import FusionUnit, Settings


def test_rrf_exact_scores():
    fused = reciprocal_rank_fusion([(["a", "b", "c"], 1.0), (["b", "d"], 1.0)], k=60)
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61, abs=1e-15)
    assert scores["a"] == pytest.approx(1 / 61, abs=1e-15)
    assert scores["d"] == pytest.approx(1 / 62, abs=1e-15)
    assert scores["c"] == pytest.approx(1 / 63, abs=1e-15)
    assert [d for d, _ in fused] == ["b", "a", "d", "c"]


def test_rrf_weights():
    fused = reciprocal_rank_fusion([(["a", "b"], 1.0), (["b", "a"], 3.0)], k=60)
    assert dict(fused) == pytest.approx({"a": 1 / 61 + 3 / 62, "b": 1 / 62 + 3 / 61})
    assert [d for d, _ in fused] == ["b", "a"]
    # Weight zero: the list contributes nothing (its items still appear, with score 0).
    zero = dict(reciprocal_rank_fusion([(["a"], 1.0), (["z"], 0.0)], k=60))
    assert zero == {"a": pytest.approx(1 / 61), "z": 0.0}


def test_rrf_k_changes_scores():
    assert dict(reciprocal_rank_fusion([(["a", "b"], 1.0)], k=1)) == pytest.approx({"a": 1 / 2, "b": 1 / 3})


def test_rrf_dedupes_within_a_list():
    fused = dict(reciprocal_rank_fusion([(["a", "a", "b"], 1.0)], k=60))
    assert fused["a"] == pytest.approx(1 / 61)  # once, at its best rank
    assert fused["b"] == pytest.approx(1 / 63)  # ranks are list positions


def test_rrf_ties_keep_first_seen_order_and_empty_input():
    fused = reciprocal_rank_fusion([(["x", "y"], 1.0), (["y", "x"], 1.0)], k=60)
    assert [d for d, _ in fused] == ["x", "y"] and fused[0][1] == fused[1][1]
    assert reciprocal_rank_fusion([], k=60) == []
    assert reciprocal_rank_fusion([([], 1.0)], k=60) == []


@pytest.mark.parametrize("k", [0, -5])
def test_rrf_k_below_one_raises(k):
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion([(["a"], 1.0)], k=k)


def test_rrf_negative_weight_raises():
    with pytest.raises(ValueError, match="weight"):
        reciprocal_rank_fusion([(["a"], -1.0)], k=60)


def _hits(*chunk_ids: str) -> list[SearchHit]:
    """Hits whose document is the chunk id's letter: "a1", "a2" are chunks of document "a"."""
    return [SearchHit(chunk_id=c, doc_id=c[0], score=1.0 / (i + 1)) for i, c in enumerate(chunk_ids)]


def test_document_fusion_counts_a_document_once_per_branch():
    # Document "a" has three chunks at the top of the vector list; "b" and "c" one each.
    vector, keyword = _hits("a1", "a2", "a3", "b1"), _hits("b1", "c1", "a3")
    by_chunk = fuse_hits([(vector, 1.0), (keyword, 1.0)], k=60, unit=FusionUnit.chunk)
    assert [h.chunk_id for h in by_chunk] == ["b1", "a3", "a1", "a2", "c1"]
    assert by_chunk[0].score == pytest.approx(1 / 64 + 1 / 61)
    by_doc = fuse_hits([(vector, 1.0), (keyword, 1.0)], k=60, unit=FusionUnit.document)
    # Collapsed, the vector list is [a, b] (b moves up from 4 to 2) and the keyword list [b, c, a].
    assert [(h.doc_id, h.chunk_id) for h in by_doc] == [("b", "b1"), ("a", "a3"), ("c", "c1")]
    assert [h.score for h in by_doc] == pytest.approx([1 / 62 + 1 / 61, 1 / 61 + 1 / 63, 1 / 62])


def test_document_fusion_represents_a_document_by_its_best_fused_chunk():
    # a2 is second in one list but first in the other: its fused score beats a1's.
    fused = fuse_hits([(_hits("a1", "a2"), 1.0), (_hits("a2"), 1.0)], k=60)
    assert [(h.doc_id, h.chunk_id) for h in fused] == [("a", "a2")]
    assert fuse_hits([], k=60) == [] and fuse_hits([([], 1.0)], k=60) == []


def test_fusion_unit_names_the_choices():
    assert Settings(fusion_unit="chunk").fusion_unit is FusionUnit.chunk
    with pytest.raises(ValueError, match="choose one of \\['document', 'chunk'\\]"):
        FusionUnit("passage")


def test_pack_keeps_order_within_budget():
    texts = ["one two three", "four five", "six seven eight nine", "ten"]
    assert pack_to_budget(texts, budget_tokens=5, max_items=10) == ["one two three", "four five"]
    assert pack_to_budget(texts, budget_tokens=100, max_items=10) == texts
    assert pack_to_budget(texts, budget_tokens=100, max_items=2) == texts[:2]
    assert pack_to_budget(texts, budget_tokens=9, max_items=10) == texts[:3]
    assert pack_to_budget([], 10, 5) == []


def test_pack_result_is_a_prefix_so_it_zips_with_its_sources():
    """Callers pair packed texts with their sources by position, so a text that does not fit
    must end the packing rather than let a later, smaller one slide into its place."""
    texts = ["short one", " ".join(["big"] * 50), "tiny"]
    packed = pack_to_budget(texts, budget_tokens=20, max_items=10)
    assert packed == ["short one"]
    for got, original in zip(packed, texts):
        assert original.startswith(got)


def test_pack_cuts_an_oversized_first_item_to_the_budget():
    long_text = " ".join(f"word{i}" for i in range(100))
    packed = pack_to_budget([long_text, "next"], budget_tokens=10, max_items=5)
    assert len(packed) == 1
    assert long_text.startswith(packed[0])
    assert 0 < count_tokens(packed[0]) <= 10
    # Punctuation-dense text (URLs, code) must not blow the budget either.
    dense = "a.b.c.d.e.f.g.h.i.j " * 30
    cut = pack_to_budget([dense], budget_tokens=10, max_items=5)[0]
    assert 0 < count_tokens(cut) <= 10 and dense.startswith(cut)
