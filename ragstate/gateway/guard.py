"""Authentication and the body-size cap, before anything is read: a pure ASGI middleware, so
streaming responses stay streaming (``BaseHTTPMiddleware`` would buffer them).

The cap holds however the body is framed: a Content-Length over it is refused at once, and a
body without one (chunked) is counted as it streams in and refused as soon as it passes the
cap: the app reads no further, so no more than the cap is ever held.

Example::

    app.add_middleware(Guard, keys=["key-one"], max_body_bytes=1_000_000)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from ragstate.gateway.errors import ApiError, GatewayError
from ragstate.security.api_keys import ApiKeys

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Paths that never ask for an API key (probes, and the API's description).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def too_large(max_body_bytes: int) -> ApiError:
    # No "Connection: close": closing with the client's bytes unread resets the connection, and
    # the reset can destroy the 413 before the client reads it; the server drains the rest unbuffered.
    return ApiError(GatewayError.REQUEST_TOO_LARGE, f"request bodies are limited to {max_body_bytes} bytes")


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passes the cap, to stop the app reading it."""


class CappedBody:
    """One request's ``receive`` and ``send``, counting the body as it arrives. Past the cap the
    413 goes out at once (unless the app's response has begun) and the app is stopped; whatever
    the app answers after that (the framework turns the exception into a 400) is dropped."""

    def __init__(self, scope: dict, receive: Receive, send: Send, max_body_bytes: int):
        self.scope, self._receive, self._send = scope, receive, send
        self.max_body_bytes = max_body_bytes
        self.received = 0
        self.response_started = False
        self.refused = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_body_bytes:
                if not self.response_started:
                    self.refused = True
                    await too_large(self.max_body_bytes).response()(self.scope, self._receive, self._send)
                raise BodyTooLarge(f"more than {self.max_body_bytes} bytes")
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)


class Guard:
    """API key on every path but the open ones (:class:`~ragstate.security.api_keys.ApiKeys`: Bearer or
    ``x-api-key``, constant time against every key); and the body-size cap."""

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
            return too_large(self.max_body_bytes)
        return None

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refusal(scope)
        if refusal is not None:
            return await refusal.response()(scope, receive, send)
        body = CappedBody(scope, receive, send, self.max_body_bytes)
        try:
            await self.app(scope, body.receive, body.send)
        except BodyTooLarge:
            if not body.refused:  # too late for a 413: the server ends the response
                raise
