"""`ragstate feedback`: rate an answer, and export the ratings as a judged set that `ragstate
eval` scores and `ragstate reindex --gate` gates on.

ragstate feedback rag-query-what-is-bm25-3f2a9c1d --good
ragstate feedback rag-query-what-is-bm25-3f2a9c1d --bad --source /docs/bm25.md --note "missed k1"
ragstate feedback export judged/ --collection docs
ragstate reindex --collection docs --set chunk_tokens=128 --gate judged/
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from ragstate.cli._common import cli_settings, connect_client, console, fail


class _RateByDefault(TyperGroup):
    """``feedback ID ...`` is ``feedback rate ID ...``: an argument that names no subcommand is
    the query id of a rating (query ids start ``rag-query-``, never ``export``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["rate", *args]
        return super().parse_args(ctx, args)


feedback_app = typer.Typer(
    cls=_RateByDefault,
    no_args_is_help=True,
    help="Rate answers (`ragstate feedback ID --good|--bad`) and export the ratings as a judged set.",
)


@feedback_app.command("rate")
def rate(
    query_id: str = typer.Argument(..., metavar="ID", help="the query's workflow id (`ragstate ask` prints it)"),
    good: bool = typer.Option(False, "--good", help="the answer was right"),
    bad: bool = typer.Option(False, "--bad", help="the answer was wrong"),
    sources: list[str] = typer.Option(
        [], "--source", metavar="DOC", help="a document id the answer should have cited (repeatable)"
    ),
    note: str = typer.Option("", "--note", metavar="TEXT", help="free text kept with the rating"),
    as_json: bool = typer.Option(False, "--json", help="print the stored FeedbackRecord as JSON"),
) -> None:
    """Rate a finished answer (`ragstate feedback ID --good|--bad`); a later rating replaces it."""
    from ragstate.errors import RagError

    if good == bad:
        raise typer.BadParameter("give exactly one of --good or --bad", param_hint="--good/--bad")

    async def run():
        rag = await connect_client(cli_settings())
        return await rag.feedback(query_id, good, sources, note)

    try:
        record = asyncio.run(run())
    except RagError as e:
        fail(escape(str(e)))
    if as_json:
        console.print_json(record.model_dump_json())
        return
    extra = f", right sources: {', '.join(record.sources)}" if record.sources else ""
    console.print(
        f"rated {escape(query_id)} [bold]{'good' if good else 'bad'}[/bold]{escape(extra)} "
        f"(collection {record.collection!r}, version {record.version!r}; run {escape(record.feedback_id)})"
    )


@feedback_app.command("export")
def export(
    directory: Path = typer.Argument(..., metavar="DIR", help="where to write the BEIR layout (made if missing)"),
    collection: str | None = typer.Option(
        None, metavar="NAME", help="the collection whose ratings to export (default: RAGSTATE_COLLECTION)"
    ),
) -> None:
    """Write the rated questions as a judged set for `ragstate eval DIR` and `reindex --gate DIR`.

    The BEIR layout: queries.jsonl, qrels/test.tsv (grade 1: the documents a good answer cited
    and those given as right with --source) and corpus.jsonl (the collection's documents, with
    its document ids). Exit 1 when no rating judges any document."""
    from ragstate.evaluation.feedback_export import judge, read_corpus, write
    from ragstate.ingest.documents import Document
    from ragstate.store import check_collection_name

    try:
        settings = cli_settings(collection=collection and check_collection_name(collection))
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--collection") from None

    async def run():
        rag = await connect_client(settings)
        records = await rag.feedback_records(settings.collection)
        listing = await rag.documents(collection=settings.collection, limit=10_000)
        return records, listing

    records, listing = asyncio.run(run())
    judged = judge(records, {d.doc_id for d in listing.documents})
    if not judged.queries:
        fail(
            f"no rating of collection {settings.collection!r} judges a document "
            f"({len(records)} ratings): nothing to export"
        )
    unread: list[str] = []

    def documents():
        for item in read_corpus(listing.documents, settings.max_document_bytes):
            if isinstance(item, Document):
                yield item
            else:
                unread.append(f"{item.failure.doc_id} ({item.failure.reason})")

    written = write(directory, judged, documents())
    console.print(
        f"exported {len(judged.queries)} judged questions "
        f"({sum(map(len, judged.qrels.values()))} relevant documents) and a corpus of {written} documents "
        f"of collection {settings.collection!r} to {escape(str(directory))}"
    )
    if judged.unjudged:
        console.print(
            f"left out {len(judged.unjudged)} bad ratings that name no right document (--source): nothing to judge by"
        )
    if judged.unknown_docs:
        console.print(f"left out {len(judged.unknown_docs)} rated documents the collection no longer holds")
    if listing.total > len(listing.documents):
        console.print(
            f"[yellow]the corpus holds the first {len(listing.documents)} of {listing.total} documents[/yellow]"
        )
    if unread:
        console.print(
            f"[yellow]{len(unread)} documents not read from their sources:[/yellow] {escape(', '.join(unread[:10]))}"
        )
