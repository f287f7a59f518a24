"""The `ragstate` command line.

    ragstate up                         # Temporal dev server (UI on :8233) + one worker, foreground
    ragstate ingest examples/corpus     # with a progress bar
    ragstate ask "What is BM25?"
    ragstate ask --stream "What is BM25?"   # steps and answer text as they are produced
    ragstate status
    ragstate demo                       # everything above in one go, on the embedded defaults
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from ragstate.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Durable hybrid RAG on Temporal and Qdrant.")
console = Console()

DEMO_QUESTIONS = [
    "How does reciprocal rank fusion combine keyword and vector results?",
    "What do the BM25 parameters k1 and b control?",
    "What happens to a workflow when its worker crashes?",
]


def _version(value: bool) -> None:
    if value:
        from ragstate import __version__

        console.print(f"ragstate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Durable hybrid RAG on Temporal and Qdrant."""


def _settings(data_dir: Optional[Path] = None, collection: Optional[str] = None) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in {"data_dir": data_dir, "collection": collection}.items()
                                 if v is not None}
    return Settings(**overrides)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


async def _client(settings: Settings):
    from ragstate.client import RagClient

    try:
        return await RagClient.connect(settings)
    except RuntimeError as e:
        _fail(f"cannot reach Temporal at {settings.temporal_address} ({e}). Start it with `ragstate up`, "
              "or set RAGSTATE_TEMPORAL_ADDRESS.")


