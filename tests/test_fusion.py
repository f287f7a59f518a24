"""Unit tests of ragstate.retrieval.fusion: reciprocal rank and score-normalised fusion (by chunk and by
document) and packing to a budget."""

from __future__ import annotations

import pytest

from ragstate.ingest.chunking import count_tokens
from ragstate.models import SearchHit
from ragstate.retrieval.fusion import (
    document_evidence,
    fuse_hits,
    normalised_score_fusion,
    pack_to_budget,
    reciprocal_rank_fusion,
)
from ragstate.settings import FusionMethod, FusionUnit, Settings


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


def test_minmax_fusion_adds_scores_scaled_to_each_list():
    dense = [("a", 0.80), ("b", 0.70), ("c", 0.40)]  # cosines: a, b close; c far behind
    bm25 = [("c", 30.0), ("a", 10.0), ("d", 5.0)]
    fused = dict(normalised_score_fusion([(dense, 1.0), (bm25, 0.5)], FusionMethod.minmax))
    assert fused == pytest.approx({"a": 1.0 + 0.5 * 5 / 25, "b": 0.75, "c": 0.0 + 0.5, "d": 0.0})
    # The rank alone cannot see that b is nearly as close as a; the scores can.
    assert [i for i, _ in normalised_score_fusion([(dense, 1.0), (bm25, 0.5)])] == ["a", "b", "c", "d"]


def test_max_fusion_scores_each_candidate_as_a_share_of_its_lists_best():
    dense = [("a", 0.80), ("b", 0.70), ("c", 0.40), ("e", -0.1)]
    bm25 = [("c", 30.0), ("a", 10.0), ("d", 5.0)]
    fused = dict(normalised_score_fusion([(dense, 1.0), (bm25, 0.5)], FusionMethod.max))
    # c is half as close as a in cosine, so it keeps 0.5 of the dense weight (min-max: 0); a
    # score below 0 counts 0, never less.
    assert fused == pytest.approx({"a": 1.0 + 0.5 / 3, "b": 0.875, "c": 0.5 + 0.5, "d": 0.5 / 6, "e": 0.0})
    assert [i for i, _ in normalised_score_fusion([(dense, 1.0), (bm25, 0.5)], FusionMethod.max)][:2] == ["a", "c"]
    assert Settings(fusion_method="max").fusion_method is FusionMethod.max


def test_document_evidence_adds_a_share_of_a_documents_other_chunks():
    hits = [("a", 3.0), ("b", 2.5), ("a", 1.0), ("a", 0.6)]
    assert document_evidence(hits) == [("a", 3.0), ("b", 2.5)]  # the best chunk alone
    assert [d for d, _ in document_evidence(hits, 0.25)] == ["a", "b"]
    assert [v for _, v in document_evidence(hits, 0.25)] == pytest.approx([3.4, 2.5])
    assert document_evidence([("b", 1.0), ("a", 1.0)], 0.5) == [("b", 1.0), ("a", 1.0)]  # ties keep first seen


def test_whole_document_evidence_lifts_a_document_matching_in_several_chunks():
    vector = [SearchHit(chunk_id=c, doc_id=c[0], score=s) for c, s in (("b1", 0.60), ("a1", 0.58))]
    # Keyword: b's one chunk matches best; a matches nearly as well in three chunks.
    keyword = [
        SearchHit(chunk_id=c, doc_id=c[0], score=s) for c, s in (("b1", 10.0), ("a1", 9.0), ("a2", 8.0), ("a3", 8.0))
    ]
    best_chunk = fuse_hits([(vector, 1.0), (keyword, 1.0)], method=FusionMethod.max)
    assert [h.doc_id for h in best_chunk] == ["b", "a"]
    whole = fuse_hits([(vector, 1.0), (keyword, 1.0)], method=FusionMethod.max, other_chunks=[0.0, 0.25])
    assert [(h.doc_id, h.chunk_id) for h in whole] == [("a", "a1"), ("b", "b1")]
    # a: 0.58/0.6 + 0.5 * 0.9 + 0.5 * 1 (13 of 13);  b: 1 + 0.5 * 1 + 0.5 * 10/13
    assert [h.score for h in whole] == pytest.approx([0.58 / 0.6 + 0.45 + 0.5, 1.5 + 5 / 13])
    # Chunk-unit fusion has no documents to add up: the shares change nothing there.
    chunks = fuse_hits([(vector, 1.0), (keyword, 1.0)], unit=FusionUnit.chunk, method=FusionMethod.max)
    assert (
        fuse_hits(
            [(vector, 1.0), (keyword, 1.0)], unit=FusionUnit.chunk, method=FusionMethod.max, other_chunks=[0.0, 0.25]
        )
        == chunks
    )


def test_zscore_fusion_measures_each_score_above_its_lists_worst_in_standard_deviations():
    flat = [("a", 0.51), ("b", 0.50), ("c", 0.49)]
    peaked = [("c", 9.0), ("a", 1.0), ("b", 1.0)]
    fused = dict(normalised_score_fusion([(flat, 1.0), (peaked, 1.0)], FusionMethod.zscore))
    sd_flat = (2 * 0.01**2 / 3) ** 0.5
    sd_peaked = (((9 - 11 / 3) ** 2 + 2 * (1 - 11 / 3) ** 2) / 3) ** 0.5
    assert fused == pytest.approx({"a": 0.02 / sd_flat, "b": 0.01 / sd_flat, "c": 8.0 / sd_peaked})
    # a leads the flat list by 2.4 of its standard deviations; c the peaked one by 2.1 of its own.
    assert max(fused, key=fused.get) == "a"


def test_normalised_fusion_edge_cases():
    # A repeated id counts once with its best score; a one-item or all-equal list counts fully.
    assert dict(normalised_score_fusion([([("a", 0.2), ("a", 0.9), ("b", 0.5)], 1.0)])) == pytest.approx(
        {"a": 1.0, "b": 0.0}
    )
    assert normalised_score_fusion([([("a", 3.0)], 2.0), ([], 1.0)]) == [("a", 2.0)]
    assert dict(normalised_score_fusion([([("a", 1.0), ("b", 1.0)], 1.0)], FusionMethod.zscore)) == {"a": 1.0, "b": 1.0}
    with pytest.raises(ValueError, match="weight"):
        normalised_score_fusion([([("a", 1.0)], -1.0)])
    with pytest.raises(ValueError, match="rrf"):
        normalised_score_fusion([], FusionMethod.rrf)


def test_document_fusion_by_scores_takes_each_documents_best_chunk():
    vector = [SearchHit(chunk_id=c, doc_id=c[0], score=s) for c, s in (("a1", 0.9), ("b1", 0.6), ("a2", 0.5))]
    keyword = [SearchHit(chunk_id=c, doc_id=c[0], score=s) for c, s in (("b1", 8.0), ("a2", 4.0))]
    fused = fuse_hits([(vector, 1.0), (keyword, 1.0)], unit=FusionUnit.document, method=FusionMethod.minmax)
    # Documents: vector a 0.9 -> 1, b 0.6 -> 0; keyword b 8 -> 1, a 4 -> 0. A tie, first seen first.
    assert [(h.doc_id, h.score) for h in fused] == [("a", 1.0), ("b", 1.0)]
    assert fused[0].chunk_id == "a1"  # a's best chunk by the chunk-level fusion (1 + 0 vs 0 + 0)
    assert Settings(fusion_method="zscore").fusion_method is FusionMethod.zscore


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
