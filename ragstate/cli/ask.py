"""`ragstate ask`: a question through the query workflow, the answer with its citations (or streamed)."""

from __future__ import annotations

import asyncio

import typer

from ragstate.cli._common import cli_settings, collection_option, connect_client, console, fail


async def run_ask(
    rag, question: str, top_k: int | None, sources: list[str] | None, as_json: bool, collection: str | None = None
) -> None:
    from ragstate.cli.render import print_answer
    from ragstate.client import InvalidQueryError, RagError
    from ragstate.models import RagQuery

    try:
        answer = await rag.ask(RagQuery(question=question, top_k=top_k, sources=sources or None, collection=collection))
    except InvalidQueryError as e:
        fail(str(e))
    except RagError as e:
        fail(f"{e} (workflow {rag.ui_link(e.workflow_id)})")
    if as_json:
        console.print_json(answer.model_dump_json())
    else:
        print_answer(console, answer, rag.ui_link(answer.workflow_id, answer.run_id))


async def run_ask_stream(
    rag, question: str, top_k: int | None, sources: list[str] | None, as_json: bool, collection: str | None = None
) -> None:
    """Steps and answer text as they come, then citations; with --json one event per line."""
    from ragstate.cli.render import StreamPrinter
    from ragstate.contracts import ErrorType
    from ragstate.models import RagQuery, StreamEventType

    printer = None if as_json else StreamPrinter(console, question)
    handle = await rag.start_query(
        RagQuery(question=question, top_k=top_k, sources=sources or None, stream_tokens=True, collection=collection)
    )
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
                fail(escape(event.error or "invalid query"))
            fail(f"{escape(event.error or 'the query failed')} ({event.error_type}; workflow {rag.ui_link(handle.id)})")


#: How long `ask` looks for a workflow worker before it says there is none.
POLLER_GRACE_S = 5.0


def ask(
    question: str = typer.Argument(..., help="the question, in quotes"),
    top_k: int | None = typer.Option(
        None, "--top-k", help="cite at most this many sources (default: RAGSTATE_DEFAULT_TOP_K)"
    ),
    source: list[str] | None = typer.Option(None, "--source", help="only cite chunks from this source"),
    as_json: bool = typer.Option(
        False, "--json", help="print the RagAnswer as JSON (with --stream: each event as one JSON line)"
    ),
    stream: bool = typer.Option(False, "--stream", help="print steps and the answer as they are produced"),
    collection: str | None = collection_option(
        "the collection to search (default: RAGSTATE_COLLECTION, else the worker's)"
    ),
) -> None:
    """Ask a question through the query workflow and print the answer with citations."""

    from ragstate.ingest.discovery import printable

    if printable(question) != question:
        fail(f"the question is not valid UTF-8 text: {printable(question)!r}")

    from ragstate.cli.status import chosen_collection

    settings = cli_settings()
    try:
        collection = chosen_collection(settings, collection)
    except ValueError as e:
        fail(str(e))

    async def run() -> None:
        rag = await connect_client(settings)
        # Without a workflow worker the question would wait in silence; say so within seconds
        # instead (a restarted server lists no poller until the workers poll again: look twice).
        if not await rag.pollers_within(settings.workflow_task_queue, POLLER_GRACE_S, workflows=True):
            fail(
                f"no worker polls task queue {settings.workflow_task_queue!r}: start one with `ragstate up` "
                "(one machine) or `ragstate worker` (an existing server), then ask again"
            )
        ask_ = run_ask_stream if stream else run_ask
        await ask_(rag, question, top_k, source, as_json, collection)

    asyncio.run(run())
