"""A remote codec server (Temporal's codec protocol), so that the Temporal web UI and the
``temporal`` CLI show decrypted payloads to people who hold a credential.

    ragstate codec-server                       # 127.0.0.1:8081, keys from RAGSTATE_PAYLOAD_KEYS
    temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081
    temporal workflow show -w ID --codec-endpoint http://127.0.0.1:8081 --codec-auth "Bearer $KEY"

Endpoints: ``POST /encode`` and ``POST /decode``, each taking and returning
``{"payloads": [{"metadata": {...}, "data": "..."}]}`` (protobuf JSON of ``Payloads``);
``GET /healthz``. CORS answers the UI's origins (``RAGSTATE_CODEC_CORS_ORIGINS``, default the
local UI, ``http://localhost:8233``), including the ``X-Namespace`` and ``Authorization``
headers it sends.

Credential: the gateway's own API keys (``RAGSTATE_GATEWAY_API_KEYS`` or ``_API_KEYS_FILE``), or
with ``RAGSTATE_GATEWAY_TENANT_KEYS=true`` a tenant key with the ``admin`` or ``decode`` scope
(never a key that may only query or ingest), as ``Authorization: Bearer <key>`` or
``x-api-key``; with no keys configured it serves loopback only
(a non-loopback address is refused unless ``--insecure``). Temporal Cloud's UI passes the
user's access token as the bearer token when "Pass access token" is on.

Example::

    app = create_codec_app(EncryptionCodec(parse_keys(spec)), KeyResolver(["k"]), ["http://localhost:8233"])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from ragstate.models.keys import Scope
from ragstate.observability.audit import audit_line
from ragstate.security.codec import EncryptionCodec, PayloadKeyError
from ragstate.security.tenant_keys import KeyResolver, KeyTableUnavailable

log = logging.getLogger("ragstate.codec_server")

DEFAULT_CORS_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
#: Far above what a history page asks for at once, far below what would hurt the process.
MAX_BODY_BYTES = 8_000_000
#: The names a loopback codec server answers to. Any other Host header is refused: a web page
#: that rebinds its own DNS name to 127.0.0.1 would otherwise reach it from the browser.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


async def _capped_body(request: Request) -> bytes | None:
    """The body, read no further than :data:`MAX_BODY_BYTES` (None past it): a declared length
    over the cap is refused before reading, and a body that does not declare one (chunked) is
    cut off as it streams, so an oversized request never sits in memory whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def create_codec_app(
    codec: EncryptionCodec,
    keys: KeyResolver,
    cors_origins: Sequence[str] = DEFAULT_CORS_ORIGINS,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
) -> FastAPI:
    """The codec server as a FastAPI app, answering only requests whose Host is one of
    ``allowed_hosts`` (``"*"``: any)."""
    app = FastAPI(title="ragstate codec server", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    # CORS outermost: a preflight (OPTIONS, no credential) is answered before the key check.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_credentials=True,
        allow_methods=["POST", "GET", "OPTIONS"],
        allow_headers=["content-type", "x-namespace", "authorization", "x-api-key"],
    )
    # Added last, so outermost: a request for another host name is refused before anything else.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    async def convert(request: Request, decode: bool) -> JSONResponse:
        try:
            principal = await keys.resolve(request.headers)
        except KeyTableUnavailable as e:
            return _error(503, "TemporalUnavailable", str(e))
        if principal is None:
            return _error(401, "Unauthorized", "missing or wrong credential: send 'Authorization: Bearer <key>'")
        if not principal.allows(Scope.decode):
            audit_line(
                "decode" if decode else "encode",
                "denied: missing scope",
                tenant=principal.tenant,
                key_id=principal.key_id,
                missing=Scope.decode.value,
            )
            return _error(403, "Forbidden", "this key may not decode or encode payloads (scope admin or decode)")
        body = await _capped_body(request)
        if body is None:
            return _error(413, "RequestTooLarge", f"bodies are limited to {MAX_BODY_BYTES} bytes")
        try:
            payloads = json_format.Parse(body or b"{}", Payloads()).payloads
        except json_format.ParseError as e:
            return _error(400, "InvalidRequest", f"not a Payloads JSON body: {e}")
        try:
            converted = await (codec.decode(payloads) if decode else codec.encode(payloads))
        except PayloadKeyError as e:
            return _error(422, "PayloadKeyError", str(e))
        log.info(
            "%s %d payloads (namespace %s)",
            "decoded" if decode else "encoded",
            len(converted),
            request.headers.get("x-namespace", "?"),
        )
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=converted)))

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        return await convert(request, decode=True)

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        return await convert(request, decode=False)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
