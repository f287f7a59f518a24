"""The gateway's routes, one ``APIRouter`` per concern: ``v1`` (query, ingest and documents,
behind the API keys; feedback on answers; conversations) and ``health`` (always open).

Example::

    app.include_router(v1, dependencies=[...], responses=documented_errors(401))
    app.include_router(health)
"""

from __future__ import annotations

from fastapi import APIRouter

from ragstate.gateway.routes import documents as _documents
from ragstate.gateway.routes import feedback as _feedback
from ragstate.gateway.routes import health as _health
from ragstate.gateway.routes import ingest as _ingest
from ragstate.gateway.routes import query as _query
from ragstate.gateway.routes import sessions as _sessions

__all__ = ["health", "v1"]

v1 = APIRouter()
v1.include_router(_query.router)
v1.include_router(_ingest.router)
v1.include_router(_documents.router)
v1.include_router(_feedback.router)
v1.include_router(_sessions.router)
health = _health.router
