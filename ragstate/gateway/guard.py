"""Authentication and the body-size cap, before anything is read: a pure ASGI middleware, so
streaming responses stay streaming (``BaseHTTPMiddleware`` would buffer them).

Example::

    app.add_middleware(Guard, keys=["key-one"], max_body_bytes=1_000_000)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers

from ragstate.api_keys import ApiKeys
from ragstate.gateway.errors import ApiError, GatewayError

#: Paths that never ask for an API key (probes, and the API's description).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class Guard:
    """API key on every path but the open ones (:class:`~ragstate.api_keys.ApiKeys`: Bearer or
    ``x-api-key``, constant time against every key); and a Content-Length cap."""

    def __init__(self, app: Any, keys: list[str], max_body_bytes: int):
        self.app = app
        self.keys = ApiKeys(keys)
        self.max_body_bytes = max_body_bytes

    def _refusal(self, scope: dict) -> ApiError | None:
        headers = Headers(scope=scope)
        if scope["path"] not in OPEN_PATHS and not self.keys.allows(headers):
            return ApiError(
                GatewayError.UNAUTHORIZED,
                "missing or wrong API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="ragstate"'},
            )
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            return ApiError(GatewayError.INVALID_REQUEST, "Content-Length is not a number")
        if length is not None and int(length) > self.max_body_bytes:
            return ApiError(
                GatewayError.REQUEST_TOO_LARGE, f"request bodies are limited to {self.max_body_bytes} bytes"
            )
        return None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is not None:
            return await refusal.response()(scope, receive, send)
        return await self.app(scope, receive, send)
