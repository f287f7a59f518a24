"""The app factory, and the uvicorn entry point (``python -m ragstate.gateway``).

Example::

    app = create_app(Settings(), rag_client_factory=my_factory, gateway=GatewaySettings(api_keys="k"))
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Annotated, Any

from fastapi import FastAPI, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from ragstate.gateway.access_log import hide_query_secrets
from ragstate.gateway.errors import add_exception_handlers
from ragstate.gateway.guard import Guard
from ragstate.gateway.metrics import instrument
from ragstate.gateway.routes import health, v1
from ragstate.gateway.schemas import MAX_INGEST_PATHS, documented_errors
from ragstate.gateway.service import Gateway, RagClientFactory, default_factory
from ragstate.models.validation import MAX_FILTER_VALUES
from ragstate.observability.logs import configure_logging
from ragstate.security.api_keys import ApiKeys, UnsafeBind, check_bind
from ragstate.settings import Settings
from ragstate.settings.gateway import GatewaySettings

DESCRIPTION = "HTTP gateway: the query and ingest workflows behind a small JSON API (FastAPI)."


def create_app(
    settings: Settings | None = None,
    rag_client_factory: RagClientFactory | None = None,
    gateway: GatewaySettings | None = None,
) -> FastAPI:
    """The gateway as a FastAPI app.

    ``settings`` (Temporal address, task queues, query limits) default to ``RAGSTATE_*``,
    ``gateway`` to ``RAGSTATE_GATEWAY_*``; ``rag_client_factory(settings)`` returns the
    :class:`~ragstate.client.RagClient` (default :meth:`RagClient.connect`), called on first use.
    """
    settings = settings or Settings()
    gateway = gateway or GatewaySettings()
    keys = gateway.keys()
    # No slash redirects: an API client gets a JSON 404 for /v1/ingest/, not a bare 307.
    app = FastAPI(
        title="ragstate gateway",
        version="1",
        description=DESCRIPTION,
        separate_input_output_schemas=False,
        redirect_slashes=False,
    )
    service = Gateway(settings, gateway, rag_client_factory or default_factory)
    app.state.gateway = service
    resolver = service.key_resolver(gateway.keys if gateway.api_keys_file else keys)
    app.add_middleware(Guard, resolver=resolver, max_body_bytes=gateway.max_body_bytes)
    add_exception_handlers(app)
    if resolver.enabled:
        app.include_router(v1, dependencies=[Security(_documented_auth)], responses=documented_errors(401))
    else:
        app.include_router(v1)
    app.include_router(health)
    _patch_openapi(app, settings)
    instrument(app)
    return app


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="x-api-key", auto_error=False, description="x-api-key: <API key>")


async def _documented_auth(_b: Annotated[Any, Security(_bearer)], _k: Annotated[Any, Security(_api_key)]) -> None:
    """Only describes the schemes in OpenAPI; the key is checked (by :class:`Guard`) before the
    body is read."""


def _constrain(prop: dict, **keywords: Any) -> None:
    """Add keywords to a property's schema (to each non-null alternative of an Optional)."""
    for alternative in prop.get("anyOf", [prop]):
        if alternative.get("type") != "null":
            alternative.update(keywords)


def _patch_openapi(app: FastAPI, settings: Settings) -> None:
    """400 (not 422) is what invalid input gets; and the schema states this deployment's limits
    (ParseQuery's rules, checked by :func:`ragstate.models.validation.validate`)."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default_openapi()  # cached in app.openapi_schema: patched once
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        query = components["QueryRequest"]["properties"]
        _constrain(query["question"], minLength=1)
        _constrain(query["top_k"], minimum=1, maximum=settings.max_top_k)
        for name in ("sources", "doc_ids"):
            _constrain(query[name], minItems=1, maxItems=MAX_FILTER_VALUES)
        paths = components["IngestBody"]["properties"]["paths"]
        _constrain(paths, minItems=1, maxItems=MAX_INGEST_PATHS)
        _constrain(paths["items"], minLength=1)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def parser(gateway: GatewaySettings | None = None) -> argparse.ArgumentParser:
    gateway = gateway or GatewaySettings()
    p = argparse.ArgumentParser(prog="python -m ragstate.gateway", description="the ragstate HTTP gateway")
    p.add_argument(
        "--host",
        default=gateway.host,
        help="default: RAGSTATE_GATEWAY_HOST or 127.0.0.1; beyond loopback only with API keys or --insecure",
    )
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT") or gateway.port))
    p.add_argument(
        "--insecure",
        action="store_true",
        help="listen beyond loopback without API keys (only behind something that authenticates every request)",
    )
    p.add_argument("--log-level", default=None, help="default: RAGSTATE_LOG_LEVEL (INFO)")
    return p


def main(argv: list[str] | None = None) -> None:
    """``python -m ragstate.gateway``: uvicorn on ``$PORT`` (Cloud Run) or the configured port.
    Beyond loopback without API keys it refuses to start (exit 1, the reason on stderr) unless
    ``--insecure``."""
    import uvicorn

    settings, gateway = Settings(), GatewaySettings()
    args = parser(gateway).parse_args(argv)
    try:
        keys = gateway.keys() or (["tenant keys"] if gateway.tenant_keys else [])
        check_bind(args.host, ApiKeys(keys), insecure=args.insecure, what="gateway")
    except UnsafeBind as e:
        sys.exit(str(e))  # the reason, without a traceback
    configure_logging(settings, level=args.log_level)
    hide_query_secrets()
    # uvicorn drains on SIGTERM, then re-raises the signal to the handler it found: with Python's
    # default the process died by it (exit -15), which an orchestrator counts as a crash. These
    # handlers turn the re-raised signal into the exit code of a clean drain.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    uvicorn.run(
        create_app(settings, gateway=gateway),
        host=args.host,
        port=args.port,
        log_config=None,  # configure_logging's handler, format and redaction, not uvicorn's own
        log_level=(args.log_level or settings.log_level).lower(),
        proxy_headers=True,
        timeout_graceful_shutdown=int(min(gateway.max_timeout_s, 30)),
    )
