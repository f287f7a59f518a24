"""Retrieval evaluation: the metrics, BEIR-layout loading, `evaluate` through the real workflows,
and the `ragstate eval --baseline` regression gate."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from beir_files import write_eval_beir
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.evaluation.beir import RUNS, BeirDataset, EvalReport, evaluate, mrr_at, ndcg_at, recall_at
from ragstate.evaluation.gate import BaselineError, compare, load_baseline, save_baseline
from ragstate.settings import Settings
from ragstate.testing import RAGSTATE, clean_env
from ragstate.workers.runtime import running_workers


def test_metrics_count_graded_relevance():
    rels = {"a": 1, "c": 2}
    # DCG = 1/log2(2) + 2/log2(4); the ideal order puts the grade-2 document first.
    assert ndcg_at(["a", "b", "c"], rels) == pytest.approx((1 + 2 / 2) / (2 + 1 / math.log2(3)))
    assert ndcg_at(["c", "a"], rels) == pytest.approx(1.0)
    assert ndcg_at(["b"], rels) == 0.0 and ndcg_at(["a"], {}) == 0.0
    assert recall_at(["c", "x"], rels) == 0.5 and recall_at(["x"] * 100 + ["a"], rels) == 0.0  # only the top 100
    assert mrr_at(["x", "c"], rels) == 0.5 and mrr_at(["x"] * 10 + ["a"], rels) == 0.0  # only the top 10


def test_beir_loading_keeps_judged_queries_and_names_what_is_missing(tmp_path):
    dataset = BeirDataset.load(write_eval_beir(tmp_path / "set"))
    assert set(dataset.queries) == {"q-penguins", "q-volcano"}
    assert dataset.qrels["q-penguins"] == {"penguins": 2, "colonies": 1}
    (tmp_path / "set" / "queries.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing queries\.jsonl"):
        BeirDataset.load(tmp_path / "set")


async def test_evaluate_runs_every_judged_query_through_the_workflows(client: Client, settings: Settings, tmp_path):
    dataset = BeirDataset.load(write_eval_beir(tmp_path / "set"))
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


# --- the regression gate -------------------------------------------------------------------------


async def run_eval(*args: str, limit_s: float = 240) -> tuple[int, str]:
    """`ragstate eval` as a person runs it: a subprocess that starts its own local stack."""
    env = clean_env()
    process = await asyncio.create_subprocess_exec(
        RAGSTATE,
        "eval",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), limit_s)
    return process.returncode or 0, out.decode("utf-8", "replace")


def write_gate_set(root: Path) -> Path:
    """The tiny set, with a third document relevant to the penguin question: a run that keeps one
    candidate per branch (``--depth 1``) can return at most two of the three."""
    write_eval_beir(root)
    with (root / "corpus.jsonl").open("a") as f:
        text = "Antarctic krill swarm under the sea ice; penguins and whales feed on them."
        f.write(json.dumps({"_id": "krill", "title": "Krill", "text": text}) + "\n")
    with (root / "qrels" / "test.tsv").open("a") as f:
        f.write("q-penguins\tkrill\t1\n")
    return root


async def test_baseline_gate_passes_on_the_defaults_and_fails_on_a_worse_setting(tmp_path):
    data, baseline = write_gate_set(tmp_path / "tiny"), tmp_path / "baseline.json"
    code, out = await run_eval(str(data), "--save", str(baseline), "--json")
    assert code == 0, out
    saved = json.loads(baseline.read_text())
    assert set(saved["collections"]["tiny"]["per_query"]) == {"q-penguins", "q-volcano"}
    assert saved["settings"]["fusion_method"] == Settings().fusion_method.value

    code, out = await run_eval(str(data), "--baseline", str(baseline))
    assert code == 0, out
    assert "pass" in out and "95% CI" in out and "FAIL" not in out

    code, out = await run_eval(str(data), "--baseline", str(baseline), "--depth", "1", "--json")
    assert code == 1, out
    gate = json.loads(out.strip().splitlines()[-1])["gate"]
    assert [g["collection"] for g in gate] == ["tiny"] and gate[0]["passed"] is False
    assert gate[0]["delta"] < -0.005 and gate[0]["ci95"][0] <= gate[0]["delta"] <= gate[0]["ci95"][1]


def _report(values: dict[str, float]) -> EvalReport:
    metrics = ("ndcg@10", "recall@100", "mrr@10")
    return EvalReport(per_query={q: {r: dict.fromkeys(metrics, v) for r in RUNS} for q, v in values.items()})


def test_compare_uses_the_tolerance_and_a_paired_bootstrap(tmp_path):
    path = tmp_path / "b.json"
    base = {"a": 0.5, "b": 0.7, "c": 0.9, "d": 0.1}
    save_baseline(path, {"set": _report(base)}, Settings())
    loaded = load_baseline(path)
    assert loaded == {"set": base}
    same = compare(loaded, {"set": _report(base)}, tolerance=0.005)[0]
    assert same.passed and same.delta == 0 and (same.low, same.high) == (0.0, 0.0)
    slightly = compare(loaded, {"set": _report({q: v - 0.004 for q, v in base.items()})}, 0.005)[0]
    assert slightly.passed and slightly.low == pytest.approx(-0.004) == slightly.high
    worse = compare(loaded, {"set": _report({**base, "a": 0.3})}, 0.005)[0]
    assert not worse.passed and worse.delta == pytest.approx(-0.05)
    assert worse.low <= -0.05 <= worse.high <= 0.0  # one query moved: the interval reaches 0
    # A failed query scores 0, as in the summary.
    failed = EvalReport(per_query=_report({q: v for q, v in base.items() if q != "c"}).per_query, failures={"c": "x"})
    assert compare(loaded, {"set": failed}, 0.005)[0].delta == pytest.approx(-0.9 / 4)


def test_a_baseline_that_does_not_cover_the_run_is_an_error(tmp_path):
    path = tmp_path / "b.json"
    save_baseline(path, {"set": _report({"a": 1.0})}, Settings())
    with pytest.raises(BaselineError, match="no collection 'other'"):
        compare(load_baseline(path), {"other": _report({"a": 1.0})}, 0.005)
    with pytest.raises(BaselineError, match="other queries"):
        compare(load_baseline(path), {"set": _report({"b": 1.0})}, 0.005)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(BaselineError, match="--save"):
        load_baseline(tmp_path / "bad.json")
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline(tmp_path / "missing.json")