async def _ingest(rag, paths: list[str], collection: Optional[str]) -> int:
    """Run an ingest with a progress bar; returns how many documents failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from temporalio.service import RPCError

    from ragstate.models import IngestRequest
    from ragstate.render import print_ingest

    handle = await rag.start_ingest(IngestRequest(paths=paths, collection=collection))
    result_task = asyncio.create_task(handle.result())
    with Progress(TextColumn("[bold]ingest[/bold]"), BarColumn(), MofNCompleteColumn(), TextColumn("batches"),
                  TextColumn("{task.fields[docs]} docs, {task.fields[chunks]} chunks, {task.fields[failed]} failed"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("ingest", total=None, docs=0, chunks=0, failed=0)
        while not result_task.done():
            with contextlib.suppress(RPCError):
                p = await rag.ingest_progress(handle.id)
                bar.update(task, completed=p.batches_done, total=p.batches_discovered or None,
                           docs=p.documents, chunks=p.chunks, failed=p.failed)
            await asyncio.wait([result_task], timeout=0.5)
        result = result_task.result()
        with contextlib.suppress(RPCError):  # the final count of batches (a closed run still answers)
            p = await rag.ingest_progress(handle.id)
            bar.update(task, completed=p.batches_done, total=p.batches_discovered)
        bar.update(task, docs=result.documents, chunks=result.chunks, failed=result.failed)
    print_ingest(console, result, rag.ui_link(handle.id))
    return result.failed


async def _ask(rag, question: str, top_k: Optional[int], sources: Optional[list[str]], as_json: bool) -> None:
    from ragstate.client import InvalidQueryError, RagError
    from ragstate.models import RagQuery
    from ragstate.render import print_answer

    try:
        answer = await rag.ask(RagQuery(question=question, top_k=top_k, sources=sources or None))
    except InvalidQueryError as e:
        _fail(str(e))
    except RagError as e:
        _fail(f"{e} (workflow {rag.ui_link(e.workflow_id)})")
    if as_json:
        console.print_json(answer.model_dump_json())
    else:
        print_answer(console, answer, rag.ui_link(answer.workflow_id, answer.run_id))


async def _ask_stream(rag, question: str, top_k: Optional[int], sources: Optional[list[str]], as_json: bool) -> None:
    """Steps and answer text as they come, then citations; with --json one event per line."""
    from ragstate.contracts import ErrorType
    from ragstate.models import RagQuery, StreamEventType
    from ragstate.render import StreamPrinter

    printer = None if as_json else StreamPrinter(console, question)
    handle = await rag.start_query(RagQuery(question=question, top_k=top_k, sources=sources or None))
    async for event in rag.stream_events(handle.id):
        if printer is None:
            print(event.model_dump_json(exclude_none=True), flush=True)
        else:
            printer.event(event, rag.ui_link(handle.id, event.answer.run_id) if event.answer else None)
        if event.type is StreamEventType.error:
            if as_json:
                raise typer.Exit(1)
            from rich.markup import escape

            if event.error_type == ErrorType.INVALID_QUERY:
                _fail(escape(event.error or "invalid query"))
            _fail(f"{escape(event.error or 'the query failed')} ({event.error_type}; workflow {rag.ui_link(handle.id)})")


@app.command()
def up(data_dir: Optional[Path] = typer.Option(None, help="default: RAGSTATE_DATA_DIR or .ragstate"),
       port: int = typer.Option(7233, help="Temporal frontend port"),
       ui_port: int = typer.Option(8233, help="Temporal web UI port")) -> None:
    """Run the local stack in the foreground: Temporal dev server (SQLite under the data
    directory, UI, search attributes registered) and one worker serving every task queue."""
    from ragstate.devserver import DevServer

    settings = _settings(data_dir)
    server = DevServer(settings.data_dir, port=port, ui_port=ui_port)
    try:
        server.start()
    except RuntimeError as e:
        _fail(str(e))
    settings = settings.model_copy(update={"temporal_address": server.address, "temporal_ui_url": server.ui_url})
    console.print(f"Temporal {server.address}  UI {server.ui_url}  data {settings.data_dir.resolve()}")
    console.print("worker: serving " + ", ".join(settings.task_queues) + "  (Ctrl-C to stop)")
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


async def _serve(settings: Settings) -> None:
    from ragstate.temporal import connect
    from ragstate.workers.runtime import ROLES, serve

    await serve(await connect(settings), settings, ROLES)


@app.command()
def worker(roles: str = typer.Option("workflows,embeddings,llm", help="comma-separated roles")) -> None:
    """Run a worker against an existing Temporal server (RAGSTATE_TEMPORAL_* settings)."""
    settings = _settings()
    asyncio.run(_worker(settings, [r.strip() for r in roles.split(",") if r.strip()]))


async def _worker(settings: Settings, roles: list[str]) -> None:
    from ragstate.workers.runtime import serve

    rag = await _client(settings)
    await serve(rag.client, settings, roles)


@app.command()
def ingest(paths: list[Path] = typer.Argument(..., help="files or folders (.txt .md .html .jsonl)"),
           collection: Optional[str] = typer.Option(None)) -> None:
    """Ingest files or folders through the ingestion workflow, with a progress bar.

    Exit codes: 0 every document ingested; 1 the ingest could not run; 2 it ran, and some
    documents failed (each listed with its reason)."""
    from ragstate.discovery import printable

    # Absolute but not resolved: a symlink loop or a FIFO is the ingest's to report (with the
    # rest going on), not a reason to refuse the whole run here.
    named = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    unnamed = [printable(p) for p in named if printable(p) != p]
    if unnamed:
        _fail(f"file names must be valid UTF-8 to be ingested; rename: {', '.join(unnamed)}")

    async def run() -> int:
        return await _ingest(await _client(_settings()), named, collection)

    failed = asyncio.run(run())
    if failed:
        raise typer.Exit(2)


@app.command()
def ask(question: str, top_k: Optional[int] = typer.Option(None, "--top-k"),
        source: Optional[list[str]] = typer.Option(None, "--source", help="only cite chunks from this source"),
        as_json: bool = typer.Option(False, "--json", help="print the RagAnswer as JSON (with --stream: "
                                                           "each event as one JSON line)"),
        stream: bool = typer.Option(False, "--stream", help="print steps and the answer as they are produced")) -> None:
    """Ask a question through the query workflow and print the answer with citations."""

    from ragstate.discovery import printable

    if printable(question) != question:
        _fail(f"the question is not valid UTF-8 text: {printable(question)!r}")

    async def run() -> None:
        ask_ = _ask_stream if stream else _ask
        await ask_(await _client(_settings()), question, top_k, source, as_json)

    asyncio.run(run())


@app.command()
def status() -> None:
    """What is running (server, workers per task queue) and how much is indexed."""
    asyncio.run(_status(_settings()))


async def _status(settings: Settings) -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    rag = await _client(settings)
    console.print(f"Temporal: [green]up[/green] at {settings.temporal_address} (namespace {rag.client.namespace}); "
                  f"UI {settings.temporal_ui_url}")
    any_worker = False
    for queue, kind in ((settings.workflow_task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                        (settings.workflow_task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
                        (settings.embeddings_task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
                        (settings.llm_task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)):
        resp = await rag.client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=rag.client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind))
        n = len(resp.pollers)
        any_worker |= n > 0
        label = "workflows" if kind == TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW else "activities"
        console.print(f"  task queue {queue} ({label}): " + (f"[green]{n} poller(s)[/green]" if n else "[yellow]no worker[/yellow]"))
    if not any_worker:
        console.print("index: unknown (no worker running; start one with `ragstate up` or `ragstate worker`)")
        return
    try:
        stats = await asyncio.wait_for(rag.stats(), timeout=20)
    except Exception as e:  # noqa: BLE001 - status must report, not crash
        console.print(f"index: [red]unavailable[/red] ({e})")
        return
    console.print(f"index: {stats.documents} documents, {stats.chunks} chunks in collection {stats.collection!r} "
                  f"({stats.backend} store)")


@app.command()
def serve(host: str = typer.Option("0.0.0.0"),
          port: Optional[int] = typer.Option(None, help="default: $PORT or 8080")) -> None:
    """The HTTP gateway: /v1/query (JSON or SSE), /v1/ingest, /healthz, /readyz (`gateway` extra)."""
    from ragstate.gateway import main as gateway_main

    gateway_main(["--host", host] + (["--port", str(port)] if port else []))


@app.command("register-search-attributes")
def register_search_attributes() -> None:
    """Register RagKind and RagStatus on an existing Temporal server (self-hosted; for Temporal
    Cloud use `tcld namespace search-attributes add`)."""

    async def run() -> None:
        from temporalio.api.enums.v1 import IndexedValueType
        from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

        from ragstate.contracts import SEARCH_ATTRIBUTES

        rag = await _client(_settings())
        ops = rag.client.operator_service
        existing = (await ops.list_search_attributes(ListSearchAttributesRequest(namespace=rag.client.namespace))).custom_attributes
        missing = {k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in SEARCH_ATTRIBUTES if k.name not in existing}
        if missing:
            await ops.add_search_attributes(AddSearchAttributesRequest(namespace=rag.client.namespace,
                                                                       search_attributes=missing))
        console.print(f"search attributes registered: {', '.join(k.name for k in SEARCH_ATTRIBUTES)}"
                      + (f" (added {', '.join(missing)})" if missing else " (already there)"))

    asyncio.run(run())


@contextlib.contextmanager
def _local_server(settings: Settings):
    """A dev server on the usual ports when they are free (else free ones), with settings
    pointing at it."""
    from ragstate.devserver import DevServer, free_port, port_open

    port = 7233 if not port_open("127.0.0.1", 7233) else free_port()
    ui_port = 8233 if not port_open("127.0.0.1", 8233) else free_port()
    with DevServer(settings.data_dir, port=port, ui_port=ui_port) as server:
        yield settings.model_copy(update={"temporal_address": server.address, "temporal_ui_url": server.ui_url})


@app.command()
def demo(data_dir: Optional[Path] = typer.Option(None),
         corpus: Path = typer.Option(Path(__file__).resolve().parent.parent / "examples" / "corpus"),
         keep: bool = typer.Option(False, help="keep the server and UI running after the demo (Ctrl-C to stop)")) -> None:
    """Start a local stack, ingest the example corpus and ask a few questions."""
    with _local_server(_settings(data_dir or Path(".ragstate") / "demo")) as settings:
        console.print(f"[bold]ragstate demo[/bold]: Temporal dev server {settings.temporal_address}, "
                      f"web UI {settings.temporal_ui_url}")
        asyncio.run(_demo(settings, corpus, keep))


async def _demo(settings: Settings, corpus: Path, keep: bool) -> None:
    from ragstate.workers.runtime import running_workers

    rag = await _client(settings)
    mode = "Anthropic " + settings.anthropic_model if settings.anthropic_key() else "offline extractive (no API key)"
    console.print(f"answers: {mode}; store: {settings.store_backend.value} at {settings.data_dir.resolve()}")
    async with running_workers(rag.client, settings):
        await _ingest(rag, [str(corpus)], None)
        for question in DEMO_QUESTIONS:
            console.rule()
            await _ask(rag, question, None, None, False)
        console.rule()
        stats = await rag.stats()
        console.print(f"index: {stats.documents} documents, {stats.chunks} chunks. "
                      f"Browse every step of these runs at {settings.temporal_ui_url}")
        if keep:
            console.print("serving until Ctrl-C …")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()


@app.command("eval")
def eval_(directory: Path = typer.Argument(..., help="BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv"),
          as_json: bool = typer.Option(False, "--json", help='one JSON object: {"keyword"|"vector"|"hybrid": metrics}'),
          per_query: Optional[Path] = typer.Option(None, help="write per-query metrics (JSON) here"),
          reference: bool = typer.Option(False, help="also compute exact BM25 (rank-bm25, same analyzer)"),
          depth: Optional[int] = typer.Option(None, min=1, max=1000,
                                              help="candidates per branch; default: the engine's search_depth"),
          data_dir: Optional[Path] = typer.Option(None, help="default: a temporary directory")) -> None:
    """nDCG@10, Recall@100 and MRR@10 for keyword-only, vector-only and hybrid retrieval,
    through the real workflows on a private local stack and a fresh collection."""
    import tempfile
    import uuid

    from ragstate.conventions import slug
    from ragstate.evaluation import BeirDataset

    try:
        dataset = BeirDataset.load(directory)
    except (FileNotFoundError, ValueError, KeyError) as e:
        _fail(str(e))
    with contextlib.ExitStack() as stack:
        root = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ragstate-eval-")))
        base = _settings(root, f"eval-{slug(directory.resolve().name, 20)}-{uuid.uuid4().hex[:6]}")
        settings = stack.enter_context(_local_server(base))
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

    table = Table(title=f"{directory} — {len(dataset.queries)} queries, {report.documents} documents, "
                        f"{report.chunks} chunks, depth {depth or settings.search_depth}, "
                        f"query encoding {settings.query_encoding.value}")
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

    rag = await _client(settings)
    async with running_workers(rag.client, settings):
        if not quiet:
            console.print(f"ingesting {dataset.corpus} into collection {settings.collection!r} …")
        return await evaluate(rag, dataset, settings.collection, depth=depth)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
