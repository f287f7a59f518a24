"""``POST /v1/ingest`` (202 with ``Location``) and ``GET /v1/ingest/{workflow_id}``.

Example::

    curl -s localhost:8080/v1/ingest -H 'content-type: application/json' -d '{"paths": ["examples/corpus"]}'
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ragstate.gateway.deps import GatewayDep
from ragstate.gateway.principal import requires
from ragstate.gateway.schemas import IngestAccepted, IngestBody, documented_errors
from ragstate.models import IngestStatus
from ragstate.models.keys import Scope

router = APIRouter(tags=["ingest"], dependencies=[requires(Scope.ingest)])


@router.post(
    "/v1/ingest",
    response_model=IngestAccepted,
    status_code=202,
    summary="Start ingesting files or folders (the same request joins a running ingest)",
    responses=documented_errors(400, 403, 413, 429, 503),
)
async def post_ingest(request: Request, response: Response, body: IngestBody, gateway: GatewayDep) -> Any:
    accepted = await gateway.start_ingest(request, body)
    response.headers["Location"] = accepted.status_url
    return accepted


@router.get(
    "/v1/ingest/{workflow_id}",
    response_model=IngestStatus,
    summary="An ingest's progress, result and failed documents",
    responses=documented_errors(404, 429, 503),
)
async def get_ingest(workflow_id: str, gateway: GatewayDep) -> Any:
    async with gateway.held():
        return await gateway.ingest_status(workflow_id)
