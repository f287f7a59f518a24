"""`ragstate serve`: the HTTP gateway."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("0.0.0.0"), port: int | None = typer.Option(None, help="default: $PORT or 8080")
) -> None:
    """The HTTP gateway: /v1/query (JSON or SSE), /v1/ingest, /healthz, /readyz (`gateway` extra)."""
    from ragstate.gateway import main as gateway_main

    gateway_main(["--host", host] + (["--port", str(port)] if port else []))
