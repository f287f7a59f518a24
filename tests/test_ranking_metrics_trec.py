"""The ranking metrics against trec_eval itself (pytrec_eval, dev extra), per query, on a
committed run: tests/data/trec/ (see its README) holds the anchor's BM25 top 150 for 14 NPL
queries with scores at 4 decimals, so tied scores are common (one tie spans rank 10), most
retrieved documents are unjudged, and the qrels add judged non-relevant documents and
grade-2 judgements."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragstate.evaluation.ranking_metrics import mrr_at, ndcg_at, recall_at, scores, trec_ranking

DATA = Path(__file__).parent / "data" / "trec"


def read_run(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, _rank, score, _tag = line.split()
        run.setdefault(qid, {})[doc] = float(score)
    return run


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, rel = line.split()
        qrels.setdefault(qid, {})[doc] = int(rel)
    return qrels


RUN, QRELS = read_run(DATA / "npl.run"), read_qrels(DATA / "npl.qrels")


def trec_eval() -> dict[str, dict[str, float]]:
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is in the dev extra")
    return pytrec_eval.RelevanceEvaluator(QRELS, {"ndcg_cut.10", "recall.100", "recip_rank"}).evaluate(RUN)


def test_the_committed_run_exercises_ties_unjudged_and_graded_documents():
    ranked = {q: trec_ranking(run) for q, run in RUN.items()}
    written = {q: list(run) for q, run in RUN.items()}  # the order the file lists them in
    assert any(ranked[q] != written[q] for q in RUN), "tied scores must be written out of trec_eval's order"
    assert any(RUN[q][ranked[q][9]] == RUN[q][ranked[q][10]] for q in RUN), "a tie across rank 10"
    assert all(any(d not in QRELS[q] for d in run) for q, run in RUN.items()), "unjudged documents"
    assert any(g == 0 for rels in QRELS.values() for g in rels.values()), "judged non-relevant documents"
    assert any(g == 2 for rels in QRELS.values() for g in rels.values()), "graded judgements"
    # The order of tied documents changes some query's figures: the tie rule is under test.
    assert any(scores(ranked[q], QRELS[q]) != scores(written[q], QRELS[q]) for q in RUN)


def test_metrics_equal_trec_eval_per_query():
    expected = trec_eval()
    assert set(expected) == set(RUN)
    for q, run in RUN.items():
        ranked = trec_ranking(run)
        got = expected[q]
        assert ndcg_at(ranked, QRELS[q], 10) == pytest.approx(got["ndcg_cut_10"], abs=1e-12), q
        assert recall_at(ranked, QRELS[q], 100) == pytest.approx(got["recall_100"], abs=1e-12), q
        # trec_eval's recip_rank has no cut-off: MRR@10 is it where the first relevant document
        # is within the top 10 (reciprocal rank at least 1/10), else 0.
        rr = got["recip_rank"]
        assert mrr_at(ranked, QRELS[q], 10) == pytest.approx(rr if rr >= 0.1 - 1e-12 else 0.0, abs=1e-12), q


def test_figures_cover_the_range():
    """Guards the data against degenerate figures (all 0 or all 1) that would compare trivially."""
    expected = trec_eval()
    ndcg = [m["ndcg_cut_10"] for m in expected.values()]
    assert min(ndcg) == 0.0 and any(0 < v < 1 for v in ndcg)
    assert any(0 < m["recip_rank"] < 0.1 for m in expected.values())  # first relevant below rank 10
