"""``GET /healthz`` (the process is up) and ``GET /readyz`` (Temporal answers a cheap RPC, 503
otherwise): open to probes, no API key.

Example::

    curl -fs localhost:8080/readyz
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from temporalio.service import RPCError

from ragstate.gateway.deps import GatewayDep
from ragstate.gateway.errors import ApiError, GatewayError
from ragstate.gateway.schemas import Health, documented_errors

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Any:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, summary="Temporal is reachable", responses=documented_errors(503))
async def readyz(gateway: GatewayDep) -> Any:
    timeout_s = gateway.config.ready_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            rag = await gateway.rag(connect_timeout_s=timeout_s)
            await rag.ready(timeout_s)
    except (TimeoutError, ApiError, RPCError, RuntimeError, OSError) as e:
        if isinstance(e, ApiError):  # the connect failed; its message names the address
            message = e.message
        else:
            detail = e.message if isinstance(e, RPCError) else (str(e) or type(e).__name__)
            message = f"Temporal at {gateway.settings.temporal_address} did not answer: {detail}"
        return ApiError(GatewayError.NOT_READY, message).response()
    return Health(status="ready")
