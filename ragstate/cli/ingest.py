"""`ragstate ingest`: files and folders through the ingestion workflow, with a progress bar."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import typer

from ragstate.cli._common import cli_settings, connect_client, console, fail


async def run_ingest(rag, paths: list[str], collection: str | None, sync: bool = False) -> int:
    """Run an ingest with a progress bar; returns how many documents failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from temporalio.service import RPCError

    from ragstate.models import IngestRequest
    from ragstate.render import print_ingest

    handle = await rag.start_ingest(IngestRequest(paths=paths, collection=collection, sync=sync))
    result_task = asyncio.create_task(handle.result())
    with Progress(
        TextColumn("[bold]ingest[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches"),
        TextColumn("{task.fields[docs]} docs, {task.fields[chunks]} chunks, {task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("ingest", total=None, docs=0, chunks=0, failed=0)
        while not result_task.done():
            with contextlib.suppress(RPCError):
                p = await rag.ingest_progress(handle.id)
                bar.update(
                    task,
                    completed=p.batches_done,
                    total=p.batches_discovered or None,
                    docs=p.documents,
                    chunks=p.chunks,
                    failed=p.failed,
                )
            await asyncio.wait([result_task], timeout=0.5)
        result = result_task.result()
        with contextlib.suppress(RPCError):  # the final count of batches (a closed run still answers)
            p = await rag.ingest_progress(handle.id)
            bar.update(task, completed=p.batches_done, total=p.batches_discovered)
        bar.update(task, docs=result.documents, chunks=result.chunks, failed=result.failed)
    print_ingest(console, result, rag.ui_link(handle.id))
    return result.failed


def ingest(
    paths: list[Path] = typer.Argument(..., help="files or folders (.txt .md .html .jsonl)"),
    collection: str | None = typer.Option(None),
    sync: bool = typer.Option(
        False, "--sync", help="afterwards, remove the collection's documents under these paths whose files are gone"
    ),
) -> None:
    """Ingest files or folders through the ingestion workflow, with a progress bar.

    Exit codes: 0 every document ingested; 1 the ingest could not run; 2 it ran, and some
    documents failed (each listed with its reason)."""
    from ragstate.discovery import printable

    # Absolute but not resolved: a symlink loop or a FIFO is the ingest's to report (with the
    # rest going on), not a reason to refuse the whole run here.
    named = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    unnamed = [printable(p) for p in named if printable(p) != p]
    if unnamed:
        fail(f"file names must be valid UTF-8 to be ingested; rename: {', '.join(unnamed)}")

    async def run() -> int:
        return await run_ingest(await connect_client(cli_settings()), named, collection, sync)

    failed = asyncio.run(run())
    if failed:
        raise typer.Exit(2)
