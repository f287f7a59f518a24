"""``POST /v1/query`` (JSON, or Server-Sent Events with ``?stream=true``), ``POST
/v1/query/stream`` and ``GET /v1/queries/{workflow_id}``.

Example::

    curl -s localhost:8080/v1/query -H 'content-type: application/json' -d '{"question": "What is BM25?"}'
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from ragstate.gateway.deps import GatewayDep
from ragstate.gateway.principal import requires
from ragstate.gateway.schemas import QueryRequest, QueryResponse, documented_errors
from ragstate.gateway.sse import stream_answer
from ragstate.models import QueryStatus
from ragstate.models.keys import Scope

router = APIRouter(tags=["query"], dependencies=[requires(Scope.query)])

_SSE = {"text/event-stream": {"schema": {"type": "string"}}}


@router.post(
    "/v1/query",
    response_model=QueryResponse,
    summary="Ask a question and wait for the answer (or stream it with ?stream=true)",
    responses={
        200: {"content": _SSE, "description": "the answer (JSON), or Server-Sent Events with ?stream=true"},
        **documented_errors(400, 413, 429, 502, 503, 504),
    },
)
async def post_query(
    request: Request,
    body: QueryRequest,
    gateway: GatewayDep,
    stream: Annotated[bool, Query(description="answer as Server-Sent Events")] = False,
    x_request_timeout: Annotated[
        float | None,
        Header(
            alias="X-Request-Timeout",
            gt=0,
            allow_inf_nan=False,
            description="time budget in seconds when the body has no timeout_s",
        ),
    ] = None,
) -> Any:
    query = gateway.rag_query(body)
    if stream:
        return await stream_answer(gateway, request, query)
    budget = gateway.budget(request, body.timeout_s, x_request_timeout)
    return await gateway.ask(request, query, budget)


@router.post(
    "/v1/query/stream",
    response_class=StreamingResponse,
    summary="Ask a question; the answer as Server-Sent Events (event: step|token|final|error)",
    responses={
        200: {"content": _SSE, "description": "events, each `data:` a StreamEvent (JSON)"},
        **documented_errors(400, 413, 429, 502, 503),
    },
)
async def post_query_stream(request: Request, body: QueryRequest, gateway: GatewayDep) -> Any:
    return await stream_answer(gateway, request, gateway.rag_query(body))


@router.get(
    "/v1/queries/{workflow_id}",
    response_model=QueryStatus,
    summary="A query's state and, once completed, its answer",
    responses=documented_errors(404, 429, 503),
)
async def get_query(workflow_id: str, gateway: GatewayDep) -> Any:
    async with gateway.held():
        return await gateway.query_status(workflow_id)
