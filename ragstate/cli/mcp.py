"""`ragstate mcp`: the Model Context Protocol server, over stdio (a desktop agent starts it) or
streamable HTTP (behind the gateway's API keys). docs/mcp.md."""

from __future__ import annotations

import typer

from ragstate.cli._common import cli_settings, fail


def mcp(
    http: bool = typer.Option(False, "--http", help="serve streamable HTTP on /mcp instead of stdio"),
    host: str | None = typer.Option(
        None, help="with --http; default: $RAGSTATE_GATEWAY_HOST or 127.0.0.1; beyond loopback only with API keys"
    ),
    port: int = typer.Option(8765, help="with --http"),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="with --http: listen beyond loopback without API keys (something in front authenticates)",
    ),
) -> None:
    """Serve ragstate's tools (ask, search, ingest, documents, ...) and documents to MCP agents (`mcp` extra)."""
    try:
        from ragstate.mcp import build_server, serve_http, serve_stdio
    except ImportError as e:
        from rich.markup import escape

        missing = (e.name or "mcp").split(".")[0]
        fail(escape(f"the MCP server needs the mcp extra ({missing} is not installed): pip install 'ragstate[mcp]'"))
    from ragstate.security.api_keys import UnsafeBind
    from ragstate.settings.gateway import GatewaySettings

    settings = cli_settings()
    if not http:
        import asyncio

        asyncio.run(serve_stdio(build_server(settings, _quiet_connect)))
        return
    gateway = GatewaySettings()
    server = build_server(settings, _quiet_connect, ingest_roots=gateway.roots())
    try:
        serve_http(server, host or gateway.host, port, gateway.keys(), insecure=insecure)
    except UnsafeBind as e:
        fail(str(e))


async def _quiet_connect(settings):
    """The client, without the Temporal core's own retry warnings on stderr (as every command)."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    from ragstate.client import RagClient

    quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=quiet)), error_if_already_set=False)
    return await RagClient.connect(settings)
