"""The MCP server: ragstate's tools and document resources on an :class:`MCPServer` (the official
``mcp`` SDK), served over stdio (:func:`serve_stdio`) or streamable HTTP (:mod:`.http`).

Example::

    server = build_server(Settings(), RagClient.connect)
    await serve_stdio(server)
"""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver import MCPServer

from ragstate.mcp.resources import register_documents
from ragstate.mcp.tools import RagFactory, RagTools
from ragstate.settings import Settings

INSTRUCTIONS = (
    "ragstate answers questions from an indexed document collection, each call a durable Temporal "
    "workflow run. `search` ranks passages without an LLM; `ask` answers with numbered citations [n]; "
    "each source carries a `resource` URI (ragstate://documents/...) to read the whole document. "
    "Pass a `request_id` to ask/search so that asking again after a disconnect returns the same run."
)


def build_server(settings: Settings, connect: RagFactory, ingest_roots: list[Path] | None = None) -> MCPServer:
    """ragstate as an MCP server: the tools of :class:`RagTools` and the document resource
    template, over a client connected on first use by ``connect(settings)``. ``ingest_roots``:
    see :class:`RagTools` (None on stdio; the gateway's roots over HTTP)."""
    from ragstate import __version__

    server: MCPServer = MCPServer(
        "ragstate", title="ragstate", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    tools = RagTools(settings, connect, ingest_roots)
    tools.register(server)
    register_documents(server, tools)
    return server


async def serve_stdio(server: MCPServer) -> None:
    """Serve one client over this process's stdin and stdout (a desktop agent starts it)."""
    await server.run_stdio_async()
