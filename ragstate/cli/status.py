"""`ragstate status` and `ragstate register-search-attributes`: what runs on the server, and its setup.

ragstate status                       # the collection of --collection, else RAGSTATE_COLLECTION
ragstate status --json                # the same as one JSON object, for scripts and probes
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from ragstate.cli._common import cli_settings, collection_option, connect_client, console, fail
from ragstate.settings import Settings


def chosen_collection(settings: Settings, option: str | None) -> str | None:
    """The collection a command names: its option, else RAGSTATE_COLLECTION when set (in the
    environment or .env), else None (the worker's own default). ValueError for a bad name."""
    from ragstate.store import check_collection_name

    name = option if option is not None else settings.collection if "collection" in settings.model_fields_set else None
    return check_collection_name(name) if name is not None else None


def status(
    collection: str | None = collection_option(
        "the collection to count (default: RAGSTATE_COLLECTION, else the worker's)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the status as one JSON object"),
) -> None:
    """What is running (server, workers per task queue) and how much is indexed.

    Exit codes: 0 Temporal answered (with or without workers); 1 it could not be reached."""
    settings = cli_settings()
    try:
        name = chosen_collection(settings, collection)
    except ValueError as e:
        fail(str(e))
    report = asyncio.run(_status(settings, name, as_json))
    if as_json:
        print(json.dumps(report, indent=2))
        if not report["temporal"]["up"]:
            raise typer.Exit(1)


async def _connect_for_json(settings: Settings) -> Any:
    from ragstate.client import RagClient

    try:
        return await RagClient.connect(settings)
    except RuntimeError as e:
        return str(e)


async def _status(settings: Settings, collection: str | None, as_json: bool) -> dict[str, Any]:
    """The status as a dict (what --json prints); without --json, printed as it is found."""
    from ragstate.cli.render import count

    say = (lambda _text: None) if as_json else console.print
    temporal: dict[str, Any] = {
        "address": settings.temporal_address,
        "namespace": settings.temporal_namespace,
        "ui": settings.temporal_ui_url,
    }
    report: dict[str, Any] = {"temporal": temporal, "task_queues": [], "index": None, "index_error": None}
    rag = await _connect_for_json(settings) if as_json else await connect_client(settings)
    if isinstance(rag, str):  # --json, and Temporal did not answer
        temporal.update(up=False, error=rag)
        return report
    temporal.update(up=True, namespace=rag.client.namespace)
    say(
        f"Temporal: [green]up[/green] at {settings.temporal_address} (namespace {rag.client.namespace}); "
        f"UI {settings.temporal_ui_url}"
    )
    for queue, workflows in (
        (settings.workflow_task_queue, True),
        (settings.workflow_task_queue, False),
        (settings.embeddings_task_queue, False),
        (settings.llm_task_queue, False),
    ):
        n = await rag.pollers(queue, workflows=workflows)
        label = "workflows" if workflows else "activities"
        report["task_queues"].append({"name": queue, "kind": label, "pollers": n})
        say(
            f"  task queue {queue} ({label}): "
            + (f"[green]{count(n, 'poller')}[/green]" if n else "[yellow]no worker[/yellow]")
        )
    if not any(q["pollers"] for q in report["task_queues"]):
        report["index_error"] = "no worker running"
        say("index: unknown (no worker running; start one with `ragstate up` or `ragstate worker`)")
        return report
    try:
        stats = await asyncio.wait_for(rag.stats(collection), timeout=20)
    except Exception as e:
        report["index_error"] = str(e) or type(e).__name__
        say(f"index: [red]unavailable[/red] ({report['index_error']})")
        return report
    report["index"] = stats.model_dump(mode="json")
    say(
        f"index: {count(stats.documents, 'document')}, {count(stats.chunks, 'chunk')} in collection "
        f"{stats.collection!r} ({stats.backend} store)"
    )
    return report


def register_search_attributes() -> None:
    """Register RagKind and RagStatus on an existing Temporal server (self-hosted; for Temporal
    Cloud use `tcld namespace search-attributes add`)."""

    async def run() -> None:
        from temporalio.api.enums.v1 import IndexedValueType
        from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

        from ragstate.contracts import SEARCH_ATTRIBUTES

        rag = await connect_client(cli_settings())
        ops = rag.client.operator_service
        existing = (
            await ops.list_search_attributes(ListSearchAttributesRequest(namespace=rag.client.namespace))
        ).custom_attributes
        missing = {
            k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in SEARCH_ATTRIBUTES if k.name not in existing
        }
        if missing:
            await ops.add_search_attributes(
                AddSearchAttributesRequest(namespace=rag.client.namespace, search_attributes=missing)
            )
        console.print(
            f"search attributes registered: {', '.join(k.name for k in SEARCH_ATTRIBUTES)}"
            + (f" (added {', '.join(missing)})" if missing else " (already there)")
        )

    asyncio.run(run())
