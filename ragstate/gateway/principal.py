"""Who a request acts for, as the routes see it: :class:`Guard` resolves the key into a
:class:`~ragstate.security.tenant_keys.Principal` and sets it here for the request's task;
routes ask for a scope with ``dependencies=[requires(Scope.ingest)]``, and
:meth:`Gateway.rag` returns the client acting for that tenant.

Example::

    router = APIRouter(dependencies=[requires(Scope.query)])
"""

from __future__ import annotations

import contextvars
from typing import Any

from fastapi import Depends, Request

from ragstate.gateway.errors import ApiError, GatewayError
from ragstate.models.keys import Scope
from ragstate.observability.audit import audit_line
from ragstate.security.tenant_keys import OPEN_PRINCIPAL, Principal

__all__ = ["audit", "current_principal", "requires"]

#: The principal of the request being served (set by Guard before the app runs).
PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar("ragstate_principal", default=OPEN_PRINCIPAL)


def current_principal() -> Principal:
    return PRINCIPAL.get()


def audit(action: str, outcome: str, *, principal: Principal | None = None, target: str = "", **extra: Any) -> None:
    """One audit line (:func:`~ragstate.observability.audit.audit_line`) for the request's principal."""
    who = principal or current_principal()
    audit_line(action, outcome, tenant=who.tenant, key_id=who.key_id, target=target, **extra)


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
