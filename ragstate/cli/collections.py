"""`ragstate collections list|drop`: the store's collections, and deleting one.

ragstate collections list
ragstate collections drop scratch          # asks first; --yes for scripts
"""

from __future__ import annotations

import asyncio

import typer

from ragstate.cli._common import cli_settings, connect_client, console, fail

collections_app = typer.Typer(no_args_is_help=True, help="List collections or drop one.")


@collections_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="print the CollectionList as JSON")) -> None:
    """The collections of the store backend (through the ListCollections workflow)."""

    async def run():
        return await (await connect_client(cli_settings())).collections()

    listing = asyncio.run(run())
    if as_json:
        console.print_json(listing.model_dump_json())
        return
    console.print(
        f"{len(listing.collections)} in the {listing.backend} store"
        if listing.collections
        else f"no collections in the {listing.backend} store"
    )
    for name in listing.collections:
        console.print(f"  {name}")


@collections_app.command("drop")
def drop(
    name: str = typer.Argument(..., help="the collection to delete, with every document in it"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Delete a collection and everything in it (through the DropCollection workflow)."""
    from ragstate.store import check_collection_name

    try:
        check_collection_name(name)
    except ValueError as e:
        fail(str(e))
    try:
        confirmed = yes or typer.confirm(f"Drop collection {name!r} and every document in it?", default=False)
    except typer.Abort:  # no answer (stdin closed): as good as no
        confirmed = False
    if not confirmed:
        fail("not dropped (confirm, or pass --yes in scripts)")

    async def run():
        return await (await connect_client(cli_settings())).drop_collection(name)

    result = asyncio.run(run())
    if not result.dropped:
        fail(f"no collection named {name!r}")
    console.print(f"dropped collection {name!r}")
