"""`ragstate serve`: the HTTP gateway."""

from __future__ import annotations

import typer


def serve(
    host: str | None = typer.Option(
        None, help="default: $RAGSTATE_GATEWAY_HOST or 127.0.0.1; beyond loopback only with API keys or --insecure"
    ),
    port: int | None = typer.Option(None, help="default: $PORT or 8080"),
    insecure: bool = typer.Option(
        False, "--insecure", help="listen beyond loopback without API keys (something in front authenticates)"
    ),
) -> None:
    """The HTTP gateway: /v1/query (JSON or SSE), /v1/ingest, /healthz, /readyz (`gateway` extra)."""
    from ragstate.gateway import main as gateway_main

    argv = (["--host", host] if host else []) + (["--port", str(port)] if port else [])
    gateway_main(argv + (["--insecure"] if insecure else []))
