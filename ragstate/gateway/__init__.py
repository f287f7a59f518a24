"""HTTP gateway: the query and ingest workflows behind a small JSON API (FastAPI).

Endpoints (OpenAPI at ``/openapi.json``, docs at ``/docs``)::

    POST /v1/query                {question, top_k?, sources?, doc_ids?, timeout_s?}  -> 200 answer
    POST /v1/query?stream=true    the same as Server-Sent Events (also POST /v1/query/stream)
    GET  /v1/queries/{id}         QueryStatus: running / completed (answer) / failed (error)
    POST /v1/ingest               {paths, collection?} -> 202 {workflow_id, status_url}
    GET  /v1/ingest/{id}          IngestStatus: progress, result and failed documents
    GET  /healthz                 the process is up
    GET  /readyz                  Temporal answers a cheap RPC (503 otherwise)

A query waits for its workflow up to a time budget (``timeout_s`` in the body, else the
``X-Request-Timeout`` header in seconds, else ``RAGSTATE_GATEWAY_DEFAULT_TIMEOUT_S``; never more
than ``RAGSTATE_GATEWAY_MAX_TIMEOUT_S``). Past it the workflow goes on and the answer says where
to fetch it: 504 with ``workflow_id`` and ``status_url``, or 429 with ``Retry-After`` when the
workflow is waiting out an LLM rate limit (``RagClient.llm_rate_limit``). Status codes (one
table, :data:`ragstate.gateway.errors.HTTP_STATUS`):

- 400 invalid input (bad JSON, wrong types, empty/too long/control characters: the same rules
  as ParseQuery, checked before anything starts); never 422
- 401 missing or wrong API key (when keys are configured); 403 ingest without ingest roots;
  413 body too large (however it is framed: counted as it streams in)
- 429 the gateway's own concurrency limit, or the LLM rate-limited beyond the budget
- 502 the workflow failed for good (LLM rejected the request, stayed unavailable or rate limited
  through its retries, both retrieval branches failed)
- 503 Temporal unreachable; 504 the budget ran out (the workflow goes on)

Every error body is ``{"error": {"type": ..., "message": ...}}``.

Streams (``?stream=true``, ``/v1/query/stream``) have no time budget (:mod:`.sse`); the
workflow id is in the ``X-Workflow-Id`` response header. Concurrency: at most
``RAGSTATE_GATEWAY_MAX_CONCURRENT_REQUESTS`` ``/v1`` requests at once per process (streams
included, for their whole length); beyond it 429 at once, never queued.

API keys (optional): ``RAGSTATE_GATEWAY_API_KEYS`` (comma-separated) and/or
``RAGSTATE_GATEWAY_API_KEYS_FILE`` (one per line), sent as ``Authorization: Bearer <key>`` or
``x-api-key``, checked before the body is read (:mod:`.guard`); 401 otherwise. ``/healthz``,
``/readyz`` and the API description stay open. Ingest paths are on the workers' filesystem:
ingest is refused (403) until ``RAGSTATE_GATEWAY_INGEST_ROOTS`` names the folders it may read,
compared on real paths by the gateway and again, for every file found, by the workers.

Safe by default (docs/security.md): it listens on 127.0.0.1; beyond loopback without API keys
it refuses to start unless ``--insecure``; query strings are masked in the access log.

Layout: ``settings`` (GatewaySettings), ``schemas`` (bodies), ``errors`` (ApiError, the status
table, exception handlers), ``guard`` (auth and body size), ``inputs`` (request checks),
``service`` (the Gateway), ``sse``, ``deps`` and ``routes/`` (APIRouters), ``access_log`` (query
strings masked), ``app`` (create_app, main).

Run it::

    python -m ragstate.gateway          # uvicorn on 127.0.0.1: $PORT (Cloud Run) or 8080

or build it in code::

    from ragstate.gateway import GatewaySettings, create_app

    app = create_app(settings, rag_client_factory=RagClient.connect, gateway=GatewaySettings(api_keys="k"))

The same app runs as an AWS Lambda function URL handler: :mod:`ragstate.gateway.aws_lambda`.
"""

from __future__ import annotations

from ragstate.gateway.app import create_app, main, parser
from ragstate.gateway.errors import HTTP_STATUS, ApiError, GatewayError
from ragstate.gateway.schemas import (
    ErrorDetail,
    ErrorResponse,
    Health,
    IngestAccepted,
    IngestBody,
    QueryRequest,
    QueryResponse,
)
from ragstate.gateway.service import DEADLINE_SCOPE_KEY, Gateway, RagClientFactory
from ragstate.settings.gateway import GatewaySettings

__all__ = [
    "DEADLINE_SCOPE_KEY",
    "HTTP_STATUS",
    "ApiError",
    "ErrorDetail",
    "ErrorResponse",
    "Gateway",
    "GatewayError",
    "GatewaySettings",
    "Health",
    "IngestAccepted",
    "IngestBody",
    "QueryRequest",
    "QueryResponse",
    "RagClientFactory",
    "create_app",
    "main",
    "parser",
]
