"""Authentication and the body-size cap, before anything is read: a pure ASGI middleware, so
streaming responses stay streaming (``BaseHTTPMiddleware`` would buffer them).

The cap holds however the body is framed: a Content-Length over it is refused at once, and a
body without one (chunked) is counted as it streams in and refused as soon as it passes the
cap: the app reads no further, so no more than the cap is ever held.

Example::

    app.add_middleware(Guard, resolver=KeyResolver(["key-one"]), max_body_bytes=1_000_000)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from ragstate.gateway.errors import ApiError, GatewayError
from ragstate.gateway.principal import PRINCIPAL, audit
from ragstate.security.tenant_keys import OPEN_PRINCIPAL, KeyResolver, KeyTableUnavailable, Principal

#: One line per authenticated /v1 request: method, path, status, tenant and key id.
access_log = logging.getLogger("ragstate.gateway.access")

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
        self.status: int | None = None

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
            self.status = message.get("status")
        await self._send(message)


class Guard:
    """The request's key on every path but the open ones, resolved to a principal
    (:class:`~ragstate.security.tenant_keys.KeyResolver`: Bearer or ``x-api-key``; a wrong,
    missing or revoked key is 401, audited), and the body-size cap."""

    def __init__(self, app: Any, resolver: KeyResolver, max_body_bytes: int):
        self.app = app
        self.resolver = resolver
        self.max_body_bytes = max_body_bytes

    async def _principal(self, scope: dict, headers: Headers) -> Principal | ApiError:
        if scope["path"] in OPEN_PATHS:
            return OPEN_PRINCIPAL
        try:
            principal = await self.resolver.resolve(headers)
        except KeyTableUnavailable as e:
            return ApiError(GatewayError.TEMPORAL_UNAVAILABLE, f"{e}: retry shortly")
        if principal is None:
            audit(
                f"{scope.get('method', '')} {scope['path']}",
                "denied: missing, wrong or revoked key",
                principal=Principal("unknown", "none", frozenset()),
            )
            return ApiError(
                GatewayError.UNAUTHORIZED,
                "missing or wrong API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="ragstate"'},
            )
        return principal

    def _body_refusal(self, headers: Headers) -> ApiError | None:
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            return ApiError(GatewayError.INVALID_REQUEST, "Content-Length is not a number")
        if length is not None and int(length) > self.max_body_bytes:
            return too_large(self.max_body_bytes)
        return None

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        principal = await self._principal(scope, headers)
        refusal = principal if isinstance(principal, ApiError) else self._body_refusal(headers)
        if refusal is not None:
            return await refusal.response()(scope, receive, send)
        assert isinstance(principal, Principal)
        token = PRINCIPAL.set(principal)
        # The access log says which key acted (its public id, never the key).
        scope.setdefault("state", {}).update(key_id=principal.key_id, tenant=principal.tenant)
        body = CappedBody(scope, receive, send, self.max_body_bytes)
        started = time.perf_counter()
        try:
            await self.app(scope, body.receive, body.send)
        except BodyTooLarge:
            if not body.refused:  # too late for a 413: the server ends the response
                raise
        finally:
            PRINCIPAL.reset(token)
            if scope["path"] not in OPEN_PATHS:
                # Which key acted (its public id, never the key; the path without its query string).
                access_log.info(
                    "%s %s %s tenant=%s key=%s %.0f ms",
                    scope.get("method", ""),
                    scope["path"],
                    body.status or "-",
                    principal.tenant,
                    principal.key_id,
                    (time.perf_counter() - started) * 1000,
                )
