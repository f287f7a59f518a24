"""Retrieval evaluation: the metrics, BEIR-layout loading, and `evaluate` through the real workflows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.evaluation import BeirDataset, evaluate, mrr_at, ndcg_at, recall_at
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers

DOCS = {
    "penguins": (
        "Penguins",
        "Penguins are flightless seabirds. They live in the southern hemisphere, "
        "mostly in Antarctica, and swim with their wings instead of flying.",
    ),
    "colonies": (
        "Penguin colonies",
        "Emperor penguins breed in large colonies on the Antarctic sea ice "
        "and keep their eggs warm on their feet through the winter.",
    ),
    "volcanoes": (
        "Volcanoes",
        "A volcano erupts when magma rises through the crust and the pressure of "
        "its gases breaks the rock above; lava, ash and gas pour out.",
    ),
    "sourdough": (
        "Sourdough",
        "Sourdough bread rises with a starter of wild yeast and lactic acid bacteria "
        "instead of baker's yeast, which gives it a sour taste.",
    ),
    "chess": (
        "Chess openings",
        "The Sicilian Defence answers the king's pawn opening with the c-pawn and "
        "leads to sharp, unbalanced positions.",
    ),
}


def write_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as f:
        for doc_id, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = {
        "q-penguins": "Where do penguins live? Can they fly?",
        "q-volcano": "How does a volcano erupt?",
        "q-unjudged": "What is the best chess opening?",
    }  # no qrels: not evaluated
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq-penguins\tpenguins\t2\nq-penguins\tcolonies\t1\nq-volcano\tvolcanoes\t1\n"
    )
    return root


def test_metrics_count_graded_relevance():
    rels = {"a": 1, "c": 2}
    # DCG = 1/log2(2) + 2/log2(4); the ideal order puts the grade-2 document first.
    assert ndcg_at(["a", "b", "c"], rels) == pytest.approx((1 + 2 / 2) / (2 + 1 / math.log2(3)))
    assert ndcg_at(["c", "a"], rels) == pytest.approx(1.0)
    assert ndcg_at(["b"], rels) == 0.0 and ndcg_at(["a"], {}) == 0.0
    assert recall_at(["c", "x"], rels) == 0.5 and recall_at(["x"] * 100 + ["a"], rels) == 0.0  # only the top 100
    assert mrr_at(["x", "c"], rels) == 0.5 and mrr_at(["x"] * 10 + ["a"], rels) == 0.0  # only the top 10


def test_beir_loading_keeps_judged_queries_and_names_what_is_missing(tmp_path):
    dataset = BeirDataset.load(write_beir(tmp_path / "set"))
    assert set(dataset.queries) == {"q-penguins", "q-volcano"}
    assert dataset.qrels["q-penguins"] == {"penguins": 2, "colonies": 1}
    (tmp_path / "set" / "queries.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing queries\.jsonl"):
        BeirDataset.load(tmp_path / "set")


async def test_evaluate_runs_every_judged_query_through_the_workflows(client: Client, settings: Settings, tmp_path):
    dataset = BeirDataset.load(write_beir(tmp_path / "set"))
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        report = await evaluate(rag, dataset, "eval-tiny")
        shallow = await evaluate(rag, dataset, "eval-tiny-shallow", depth=1)
    assert (report.documents, report.chunks, report.failures) == (5, 5, {})
    assert set(report.per_query) == {"q-penguins", "q-volcano"}
    for run in ("keyword", "vector", "hybrid"):
        assert report.per_query["q-volcano"][run] == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
        assert report.per_query["q-penguins"][run]["recall@100"] == 1.0
    # Both penguin documents outrank the rest, the grade-2 one first.
    assert report.per_query["q-penguins"]["hybrid"]["ndcg@10"] == pytest.approx(1.0)
    assert report.summary()["hybrid"] == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    # One candidate per branch: each branch finds one of the two penguin documents at most.
    assert all(shallow.per_query["q-penguins"][run]["recall@100"] <= 0.5 for run in ("keyword", "vector"))
