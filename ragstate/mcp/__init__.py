"""ragstate as a Model Context Protocol server (``ragstate mcp``, the ``mcp`` extra): the tools
``ask``, ``search``, ``ingest``, ``ingest_status``, ``documents`` and ``feedback`` and the
resource template ``ragstate://documents/{id}``, over stdio or streamable HTTP (docs/mcp.md).

Layout: ``schemas`` (tool results), ``inputs`` (argument checks), ``runs`` (a call as a query
run, with progress), ``tools``, ``resources``, ``server`` (build_server, stdio), ``http``
(API keys, uvicorn).

Example::

    from ragstate.mcp import build_server, serve_stdio
    server = build_server(Settings(), RagClient.connect)
    await serve_stdio(server)
"""

from ragstate.mcp.http import MCP_PATH, http_app, serve_http
from ragstate.mcp.schemas import AskResult, IngestRun, RankedSource, SearchResult, document_uri
from ragstate.mcp.server import build_server, serve_stdio
from ragstate.mcp.tools import RagTools

__all__ = [
    "MCP_PATH",
    "AskResult",
    "IngestRun",
    "RagTools",
    "RankedSource",
    "SearchResult",
    "build_server",
    "document_uri",
    "http_app",
    "serve_http",
    "serve_stdio",
]
