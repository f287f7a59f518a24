"""`ragstate ingest`: files and folders through the ingestion workflow, with a progress bar of
chunks embedded; `--retry-failed ID` ingests again what an earlier ingest failed on and may
succeed if retried."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import typer

from ragstate.cli._common import cli_settings, collection_option, connect_client, console, fail

#: Seconds between two progress polls (a query and a describe): heartbeats reach the server at
#: most every 8 s, so polling faster shows nothing new and only costs CPU on both sides.
POLL_S = 1.0
#: Exit codes (also in the command's help).
EXIT_FAILED_DOCUMENTS = 2
EXIT_INTERRUPTED = 130


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -"
    m, s = divmod(int(seconds), 60)
    return f"ETA {m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"ETA {m}:{s:02d}"


async def _already_running(rag, workflow_id: str) -> bool:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    try:
        desc = await rag.client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False  # never ran (NOT_FOUND): this call starts it
    return desc.status == WorkflowExecutionStatus.RUNNING


async def run_ingest(
    rag, paths: list[str], collection: str | None, sync: bool = False, request=None, summarize: bool = False
) -> int:
    """Run an ingest (``request``, or one of ``paths``) with a progress bar; returns how many
    documents failed. Interrupted (Ctrl-C), it says the ingest goes on and how to follow it."""
    from ragstate.cli.render import print_ingest
    from ragstate.models import IngestRequest

    request = request or IngestRequest(paths=paths, collection=collection, sync=sync, summarize=summarize)
    joined = await _already_running(rag, rag.ingest_id(request))
    handle = await rag.start_ingest(request)
    if joined:
        console.print(f"joined the running ingest {handle.id} (the same paths and collection): following it")
    result_task = asyncio.create_task(rag.follow(handle, f"ingest {handle.id}"))  # through a server restart
    try:
        result = await _with_progress_bar(rag, handle.id, result_task)
    except (asyncio.CancelledError, KeyboardInterrupt):
        result_task.cancel()
        console.print(
            f"\ninterrupted: the ingest goes on on the server (workflow {handle.id}). Follow it by running "
            f"the same `ragstate ingest` again (it joins the running ingest and shows its progress), or in "
            f"the Temporal UI: {rag.ui_link(handle.id)}"
        )
        raise
    print_ingest(console, result, rag.ui_link(handle.id))
    retryable = sum(f.retryable for f in result.failures)
    if retryable:
        console.print(
            f"{retryable} of the failures may succeed if retried: `ragstate ingest --retry-failed {handle.id}`"
        )
    return result.failed


async def _with_progress_bar(rag, workflow_id: str, result_task: asyncio.Task):
    """The ingest's result, with a bar of chunks embedded redrawn at each poll of its progress."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError

    from ragstate.client.ingest_progress import chunks_total, live_progress

    # No auto-refresh thread: the bar is redrawn once per poll, which is all that changes it.
    with Progress(
        TextColumn("[bold]ingest[/bold]"),
        BarColumn(),
        TextColumn("{task.fields[chunks]}"),
        TextColumn("{task.fields[docs]}, {task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task("ingest", total=None, chunks="chunks -", docs="docs -", failed=0, rate="")
        best = 0  # the count never goes back (a batch ending between the query and the describe)
        while not result_task.done():
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                p = await live_progress(rag.client, workflow_id)
                best = max(best, p.chunks_embedded)
                total, exact = chunks_total(p)
                shown = "?" if total is None else f"{total:,}" if exact else f"~{total:,}"
                docs_total = "?" if p.documents_total is None else f"{p.documents_total:,}"
                bar.update(
                    task,
                    completed=best,
                    total=max(total, best) if total else None,
                    chunks=f"{best:,}/{shown} chunks embedded",
                    docs=f"docs {p.documents_chunked:,}/{docs_total}",
                    failed=p.failed,
                    rate=f"{p.chunks_per_s:.1f} chunks/s, {_eta(p.eta_s)}" if p.chunks_per_s else "",
                )
            bar.refresh()
            await asyncio.wait([result_task], timeout=POLL_S)
        result = result_task.result()
        bar.update(
            task,
            completed=result.chunks,
            total=result.chunks or 1,
            chunks=f"{result.chunks:,} chunks",
            docs=f"{result.documents:,} docs",
            failed=result.failed,
            rate="",
        )
        bar.refresh()
    return result


async def _retry_failed(rag, ingest_id: str) -> int:
    """``--retry-failed``: the retryable failures of ``ingest_id`` as a new ingest."""
    from ragstate.errors import RagError
    from ragstate.ingest.redrive import plan_retry

    try:
        plan = await plan_retry(rag.client, ingest_id)
    except RagError as e:
        fail(str(e))
    skipped = len(plan.not_retryable)
    console.print(
        f"ingest {ingest_id}: {len(plan.retryable)} failure(s) may succeed if retried, "
        f"{skipped} would fail again (unreadable, empty, too large...)"
        + (f"; {plan.unlisted} more were not kept in its result" if plan.unlisted else "")
    )
    for f in plan.not_retryable[:10]:
        console.print(f"  [dim]not retried[/dim] {f.doc_id}: {f.reason}")
    if plan.request is None:
        console.print("nothing to retry")
        return 0
    return await run_ingest(rag, [], None, request=plan.request)


def ingest(
    paths: list[Path] = typer.Argument(None, help="files or folders (.txt .md .html .jsonl)"),
    collection: str | None = collection_option(),
    sync: bool = typer.Option(
        False, "--sync", help="afterwards, remove the collection's documents under these paths whose files are gone"
    ),
    summarize: bool = typer.Option(
        False,
        "--summarize",
        help="afterwards, a summary of each document by the LLM (extractive offline), stored with it, "
        "searchable and shown by `documents list`; more than RAGSTATE_SUMMARY_BATCH_MIN go through the "
        "Message Batches API (half the price)",
    ),
    retry_failed: str | None = typer.Option(
        None,
        "--retry-failed",
        metavar="INGEST_ID",
        help="ingest again, as a new ingest, the documents that failed in that ingest and may succeed if retried",
    ),
) -> None:
    """Ingest files or folders through the ingestion workflow, with a progress bar of chunks
    embedded (rate and ETA).

    Exit codes: 0 every document ingested; 1 the ingest could not run; 2 it ran, and some
    documents failed (each listed with its reason); 130 interrupted (Ctrl-C): the ingest goes on
    on the server, and running the same command again joins it."""
    from ragstate.ingest.discovery import printable

    if retry_failed and (paths or sync):
        fail("--retry-failed takes no paths and no --sync: it retries what that ingest failed on")
    if not retry_failed and not paths:
        fail("name files or folders to ingest (or --retry-failed INGEST_ID)")
    # Absolute but not resolved: a symlink loop or a FIFO is the ingest's to report (with the
    # rest going on), not a reason to refuse the whole run here.
    named = [os.path.abspath(os.path.expanduser(p)) for p in paths or []]
    unnamed = [printable(p) for p in named if printable(p) != p]
    if unnamed:
        fail(f"file names must be valid UTF-8 to be ingested; rename: {', '.join(unnamed)}")

    async def run() -> int:
        rag = await connect_client(cli_settings())
        if retry_failed:
            return await _retry_failed(rag, retry_failed)
        return await run_ingest(rag, named, collection, sync, summarize=summarize)

    try:
        failed = asyncio.run(run())
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if failed:
        raise typer.Exit(EXIT_FAILED_DOCUMENTS)
