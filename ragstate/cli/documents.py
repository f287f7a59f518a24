"""`ragstate documents list|delete`: what a collection holds, and removing documents from it.

ragstate documents list --source docs/          # id, title, source, chunks, version, ingested at
ragstate documents list --json
ragstate documents delete docs/old.md some-doc-id docs/archive/
"""

from __future__ import annotations

import asyncio

import typer

from ragstate.cli._common import cli_settings, collection_option, connect_client, console

documents_app = typer.Typer(no_args_is_help=True, help="List or delete the documents of a collection.")


@documents_app.command("list")
def list_(
    source: str | None = typer.Option(None, "--source", help="only documents whose source starts with this path"),
    collection: str | None = collection_option(),
    limit: int = typer.Option(1000, min=1, max=10_000, help="list at most this many"),
    as_json: bool = typer.Option(False, "--json", help="print the DocumentList as JSON"),
) -> None:
    """List the documents of a collection (through the ListDocuments workflow)."""
    from ragstate.cli.render import print_documents

    async def run():
        rag = await connect_client(cli_settings())
        return await rag.documents(source, collection, limit)

    listing = asyncio.run(run())
    if as_json:
        console.print_json(listing.model_dump_json())
    else:
        print_documents(console, listing)


@documents_app.command("delete")
def delete(
    targets: list[str] = typer.Argument(..., help="doc ids, source files or folders (every document under it)"),
    collection: str | None = collection_option(),
) -> None:
    """Delete documents by id, source file or folder (through the DeleteDocuments workflow)."""
    from ragstate.cli.render import count

    async def run():
        rag = await connect_client(cli_settings())
        return await rag.delete_documents(targets, collection)

    result = asyncio.run(run())
    console.print(
        f"deleted {count(result.documents, 'document')} ({count(result.chunks, 'chunk')}) "
        f"from collection {result.collection!r}"
    )
