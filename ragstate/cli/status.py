"""`ragstate status` and `ragstate register-search-attributes`: what runs on the server, and its setup."""

from __future__ import annotations

import asyncio

from ragstate.cli._common import cli_settings, connect_client, console
from ragstate.settings import Settings


def status() -> None:
    """What is running (server, workers per task queue) and how much is indexed."""
    asyncio.run(_status(cli_settings()))


async def _status(settings: Settings) -> None:
    rag = await connect_client(settings)
    console.print(
        f"Temporal: [green]up[/green] at {settings.temporal_address} (namespace {rag.client.namespace}); "
        f"UI {settings.temporal_ui_url}"
    )
    any_worker = False
    for queue, workflows in (
        (settings.workflow_task_queue, True),
        (settings.workflow_task_queue, False),
        (settings.embeddings_task_queue, False),
        (settings.llm_task_queue, False),
    ):
        n = await rag.pollers(queue, workflows=workflows)
        any_worker |= n > 0
        label = "workflows" if workflows else "activities"
        console.print(
            f"  task queue {queue} ({label}): "
            + (f"[green]{n} poller(s)[/green]" if n else "[yellow]no worker[/yellow]")
        )
    if not any_worker:
        console.print("index: unknown (no worker running; start one with `ragstate up` or `ragstate worker`)")
        return
    try:
        stats = await asyncio.wait_for(rag.stats(), timeout=20)
    except Exception as e:
        console.print(f"index: [red]unavailable[/red] ({e})")
        return
    console.print(
        f"index: {stats.documents} documents, {stats.chunks} chunks in collection {stats.collection!r} "
        f"({stats.backend} store)"
    )


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
