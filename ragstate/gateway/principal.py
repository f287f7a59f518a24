"""Who a request acts for, as the routes see it: :class:`Guard` resolves the key into a
:class:`~ragstate.security.tenant_keys.Principal` and sets it here for the request's task;
routes ask for a scope with ``dependencies=[requires(Scope.ingest)]``, and
:meth:`Gateway.rag` returns the client acting for that tenant.

Example::

    router = APIRouter(dependencies=[requires(Scope.query)])
"""

from __future__ import annotations

import contextvars
import json
import logging
from typing import Any

from fastapi import Depends, Request

from ragstate.gateway.errors import ApiError, GatewayError
from ragstate.models.keys import Scope
from ragstate.security.tenant_keys import OPEN_PRINCIPAL, Principal

__all__ = ["audit", "current_principal", "requires"]

#: The principal of the request being served (set by Guard before the app runs).
PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar("ragstate_principal", default=OPEN_PRINCIPAL)

#: One JSON line per admin action and per denied request (``ragstate.audit``): never the key.
audit_log = logging.getLogger("ragstate.audit")


def current_principal() -> Principal:
    return PRINCIPAL.get()


def audit(action: str, outcome: str, *, principal: Principal | None = None, target: str = "", **extra: Any) -> None:
    """One audit line: tenant, key id, action, target, outcome (and ``extra``)."""
    who = principal or current_principal()
    line = {"audit": action, "tenant": who.tenant, "key_id": who.key_id, "target": target, "outcome": outcome}
    audit_log.info(json.dumps({**line, **extra}, sort_keys=True))


def requires(scope: Scope) -> Any:
    """A route dependency: 403 (audited) unless the request's key has ``scope``."""

    def check(request: Request) -> Principal:
        principal = current_principal()
        if not principal.allows(scope):
            audit(f"{request.method} {request.url.path}", "denied: missing scope", missing=scope.value)
            has = ", ".join(sorted(s.value for s in principal.scopes))
            raise ApiError(GatewayError.FORBIDDEN, f"this key lacks the '{scope.value}' scope (it has: {has})")
        return principal

    return Depends(check)
