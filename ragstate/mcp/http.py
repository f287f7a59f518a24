"""The MCP server over streamable HTTP, behind the HTTP gateway's API keys
(``RAGSTATE_GATEWAY_API_KEYS`` / ``_API_KEYS_FILE``, sent as ``Authorization: Bearer <key>`` or
``x-api-key``) and the gateway's bind rule: loopback by default; beyond it only with keys or
``insecure``.

Example::

    app = http_app(server, keys=["k-1"])        # an ASGI app: /mcp
    serve_http(server, "127.0.0.1", 8765, keys=["k-1"])
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.datastructures import Headers

from ragstate.security.api_keys import ApiKeys, check_bind

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

#: Where the MCP endpoint is served.
MCP_PATH = "/mcp"
#: The 401's body, in the gateway's error shape.
UNAUTHORIZED = json.dumps(
    {
        "error": {
            "type": "Unauthorized",
            "message": "missing or wrong API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
        }
    }
).encode()


class KeyGuard:
    """Every HTTP request needs one of the keys (none configured: open, which only a loopback
    bind allows, :func:`serve_http`); lifespan events pass through."""

    def __init__(self, app: ASGIApp, keys: list[str]):
        self.app = app
        self.keys = ApiKeys(keys)

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http" or self.keys.allows(Headers(scope=scope)):
            return await self.app(scope, receive, send)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(UNAUTHORIZED)).encode()),
            (b"www-authenticate", b'Bearer realm="ragstate"'),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": UNAUTHORIZED})


def http_app(server: MCPServer, keys: list[str], host: str = "127.0.0.1") -> ASGIApp:
    """The streamable HTTP app (``/mcp``; its lifespan runs the SDK's session manager) behind
    :class:`KeyGuard`. On a loopback ``host`` the SDK also checks Host and Origin headers (DNS
    rebinding)."""
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    return KeyGuard(app, keys)


def serve_http(server: MCPServer, host: str, port: int, keys: list[str], *, insecure: bool = False) -> None:
    """Run it under uvicorn until stopped. :class:`~ragstate.security.api_keys.UnsafeBind` for a
    non-loopback ``host`` without keys, unless ``insecure``."""
    import uvicorn

    check_bind(host, ApiKeys(keys), insecure=insecure, what="MCP server")
    uvicorn.run(http_app(server, keys, host), host=host, port=port, log_config=None, log_level="warning")
