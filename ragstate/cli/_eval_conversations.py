"""``ragstate eval DIR --conversations FILE``: follow-up retrieval, the last turn of each
conversation asked alone, through a session (its earlier turns as history: CondenseQuestion)
and as its judged question (:mod:`ragstate.evaluation.conversations`), on a private local stack.

With ``--data-dir`` the collection keeps one name per directory, so a second run finds its
documents indexed and skips them (npl's 11k documents embed once).

Example::

    ragstate eval ../shared/datasets/med --conversations bench/conversations/med.jsonl --json
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import uuid
from pathlib import Path

from rich.table import Table

from ragstate.cli._common import cli_settings, connect_client, console, fail, local_server


def eval_conversations(directory: Path, file: Path, data_dir: Path | None, depth: int | None, as_json: bool) -> None:
    """Score ``file``'s conversations on ``directory`` and print the table (or the JSON object)."""
    from ragstate.evaluation.beir import BeirDataset
    from ragstate.evaluation.conversations import load_conversations
    from ragstate.temporal.conventions import slug

    try:
        dataset = BeirDataset.load(directory)
        conversations = load_conversations(file, dataset)
    except (FileNotFoundError, ValueError, KeyError) as e:
        fail(str(e))
    name = directory.resolve().name
    with contextlib.ExitStack() as stack:
        root = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ragstate-eval-")))
        collection = f"eval-{slug(name, 20)}-" + ("conv" if data_dir else uuid.uuid4().hex[:6])
        settings = stack.enter_context(local_server(cli_settings(root, collection)))
        if not as_json:
            console.print(f"ingesting {dataset.corpus} into collection {collection!r} …")
        report = asyncio.run(_run(settings, dataset, collection, conversations, depth))
    summary = report.summary()
    if as_json:
        print(json.dumps(summary))
        return
    _print(name, file, summary, report.failures)


async def _run(settings, dataset, collection: str, conversations: list, depth: int | None):
    from ragstate.evaluation.conversations import evaluate_conversations
    from ragstate.workers.runtime import running_workers

    # The session run measures the offline rewrite, whatever key the environment holds.
    settings = settings.model_copy(update={"condense_with_llm": False})
    rag = await connect_client(settings)
    async with running_workers(rag.client, settings):
        return await evaluate_conversations(rag, dataset, collection, conversations, depth=depth)


def _print(name: str, file: Path, summary: dict, failures: dict[str, str]) -> None:
    table = Table(title=f"{name}: last turn of {file.name}, hybrid nDCG@10")
    for col in ("conversations", "n", "alone", "session", "standalone", "gap recovered"):
        table.add_column(col, justify="left" if col == "conversations" else "right")
    for label, part in (("all", summary), ("follow-ups", summary["followup"]), ("topic switches", summary["switch"])):
        ndcg = [f"{part[w]['ndcg@10']:.4f}" for w in ("alone", "session", "standalone")]
        recovered = part.get("gap_recovered")
        table.add_row(label, str(part["n"]), *ndcg, "" if recovered is None else f"{recovered:.0%}")
    console.print(table)
    sw = summary["switch"]
    if sw["n"]:
        loss = sw["standalone"]["ndcg@10"] - sw["session"]["ndcg@10"]
        console.print(f"topic switches: the session loses {loss:.4f} against the standalone question")
    for conv, reason in sorted(failures.items()):
        console.print(f"[red]failed[/red] {conv}: {reason}")
