"""`ragstate eval`: retrieval quality on a BEIR-layout collection, through the real workflows."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import typer

from ragstate.cli._common import cli_settings, connect_client, console, fail, local_server
from ragstate.settings import Settings


def eval_(
    directory: Path = typer.Argument(..., help="BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv"),
    as_json: bool = typer.Option(False, "--json", help='one JSON object: {"keyword"|"vector"|"hybrid": metrics}'),
    per_query: Path | None = typer.Option(None, help="write per-query metrics (JSON) here"),
    reference: bool = typer.Option(False, help="also compute exact BM25 (rank-bm25, same analyzer)"),
    depth: int | None = typer.Option(
        None, min=1, max=1000, help="candidates per branch; default: the engine's search_depth"
    ),
    data_dir: Path | None = typer.Option(None, help="default: a temporary directory"),
) -> None:
    """nDCG@10, Recall@100 and MRR@10 for keyword-only, vector-only and hybrid retrieval,
    through the real workflows on a private local stack and a fresh collection."""
    import tempfile
    import uuid

    from ragstate.conventions import slug
    from ragstate.evaluation import BeirDataset

    try:
        dataset = BeirDataset.load(directory)
    except (FileNotFoundError, ValueError, KeyError) as e:
        fail(str(e))
    with contextlib.ExitStack() as stack:
        root = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ragstate-eval-")))
        base = cli_settings(root, f"eval-{slug(directory.resolve().name, 20)}-{uuid.uuid4().hex[:6]}")
        settings = stack.enter_context(local_server(base))
        report = asyncio.run(_eval(settings, dataset, depth, quiet=as_json))
    summary = report.summary()
    if reference:
        from ragstate.evaluation import exact_bm25_reference

        summary["bm25_exact_reference"] = exact_bm25_reference(dataset, settings.bm25_k1, settings.bm25_b)
    if per_query:
        per_query.write_text(json.dumps({"per_query": report.per_query, "failures": report.failures}, indent=1))
    if as_json:
        print(json.dumps(summary))
        return
    from rich.table import Table

    table = Table(
        title=f"{directory} — {len(dataset.queries)} queries, {report.documents} documents, "
        f"{report.chunks} chunks, depth {depth or settings.search_depth}, "
        f"query encoding {settings.query_encoding.value}"
    )
    for col in ("run", "nDCG@10", "Recall@100", "MRR@10"):
        table.add_column(col)
    for run, m in summary.items():
        table.add_row(run, f"{m['ndcg@10']:.4f}", f"{m['recall@100']:.4f}", f"{m['mrr@10']:.4f}")
    console.print(table)
    for qid, err in list(report.failures.items())[:10]:
        console.print(f"[red]query {qid} failed:[/red] {err}")


async def _eval(settings: Settings, dataset, depth: int | None, quiet: bool):
    from ragstate.evaluation import evaluate
    from ragstate.workers.runtime import running_workers

    rag = await connect_client(settings)
    async with running_workers(rag.client, settings):
        if not quiet:
            console.print(f"ingesting {dataset.corpus} into collection {settings.collection!r} …")
        return await evaluate(rag, dataset, settings.collection, depth=depth)
