"""What every command shares: the console, settings with command-line overrides, the error
exit, the client connection and the local dev server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from ragstate.settings import Settings

if TYPE_CHECKING:
    from ragstate.client import RagClient

console = Console()


def cli_settings(data_dir: Path | None = None, collection: str | None = None) -> Settings:
    overrides: dict[str, Any] = {
        k: v for k, v in {"data_dir": data_dir, "collection": collection}.items() if v is not None
    }
    return Settings(**overrides)


def _collection_name(value: str | None) -> str | None:
    from ragstate.models.names import check_collection_name

    try:
        return None if value is None else check_collection_name(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def collection_option(help: str = "the collection (default: RAGSTATE_COLLECTION)") -> Any:
    """Every command's ``--collection``: a name refused at the command line, before it reaches a
    path, a workflow or the server (ragstate/models/names.py)."""
    return typer.Option(None, metavar="NAME", help=help, callback=_collection_name)


def fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


async def connect_client(settings: Settings) -> RagClient:
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    from ragstate.client import RagClient

    # The core client's own retry warnings (one per gRPC retry while a server restarts) would
    # bury the command's output; the client says itself, once, that it is reconnecting.
    quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=quiet)), error_if_already_set=False)

    try:
        rag = await RagClient.connect(settings)
        return rag.for_tenant(settings.tenant) if settings.tenant else rag
    except RuntimeError as e:
        fail(
            f"cannot reach Temporal at {settings.temporal_address} ({e}). Start it with `ragstate up`, "
            "or set RAGSTATE_TEMPORAL_ADDRESS."
        )


@contextlib.contextmanager
def local_server(settings: Settings) -> Iterator[Settings]:
    """A dev server on the usual ports when they are free (else free ones), with settings
    pointing at it."""
    from ragstate.temporal.devserver import DevServer, free_port, port_open

    port = 7233 if not port_open("127.0.0.1", 7233) else free_port()
    ui_port = 8233 if not port_open("127.0.0.1", 8233) else free_port()
    with DevServer(settings.data_dir, port=port, ui_port=ui_port) as server:
        yield settings.model_copy(update={"temporal_address": server.address, "temporal_ui_url": server.ui_url})
