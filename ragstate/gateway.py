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
workflow is waiting out an LLM rate limit. Status codes:

- 400 invalid input (bad JSON, wrong types, empty/too long/control characters: the same rules
  as ParseQuery, checked before anything starts); never 422
- 401 missing or wrong API key (when keys are configured); 413 body too large
- 429 the gateway's own concurrency limit, or the LLM rate-limited beyond the budget
- 502 the workflow failed for good (LLM rejected the request or stayed unavailable through its
  retries, both retrieval branches failed)
- 503 Temporal unreachable; 504 the budget ran out (the workflow goes on)

Every error body is ``{"error": {"type": ..., "message": ..., ...}}``.

Streams (``?stream=true``, ``/v1/query/stream``) have no time budget: they end with the
``final`` or ``error`` event (or, under an adapter's deadline, an ``error`` event of type
``Timeout``), send a ``: keep-alive`` comment when idle, and a client that disconnects only
stops the reading: the workflow runs to completion and its answer stays at ``/v1/queries/{id}``
(the id is in the ``X-Workflow-Id`` response header).

Concurrency: at most ``RAGSTATE_GATEWAY_MAX_CONCURRENT_REQUESTS`` ``/v1`` requests at once per
process (streams included, for their whole length); beyond it 429 at once, never queued.

API keys (optional): ``RAGSTATE_GATEWAY_API_KEYS`` (comma-separated) and/or
``RAGSTATE_GATEWAY_API_KEYS_FILE`` (one per line), sent as ``Authorization: Bearer <key>`` or
``x-api-key``, compared in constant time against every key before the body is read; 401
otherwise. ``/healthz``, ``/readyz`` and the API description stay open. Ingest paths are on the
workers' filesystem: set ``RAGSTATE_GATEWAY_INGEST_ROOTS`` to confine them.

Run it::

    python -m ragstate.gateway          # uvicorn on $PORT (Cloud Run) or RAGSTATE_GATEWAY_PORT (8080)

