"""Route dependencies, as ``Annotated`` types (FastAPI's ``Depends``).

Example::

    @router.get("/v1/queries/{workflow_id}")
    async def get_query(workflow_id: str, gateway: GatewayDep) -> QueryStatus:
        ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragstate.gateway.service import Gateway


def get_gateway(request: Request) -> Gateway:
    """The app's one :class:`Gateway` (``create_app`` puts it in ``app.state``)."""
    return request.app.state.gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
