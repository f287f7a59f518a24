"""`ragstate eval`: retrieval quality on BEIR-layout collections, through the real workflows,
with the anchor runs side by side (``--reference``) and a regression gate (``--baseline``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import typer

from ragstate.cli._common import cli_settings, connect_client, console, fail, local_server
from ragstate.settings import Settings


def eval_(
    directories: list[Path] = typer.Argument(
        ..., help="one or more BEIR layouts: corpus.jsonl, queries.jsonl, qrels/test.tsv"
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='one JSON object: for one directory {"keyword"|"vector"|"hybrid": metrics}; for several, or '
        'with --baseline, {"collections": {name: runs}, "mean": runs, "gate": [...]}',
    ),
    per_query: Path | None = typer.Option(None, help="write per-query metrics (JSON) here"),
    reference: bool = typer.Option(
        False, help="also run the anchor: exact BM25 (as rank-bm25 scores it), whole-document dense, their RRF k 60"
    ),
    depth: int | None = typer.Option(
        None, min=1, max=1000, help="candidates per branch; default: the engine's search_depth"
    ),
    data_dir: Path | None = typer.Option(None, help="default: a temporary directory"),
    save: Path | None = typer.Option(None, help="write the per-query hybrid nDCG@10 here, as a baseline"),
    baseline: Path | None = typer.Option(
        None, help="compare with this baseline (from --save); exit 1 if a collection drops by more than --tolerance"
    ),
    tolerance: float = typer.Option(0.005, min=0.0, help="largest allowed drop of mean hybrid nDCG@10"),
    conversations: Path | None = typer.Option(
        None,
        help="follow-ups instead (JSON lines {id, turns, query_id}; one directory): the last turn's nDCG@10 "
        'alone, through a session and as the judged question; --json: {"alone"|"session"|"standalone": '
        '{"ndcg@10": ...}, "n": ..., "switch": {the same for topic switches}, "followup": {for follow-ups}}',
    ),
) -> None:
    """nDCG@10, Recall@100 and MRR@10 for keyword-only, vector-only and hybrid retrieval,
    through the real workflows on a private local stack, a fresh collection per directory."""
    from ragstate.evaluation.gate import BaselineError, compare, save_baseline

    if conversations is not None:
        from ragstate.cli._eval_conversations import eval_conversations

        if len(directories) != 1:
            fail("--conversations takes one directory, the collection its query ids are judged in")
        return eval_conversations(directories[0], conversations, data_dir, depth, as_json)
    names, datasets, gate_baseline = _load(directories, baseline)
    started = time.monotonic()
    reports, settings = _run_on_a_private_stack(datasets, data_dir, depth, quiet=as_json)
    summaries = {name: report.summary() for name, report in reports.items()}
    per_query_out = {name: {"per_query": r.per_query, "failures": r.failures} for name, r in reports.items()}
    if reference:
        _add_reference_runs(datasets, settings, summaries, per_query_out, quiet=as_json)
    verdicts = []
    if gate_baseline is not None:
        try:
            verdicts = compare(gate_baseline, reports, tolerance)
        except BaselineError as e:
            fail(str(e))
    if save:
        save_baseline(save, reports, settings)
    if per_query:
        only = per_query_out[names[0]] if len(names) == 1 else per_query_out
        per_query.write_text(json.dumps(only, indent=1))
    elapsed = time.monotonic() - started
    if as_json:
        print(json.dumps(_json_out(summaries, verdicts, single=len(names) == 1 and baseline is None)))
    else:
        from ragstate.cli._eval_tables import print_gate, print_tables

        print_tables(console, datasets, reports, summaries, depth or settings.search_depth, settings)
        print_gate(console, verdicts)
        if save:
            console.print(f"baseline written to {save}")
        console.print(f"{len(names)} collection(s) in {elapsed:.0f} s")
    if any(not v.passed for v in verdicts):
        raise typer.Exit(1)


def _load(directories: list[Path], baseline: Path | None) -> tuple[list[str], dict, Any]:
    """The collections' names (their directories'), the datasets and the baseline; exit 1 with
    the reason when one cannot be read."""
    from ragstate.evaluation.beir import BeirDataset
    from ragstate.evaluation.gate import load_baseline

    names = [d.resolve().name for d in directories]
    if len(set(names)) != len(names):
        fail(f"collections are named by their directory; these repeat a name: {', '.join(map(str, directories))}")
    try:
        datasets = {name: BeirDataset.load(d) for name, d in zip(names, directories)}
        return names, datasets, load_baseline(baseline) if baseline else None
    except (FileNotFoundError, ValueError, KeyError) as e:
        fail(str(e))


def _run_on_a_private_stack(datasets: dict, data_dir: Path | None, depth: int | None, *, quiet: bool):
    """Every dataset through the real workflows on a local stack of its own (a temporary data
    directory unless ``data_dir``), a fresh collection each: the reports and the settings used."""
    import tempfile
    import uuid

    from ragstate.temporal.conventions import slug

    with contextlib.ExitStack() as stack:
        root = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ragstate-eval-")))
        run_id = uuid.uuid4().hex[:6]
        collections = {name: f"eval-{slug(name, 20)}-{run_id}" for name in datasets}
        settings = stack.enter_context(local_server(cli_settings(root, next(iter(collections.values())))))
        return asyncio.run(_eval(settings, datasets, collections, depth, quiet=quiet)), settings


def _add_reference_runs(datasets: dict, settings, summaries: dict, per_query_out: dict, *, quiet: bool) -> None:
    """The anchor runs (exact BM25, whole-document dense, their RRF) beside the engine's."""
    from ragstate.evaluation.reference import mean_metrics, reference_runs

    for name, dataset in datasets.items():
        if not quiet:
            console.print(f"reference runs on {name} …")
        runs = reference_runs(dataset, settings.bm25_k1, settings.bm25_b, settings.embedding_device)
        summaries[name].update({run: mean_metrics(q) for run, q in runs.items()})
        per_query_out[name]["reference"] = runs


def _json_out(summaries: dict, verdicts: list, single: bool) -> dict:
    from ragstate.cli._eval_tables import mean_summary

    if single:
        return next(iter(summaries.values()))
    return {
        "collections": summaries,
        "mean": mean_summary(summaries),
        "gate": [
            {
                "collection": v.collection,
                "baseline": round(v.baseline, 4),
                "current": round(v.current, 4),
                "delta": round(v.delta, 4),
                "ci95": [round(v.low, 4), round(v.high, 4)],
                "passed": v.passed,
            }
            for v in verdicts
        ],
    }


async def _eval(settings: Settings, datasets: dict, collections: dict[str, str], depth: int | None, quiet: bool):
    from ragstate.evaluation.beir import evaluate
    from ragstate.workers.runtime import running_workers

    rag = await connect_client(settings)
    reports = {}
    async with running_workers(rag.client, settings):
        for name, dataset in datasets.items():
            if not quiet:
                console.print(f"ingesting {dataset.corpus} into collection {collections[name]!r} …")
            reports[name] = await evaluate(rag, dataset, collections[name], depth=depth)
    return reports