or build it in code: ``create_app(settings, rag_client_factory=...)``. The same app runs as an
AWS Lambda function URL handler: :mod:`ragstate.gateway_lambda`.
"""

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import os
import re
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Header, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from ragstate.client import InvalidQueryError, RagClient, RagError, failure_of
from ragstate.conventions import query_workflow_id
from ragstate.models import (
    AnswerMode, Citation, IngestRequest, IngestStatus, QueryStatus, RagAnswer, RagQuery, StepTiming,
    StreamEvent, StreamEventType, Usage,
)
from ragstate.settings import Settings
from ragstate.validation import MAX_FILTER_VALUES, InvalidQuery, validate

log = logging.getLogger("ragstate.gateway")

#: Scope key an adapter (e.g. the Lambda handler) sets to a ``time.monotonic()`` deadline: time
#: budgets and streams end before it, so the answer (504, an error event) still gets out.
DEADLINE_SCOPE_KEY = "ragstate.deadline"
#: Paths that never ask for an API key (probes, and the API's description).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
MAX_INGEST_PATHS = 1000
#: Request bodies may ask for at most this budget; the gateway caps it further at max_timeout_s.
TIMEOUT_SCHEMA_MAX_S = 3600.0
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
QUERY_WORKFLOW_TYPE = "RagQuery"
INGEST_WORKFLOW_TYPE = "Ingest"
#: ApplicationError types of the query workflow and the status each maps to when it fails for good.
FAILURE_STATUS = {"InvalidQuery": 400, "LLMRequestRejected": 502, "LLMUnavailable": 502, "RetrievalFailed": 502}


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


class GatewaySettings(BaseSettings):
    """The gateway's own settings, env prefix ``RAGSTATE_GATEWAY_`` (Temporal, task queues and the
    rest come from :class:`ragstate.settings.Settings` as everywhere else)."""

    model_config = SettingsConfigDict(env_prefix="RAGSTATE_GATEWAY_", env_file=".env", extra="ignore")

    api_keys: SecretStr | None = Field(
        default=None, description="comma-separated API keys; with api_keys_file, either one is accepted")
    api_keys_file: Path | None = Field(default=None, description="one API key per line (# comments allowed)")
    max_concurrent_requests: int = Field(default=64, ge=1, description="beyond this, /v1 requests get 429")
    default_timeout_s: float = Field(default=30.0, gt=0, description="a query's time budget when it names none")
    max_timeout_s: float = Field(default=300.0, gt=0, description="the most a request may ask for")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="connecting to Temporal")
    ready_timeout_s: float = Field(default=2.0, gt=0, description="/readyz: connect + one cheap RPC")
    sse_keepalive_s: float = Field(default=15.0, gt=0, description="an SSE comment line when idle this long")
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    ingest_roots: str | None = Field(
        default=None, description=f"'{os.pathsep}'-separated folders POST /v1/ingest may name (checked "
                                  "lexically; relative paths are taken under the first); unset: any path")
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535, description="$PORT wins (Cloud Run)")

    @model_validator(mode="after")
    def _check(self) -> "GatewaySettings":
        if self.default_timeout_s > self.max_timeout_s:
            raise ValueError("default_timeout_s must not exceed max_timeout_s")
        return self

    def keys(self) -> list[str]:
        """Every accepted API key; empty means no authentication."""
        keys = []
        if self.api_keys is not None:
            keys += [k.strip() for k in self.api_keys.get_secret_value().split(",")]
        if self.api_keys_file is not None:
            for line in self.api_keys_file.read_text(encoding="utf-8").splitlines():
                if not line.strip().startswith("#"):
                    keys.append(line.strip())
        return [k for k in keys if k]

    def roots(self) -> list[Path]:
        if not self.ingest_roots:
            return []
        return [Path(os.path.normpath(os.path.abspath(r))) for r in self.ingest_roots.split(os.pathsep) if r.strip()]


# ---------------------------------------------------------------------------------------------
# Request and response bodies
# ---------------------------------------------------------------------------------------------


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"question": "What does reciprocal rank fusion do?", "top_k": 5}]})

    question: str = Field(description="the question (not empty, no control characters, RAGSTATE_MAX_QUERY_CHARS)")
    top_k: int | None = Field(default=None, description="sources to cite (1..RAGSTATE_MAX_TOP_K)")
    sources: list[str] | None = Field(default=None, description="only chunks from these sources")
    doc_ids: list[str] | None = Field(default=None, description="only chunks of these documents")
    timeout_s: float | None = Field(default=None, gt=0, le=TIMEOUT_SCHEMA_MAX_S, allow_inf_nan=False,
                                    description="time budget in seconds (else X-Request-Timeout, else the default)")


class QueryResponse(BaseModel):
    question: str
    answer: str
    citations: list[Citation]
    usage: Usage
    mode: AnswerMode
    model: str | None = None
    degraded: bool
    degraded_reasons: list[str]
    timings: list[StepTiming]
    workflow_id: str
    run_id: str
    ui_link: str


class IngestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"paths": ["examples/corpus"]}]})

    paths: list[str] = Field(description=f"files or folders on the workers' filesystem (1..{MAX_INGEST_PATHS})")
    collection: str | None = Field(default=None, pattern=COLLECTION_NAME.pattern,
                                   description="letters, digits, '-' and '_'; the default collection when unset")


class IngestAccepted(BaseModel):
    workflow_id: str
    status_url: str
    ui_link: str


class ErrorDetail(BaseModel):
    type: str = Field(description="e.g. InvalidRequest, InvalidQuery, Unauthorized, TooManyRequests, "
                                  "LLMRateLimited, LLMRequestRejected, LLMUnavailable, Timeout, TemporalUnavailable")
    message: str
    workflow_id: str | None = None
    status_url: str | None = None
    ui_link: str | None = None
    retry_after_s: int | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str


_DESCRIPTIONS = {
    400: "invalid request", 401: "missing or wrong API key", 404: "no such workflow",
    413: "request body too large", 429: "too many requests, or the LLM is rate limited (Retry-After)",
    502: "the workflow failed for good", 503: "Temporal is unreachable",
    504: "the time budget ran out; the workflow goes on (workflow_id, status_url)",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class ApiError(Exception):
    """Raised anywhere in a handler; becomes a JSON error response."""

    def __init__(self, status: int, type: str, message: str, *, headers: dict[str, str] | None = None,  # noqa: A002
                 **extra: Any):
        super().__init__(message)
        self.status, self.type, self.message = status, type, message
        self.headers = headers or {}
        self.extra = {k: v for k, v in extra.items() if v is not None}


def error_response(status: int, type: str, message: str, headers: dict[str, str] | None = None,  # noqa: A002
                   **extra: Any) -> JSONResponse:
    detail = {"type": type, "message": message, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def _validation_message(errors: list[dict]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more if parts else "invalid request"


def _rpc_error(e: RPCError) -> ApiError:
    if e.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return ApiError(503, "TemporalUnavailable", f"Temporal did not answer: {e.message}")
    if e.status is RPCStatusCode.RESOURCE_EXHAUSTED:
        return ApiError(429, "TooManyRequests", f"Temporal is rate limiting: {e.message}",
                        headers={"Retry-After": "1"}, retry_after_s=1)
    return ApiError(502, "TemporalError", f"Temporal answered {e.status.name if e.status else 'an error'}: {e.message}")


def _failure(err: BaseException) -> tuple[str, str]:
    """(message, type) of a workflow failure, as the client reports it (``failure_of``), with
    "WorkflowFailed" for a failure of no known type."""
    message, kind = failure_of(err)
    return message, kind or "WorkflowFailed"


def _check_text(value: str, name: str, control: bool = True) -> None:
    """Strings go into workflow history as JSON: no lone surrogates; and, with ``control``, no
    control characters (the question's own rules are :func:`ragstate.validation.validate`'s)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "InvalidRequest", f"{name} is not valid Unicode (lone surrogate)") from None
    if control and any(unicodedata.category(c) == "Cc" for c in value):
        raise ApiError(400, "InvalidRequest", f"{name} contains control characters; remove them")


# ---------------------------------------------------------------------------------------------
# Authentication and body size, before anything is read
# ---------------------------------------------------------------------------------------------


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class _Guard:
    """Pure ASGI middleware (streaming stays streaming): API key on every path but the open ones,
    compared in constant time against every key; and a Content-Length cap."""

    def __init__(self, app: Any, keys: list[str], max_body_bytes: int):
        self.app = app
        self.digests = [_digest(k) for k in keys]
        self.max_body_bytes = max_body_bytes

    def _authorised(self, headers: Headers) -> bool:
        given = headers.get("x-api-key")
        if not given:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else ""
        if not given:
            return False
        digest = _digest(given)
        ok = False
        for expected in self.digests:  # every key, no early exit
            ok |= hmac.compare_digest(digest, expected)
        return ok

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        if self.digests and scope["path"] not in OPEN_PATHS and not self._authorised(headers):
            response = error_response(401, "Unauthorized", "missing or wrong API key: send "
                                      "'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                                      headers={"WWW-Authenticate": 'Bearer realm="ragstate"'})
            return await response(scope, receive, send)
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            response = error_response(400, "InvalidRequest", "Content-Length is not a number")
            return await response(scope, receive, send)
        if length is not None and int(length) > self.max_body_bytes:
            response = error_response(413, "RequestTooLarge", f"request bodies are limited to {self.max_body_bytes} bytes")
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# The gateway
# ---------------------------------------------------------------------------------------------

RagClientFactory = Callable[[Settings], Awaitable[RagClient]]


async def _default_factory(settings: Settings) -> RagClient:
    return await RagClient.connect(settings)


class Gateway:
    """State shared by the routes: the (lazily connected) client and the concurrency limit."""

    def __init__(self, settings: Settings, gateway: GatewaySettings, factory: RagClientFactory):
        self.settings = settings
        self.gw = gateway
        self.factory = factory
        self._rag: RagClient | None = None
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(gateway.max_concurrent_requests)

    # --- plumbing ------------------------------------------------------------------------------

    async def rag(self, timeout: float | None = None) -> RagClient:
        """The client, connected on first use (the process starts, and /healthz answers, while
        Temporal is still unreachable); a failed connect is retried by the next request."""
        if self._rag is not None:
            return self._rag
        async with self._lock:
            if self._rag is None:
                try:
                    self._rag = await asyncio.wait_for(self.factory(self.settings),
                                                       timeout or self.gw.connect_timeout_s)
                except (asyncio.TimeoutError, RuntimeError, RPCError, OSError) as e:
                    raise ApiError(503, "TemporalUnavailable",
                                   f"cannot reach Temporal at {self.settings.temporal_address}: "
                                   f"{str(e) or type(e).__name__}") from e
        return self._rag

    async def slot(self) -> Callable[[], None]:
        """Take a request slot at once or answer 429 (never queue); returns an idempotent release."""
        if self._slots.locked():
            raise ApiError(429, "TooManyRequests",
                           f"the gateway is serving its limit of {self.gw.max_concurrent_requests} requests; retry shortly",
                           headers={"Retry-After": "1"}, retry_after_s=1)
        await self._slots.acquire()  # not locked: returns at once, without suspending
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._slots.release()

        return release

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """A request slot for the duration of a block (429 when none is free)."""
        release = await self.slot()
        try:
            yield
        finally:
            release()

    def budget(self, request: Request, body_timeout: float | None, header_timeout: float | None) -> float:
        budget = body_timeout or header_timeout or self.gw.default_timeout_s
        budget = min(budget, self.gw.max_timeout_s)
        deadline = request.scope.get(DEADLINE_SCOPE_KEY)
        if deadline is not None:
            budget = min(budget, max(0.1, deadline - time.monotonic()))
        return budget

    @staticmethod
    def url(request: Request, *parts: str) -> str:
        return request.scope.get("root_path", "") + "/".join(parts[:1] + tuple(quote(p, safe="") for p in parts[1:]))

    # --- query ---------------------------------------------------------------------------------

    def rag_query(self, body: QueryRequest) -> RagQuery:
        _check_text(body.question, "question", control=False)
        for name in ("sources", "doc_ids"):
            for value in getattr(body, name) or ():
                _check_text(value, name)
        query = RagQuery(question=body.question, top_k=body.top_k, sources=body.sources, doc_ids=body.doc_ids)
        try:
            validate(query, self.settings)
        except InvalidQuery as e:
            raise ApiError(400, "InvalidQuery", str(e)) from None
        return query

    async def ask(self, request: Request, query: RagQuery, budget: float) -> QueryResponse | JSONResponse:
        started = time.monotonic()
        rag = await self.rag()
        handle = await rag.start_query(query)
        remaining = max(0.05, budget - (time.monotonic() - started))
        try:
            answer: RagAnswer = await asyncio.wait_for(handle.result(), remaining)
        except asyncio.TimeoutError:
            return await self.over_budget(request, rag, handle.id, budget)
        except WorkflowFailureError as e:
            raise self.failed(request, rag, handle.id, e) from None
        return self.response(rag, answer)

    def response(self, rag: RagClient, answer: RagAnswer) -> QueryResponse:
        return QueryResponse(
            question=answer.question, answer=answer.answer, citations=answer.citations, usage=answer.usage,
            mode=answer.mode, model=answer.model, degraded=answer.degraded, degraded_reasons=answer.degraded_reasons,
            timings=answer.timings, workflow_id=answer.workflow_id, run_id=answer.run_id,
            ui_link=rag.ui_link(answer.workflow_id, answer.run_id or None))

    def failed(self, request: Request, rag: RagClient, workflow_id: str, err: WorkflowFailureError) -> ApiError:
        message, kind = _failure(err)
        status = FAILURE_STATUS.get(kind, 502)
        return ApiError(status, kind, message, workflow_id=workflow_id,
                        status_url=self.url(request, "/v1/queries", workflow_id), ui_link=rag.ui_link(workflow_id))

    async def over_budget(self, request: Request, rag: RagClient, workflow_id: str, budget: float) -> JSONResponse:
        """The budget ran out. A workflow waiting out an LLM rate limit answers 429 with the time of
        its next attempt; otherwise 504. Either way the workflow goes on (status_url)."""
        handle = rag.client.get_workflow_handle(workflow_id)
        where = dict(workflow_id=workflow_id, status_url=self.url(request, "/v1/queries", workflow_id),
                     ui_link=rag.ui_link(workflow_id))
        try:
            desc = await handle.describe(rpc_timeout=timedelta(seconds=2))
        except RPCError:
            desc = None
        if desc is not None and desc.status not in (None, WorkflowExecutionStatus.RUNNING):
            # It finished between the budget and the describe: answer with what it returned.
            try:
                return JSONResponse(self.response(rag, await asyncio.wait_for(handle.result(), 5)).model_dump(mode="json"))
            except WorkflowFailureError as e:
                raise self.failed(request, rag, workflow_id, e) from None
            except asyncio.TimeoutError:
                pass
        last = _last_activity_failure(desc) if desc is not None else None
        if last is not None and last["rate_limited"]:
            retry = max(1, math.ceil(last["retry_in_s"] if last["retry_in_s"] is not None else 1))
            return error_response(
                429, "LLMRateLimited", f"the LLM API is rate limiting and the workflow is still retrying after "
                f"{budget:g} s: {last['message']}; fetch the answer later from status_url, or retry",
                headers={"Retry-After": str(retry)}, retry_after_s=retry, **where)
        detail = f" (still retrying: {last['message']})" if last is not None else ""
        return error_response(504, "Timeout", f"no answer within {budget:g} s{detail}; the workflow goes on: "
                              "fetch the answer from status_url", **where)

    # --- streaming -----------------------------------------------------------------------------

    async def stream(self, request: Request, query: RagQuery) -> StreamingResponse | JSONResponse:
        release = await self.slot()
        try:
            rag = await self.rag()
            workflow_id = query_workflow_id(query.question)
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Workflow-Id": workflow_id}
            events: AsyncIterator[StreamEvent] = rag.ask_stream(query, workflow_id)
            queue: asyncio.Queue = asyncio.Queue()

            async def pump() -> None:
                """Reads the events into the queue; cancelled when the client goes, which only
                stops consuming: nothing here cancels the workflow."""
                try:
                    async for event in events:
                        await queue.put(("event", event))
                    await queue.put(("end", None))
                except Exception as e:  # noqa: BLE001 - reported to the client as an error event
                    await queue.put(("exc", e))

            task = asyncio.create_task(pump())
            # Wait briefly for the first event so a failure to start is a plain HTTP error.
            try:
                first = await asyncio.wait_for(queue.get(), min(self.gw.sse_keepalive_s, 10.0))
            except asyncio.TimeoutError:
                first = None
            if first is not None and first[0] == "exc":
                task.cancel()
                raise _stream_start_error(first[1])
        except BaseException:
            release()
            raise
        deadline = request.scope.get(DEADLINE_SCOPE_KEY)
        return StreamingResponse(self._sse(first, queue, task, release, deadline), media_type="text/event-stream",
                                 headers=headers, background=BackgroundTask(release))

    async def _sse(self, first: tuple | None, queue: asyncio.Queue, task: asyncio.Task, release: Callable[[], None],
                   deadline: float | None) -> AsyncIterator[str]:
        try:
            item = first
            while True:
                if item is None:
                    wait = self.gw.sse_keepalive_s
                    if deadline is not None:
                        wait = min(wait, deadline - time.monotonic())
                        if wait <= 0:
                            yield _sse_event(StreamEvent(type=StreamEventType.error, error_type="Timeout",
                                                         error="the platform's deadline is near; the workflow goes on"))
                            return
                    try:
                        item = await asyncio.wait_for(queue.get(), wait)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                kind, value = item
                item = None
                if kind == "end":
                    return
                if kind == "exc":
                    yield _sse_event(_error_event(value))
                    return
                yield _sse_event(value)
                if value.type in (StreamEventType.final, StreamEventType.error):
                    return
        finally:
            task.cancel()  # stop consuming (a disconnect lands here too); the workflow goes on
            release()

    # --- status --------------------------------------------------------------------------------

    async def describe(self, rag: RagClient, workflow_id: str, workflow_type: str, what: str):
        handle = rag.client.get_workflow_handle(workflow_id)
        try:
            desc = await handle.describe(rpc_timeout=timedelta(seconds=5))
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise ApiError(404, "NotFound", f"no {what} with workflow id {workflow_id!r}") from None
            raise
        if desc.workflow_type != workflow_type:
            raise ApiError(404, "NotFound", f"workflow {workflow_id!r} is a {desc.workflow_type}, not a {what}")
        return handle, desc

    async def query_status(self, workflow_id: str) -> QueryStatus:
        rag = await self.rag()
        await self.describe(rag, workflow_id, QUERY_WORKFLOW_TYPE, "query")  # 404 for unknown or other kinds
        return await rag.get_result(workflow_id)

    async def ingest_status(self, workflow_id: str) -> IngestStatus:
        rag = await self.rag()
        await self.describe(rag, workflow_id, INGEST_WORKFLOW_TYPE, "ingest")
        return await rag.ingest_status(workflow_id)

    # --- ingest --------------------------------------------------------------------------------

    def ingest_request(self, body: IngestBody) -> IngestRequest:
        if not 1 <= len(body.paths) <= MAX_INGEST_PATHS:
            raise ApiError(400, "InvalidRequest", f"paths needs 1 to {MAX_INGEST_PATHS} entries, got {len(body.paths)}")
        roots = self.gw.roots()
        paths = []
        for path in body.paths:
            _check_text(path, "paths")
            if not path.strip():
                raise ApiError(400, "InvalidRequest", "paths must be non-empty strings")
            if roots:
                full = Path(os.path.normpath(path if os.path.isabs(path) else roots[0] / path))
                if not any(full == r or r in full.parents for r in roots):
                    raise ApiError(400, "InvalidRequest", f"path {path!r} is outside the folders this gateway may "
                                   "ingest (RAGSTATE_GATEWAY_INGEST_ROOTS)")
                path = str(full)
            paths.append(path)
        if body.collection is not None and not COLLECTION_NAME.match(body.collection):
            raise ApiError(400, "InvalidRequest", "collection must be 1-64 letters, digits, '-' or '_', "
                           "starting with a letter or digit")
        return IngestRequest(paths=paths, collection=body.collection)


def _last_activity_failure(desc: Any) -> dict | None:
    """The newest failure among the workflow's pending activities (the LLM step retrying)."""
    found = None
    for pa in desc.raw_description.pending_activities:
        if not pa.HasField("last_failure"):
            continue
        failure = pa.last_failure
        while failure.HasField("cause") and not failure.HasField("application_failure_info"):
            failure = failure.cause
        info = failure.application_failure_info if failure.HasField("application_failure_info") else None
        message = failure.message
        rate_limited = bool(info and info.type == "LLMUnavailable"
                            and ("429" in message or "rate_limit" in message))
        retry_in = None
        if pa.HasField("next_attempt_schedule_time"):
            at = pa.next_attempt_schedule_time.ToDatetime(tzinfo=timezone.utc)
            retry_in = max(0.0, (at - datetime.now(timezone.utc)).total_seconds())
        elif info is not None and info.HasField("next_retry_delay"):
            retry_in = info.next_retry_delay.ToTimedelta().total_seconds()
        found = {"message": message, "type": info.type if info else None, "rate_limited": rate_limited,
                 "retry_in_s": retry_in, "activity": pa.activity_type.name}
        if rate_limited:
            return found
    return found


def _stream_start_error(e: BaseException) -> ApiError:
    if isinstance(e, ApiError):
        return e
    if isinstance(e, RPCError):
        return _rpc_error(e)
    if isinstance(e, InvalidQueryError):
        return ApiError(400, "InvalidQuery", str(e), workflow_id=e.workflow_id)
    if isinstance(e, RagError):
        return ApiError(FAILURE_STATUS.get(e.kind or "", 502), e.kind or "WorkflowFailed", str(e),
                        workflow_id=e.workflow_id)
    if isinstance(e, RuntimeError):
        return ApiError(503, "TemporalUnavailable", f"cannot reach Temporal: {e}")
    return ApiError(502, "StreamFailed", f"the answer stream failed: {e}")


def _error_event(e: BaseException) -> StreamEvent:
    kind = getattr(e, "kind", None) or getattr(e, "type", None) or type(e).__name__
    return StreamEvent(type=StreamEventType.error, error=str(e) or type(e).__name__, error_type=str(kind))


def _sse_event(event: StreamEvent) -> str:
    return f"event: {event.type.value}\ndata: {event.model_dump_json()}\n\n"


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------


def _constrain(prop: dict, **keywords: Any) -> None:
    """Add keywords to a property's schema (to each non-null alternative of an Optional)."""
    for alternative in prop.get("anyOf", [prop]):
        if alternative.get("type") != "null":
            alternative.update(keywords)


def create_app(settings: Settings | None = None, rag_client_factory: RagClientFactory | None = None,
               gateway: GatewaySettings | None = None) -> FastAPI:
    """The gateway as a FastAPI app.

    ``settings`` (Temporal address, task queues, query limits) default to ``RAGSTATE_*``,
    ``gateway`` to ``RAGSTATE_GATEWAY_*``; ``rag_client_factory(settings)`` returns the
    :class:`RagClient` (default :meth:`RagClient.connect`), called on first use.
    """
    settings = settings or Settings()
    gateway = gateway or GatewaySettings()
    gw = Gateway(settings, gateway, rag_client_factory or _default_factory)
    keys = gateway.keys()
    # No slash redirects: an API client gets a JSON 404 for /v1/ingest/, not a bare 307.
    app = FastAPI(title="ragstate gateway", version="1", description=__doc__.split("\n\n")[0],
                  separate_input_output_schemas=False, redirect_slashes=False)
    app.state.gateway = gw
    app.add_middleware(_Guard, keys=keys, max_body_bytes=gateway.max_body_bytes)

    # --- errors as JSON, 400 instead of 422 ---------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return error_response(e.status, e.type, e.message, e.headers, **e.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = list(e.errors())
        kind = "InvalidJSON" if any(err.get("type") == "json_invalid" for err in errors) else "InvalidRequest"
        return error_response(400, kind, _validation_message(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        from http import HTTPStatus

        phrase = HTTPStatus(e.status_code).phrase if e.status_code in HTTPStatus._value2member_map_ else "Error"
        kind = "InvalidRequest" if e.status_code == 400 else phrase.replace(" ", "")
        return error_response(e.status_code, kind, str(e.detail or phrase), e.headers)

    @app.exception_handler(RPCError)
    async def _rpc(_: Request, e: RPCError) -> JSONResponse:
        err = _rpc_error(e)
        return error_response(err.status, err.type, err.message, err.headers, **err.extra)

    @app.exception_handler(RagError)
    async def _rag_error(_: Request, e: RagError) -> JSONResponse:
        kind = e.kind or "WorkflowFailed"
        status = 404 if kind == "NotFound" else FAILURE_STATUS.get(kind, 502)
        return error_response(status, kind, str(e), workflow_id=e.workflow_id)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "InternalError", f"unexpected error ({type(e).__name__}); see the gateway's log")

    # --- routes ---------------------------------------------------------------------------------

    v1_deps = []
    if keys:
        bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
        api_key = APIKeyHeader(name="x-api-key", auto_error=False, description="x-api-key: <API key>")

        async def _documented_auth(_b: Any = Security(bearer), _k: Any = Security(api_key)) -> None:
            """Only describes the schemes in OpenAPI; the key is checked before the body is read."""

        v1_deps = [Security(_documented_auth)]
    auth = (401,) if keys else ()

    @app.post("/v1/query", response_model=QueryResponse, tags=["query"], dependencies=v1_deps,
              summary="Ask a question and wait for the answer (or stream it with ?stream=true)",
              responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                               "description": "the answer (JSON), or Server-Sent Events with ?stream=true"},
                         **_errors(400, *auth, 413, 429, 502, 503, 504)})
    async def post_query(request: Request, body: QueryRequest,
                         stream: bool = Query(False, description="answer as Server-Sent Events"),
                         x_request_timeout: float | None = Header(
                             None, alias="X-Request-Timeout", gt=0, allow_inf_nan=False,
                             description="time budget in seconds when the body has no timeout_s")) -> Any:
        query = gw.rag_query(body)
        if stream:
            return await gw.stream(request, query)
        budget = gw.budget(request, body.timeout_s, x_request_timeout)
        async with gw.held():
            return await gw.ask(request, query, budget)

    @app.post("/v1/query/stream", tags=["query"], dependencies=v1_deps, response_class=StreamingResponse,
              summary="Ask a question; the answer as Server-Sent Events (event: step|token|final|error)",
              responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                               "description": "events, each `data:` a StreamEvent (JSON)"},
                         **_errors(400, *auth, 413, 429, 502, 503)})
    async def post_query_stream(request: Request, body: QueryRequest) -> Any:
        return await gw.stream(request, gw.rag_query(body))

    @app.get("/v1/queries/{workflow_id}", response_model=QueryStatus, tags=["query"], dependencies=v1_deps,
             summary="A query's state and, once completed, its answer",
             responses=_errors(*auth, 404, 429, 503))
    async def get_query(workflow_id: str) -> Any:
        async with gw.held():
            return await gw.query_status(workflow_id)

    @app.post("/v1/ingest", response_model=IngestAccepted, status_code=202, tags=["ingest"], dependencies=v1_deps,
              summary="Start ingesting files or folders (the same request joins a running ingest)",
              responses=_errors(400, *auth, 413, 429, 503))
    async def post_ingest(request: Request, response: Response, body: IngestBody) -> Any:
        ingest = gw.ingest_request(body)
        async with gw.held():
            rag = await gw.rag()
            handle = await rag.start_ingest(ingest)
        status_url = gw.url(request, "/v1/ingest", handle.id)
        response.headers["Location"] = status_url
        return IngestAccepted(workflow_id=handle.id, status_url=status_url, ui_link=rag.ui_link(handle.id))

    @app.get("/v1/ingest/{workflow_id}", response_model=IngestStatus, tags=["ingest"], dependencies=v1_deps,
             summary="An ingest's progress, result and failed documents",
             responses=_errors(*auth, 404, 429, 503))
    async def get_ingest(workflow_id: str) -> Any:
        async with gw.held():
            return await gw.ingest_status(workflow_id)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="The process is up")
    async def healthz() -> Any:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], summary="Temporal is reachable",
             responses=_errors(503))
    async def readyz() -> Any:
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

        t = gateway.ready_timeout_s
        try:
            async with asyncio.timeout(t):
                rag = await gw.rag(timeout=t)
                await rag.client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=t))
        except (ApiError, RPCError, RuntimeError, OSError, asyncio.TimeoutError) as e:
            if isinstance(e, ApiError):  # the connect failed; its message names the address
                message = e.message
            else:
                detail = e.message if isinstance(e, RPCError) else (str(e) or type(e).__name__)
                message = f"Temporal at {settings.temporal_address} did not answer: {detail}"
            return error_response(503, "NotReady", message)
        return Health(status="ready")

    # --- OpenAPI: 400 (not 422) is what invalid input gets -----------------------------------
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            # This deployment's limits (ParseQuery's rules, checked by validate()).
            query = components["QueryRequest"]["properties"]
            _constrain(query["question"], minLength=1)
            _constrain(query["top_k"], minimum=1, maximum=settings.max_top_k)
            for name in ("sources", "doc_ids"):
                _constrain(query[name], minItems=1, maxItems=MAX_FILTER_VALUES)
            paths = components["IngestBody"]["properties"]["paths"]
            _constrain(paths, minItems=1, maxItems=MAX_INGEST_PATHS)
            _constrain(paths["items"], minLength=1)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def parser(gateway: "GatewaySettings | None" = None):
    import argparse

    gateway = gateway or GatewaySettings()
    p = argparse.ArgumentParser(prog="python -m ragstate.gateway", description="the ragstate HTTP gateway")
    p.add_argument("--host", default=gateway.host)
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT") or gateway.port))
    p.add_argument("--log-level", default="info")
    return p


def main(argv: list[str] | None = None) -> None:
    """``python -m ragstate.gateway``: uvicorn on ``$PORT`` (Cloud Run) or the configured port."""
    import uvicorn

    gateway = GatewaySettings()
    args = parser(gateway).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    uvicorn.run(create_app(gateway=gateway), host=args.host, port=args.port, log_level=args.log_level,
                proxy_headers=True, timeout_graceful_shutdown=int(min(gateway.max_timeout_s, 30)))


if __name__ == "__main__":
    main()
