"""Errors as JSON: the gateway's own error types, the one table from error type to HTTP status,
:class:`ApiError`, and the exception handlers that turn everything into
``{"error": {"type": ..., "message": ...}}`` (400 for invalid input, never 422).

Example::

    raise ApiError(GatewayError.INVALID_REQUEST, "paths must be non-empty strings")   # 400
    raise ApiError(ErrorType.LLM_RATE_LIMITED, "...", status=429, headers={"Retry-After": "4"})
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from ragstate.client import NOT_FOUND
from ragstate.contracts import ErrorType
from ragstate.errors import OverBudgetError, RagError, RequestTooLargeError

log = logging.getLogger("ragstate.gateway")


class GatewayError:
    """``error.type`` of the failures the gateway reports itself (workflows' own are
    :class:`ragstate.contracts.ErrorType`)."""

    INVALID_REQUEST: Final = "InvalidRequest"
    INVALID_JSON: Final = "InvalidJSON"
    UNAUTHORIZED: Final = "Unauthorized"
    INGEST_FORBIDDEN: Final = "IngestForbidden"
    #: The key is good but lacks the route's scope.
    FORBIDDEN: Final = "Forbidden"
    #: The tenant's budget refused the request (requests per minute, or the day's LLM spend).
    OVER_BUDGET: Final = "OverBudget"
    NOT_FOUND: Final = NOT_FOUND
    REQUEST_TOO_LARGE: Final = "RequestTooLarge"
    TOO_MANY_REQUESTS: Final = "TooManyRequests"
    TIMEOUT: Final = "Timeout"
    TEMPORAL_UNAVAILABLE: Final = "TemporalUnavailable"
    TEMPORAL_ERROR: Final = "TemporalError"
    NOT_READY: Final = "NotReady"
    STREAM_FAILED: Final = "StreamFailed"
    WORKFLOW_FAILED: Final = "WorkflowFailed"
    INTERNAL: Final = "InternalError"


#: The HTTP status of every error type; any other (a run cancelled, terminated, timed out) is 502.
#: A rate limit is 502 once the run failed for good; while the run still retries past its time
#: budget the gateway answers 429 instead (``status=`` of :class:`ApiError`).
HTTP_STATUS: Final[dict[str, int]] = {
    ErrorType.INVALID_QUERY: 400,
    ErrorType.RETRIEVAL_FAILED: 502,
    ErrorType.LLM_REQUEST_REJECTED: 502,
    ErrorType.LLM_UNAVAILABLE: 502,
    ErrorType.LLM_RATE_LIMITED: 502,
    GatewayError.INVALID_REQUEST: 400,
    GatewayError.INVALID_JSON: 400,
    GatewayError.UNAUTHORIZED: 401,
    GatewayError.INGEST_FORBIDDEN: 403,
    GatewayError.FORBIDDEN: 403,
    GatewayError.OVER_BUDGET: 429,
    GatewayError.NOT_FOUND: 404,
    GatewayError.REQUEST_TOO_LARGE: 413,
    GatewayError.TOO_MANY_REQUESTS: 429,
    GatewayError.INTERNAL: 500,
    GatewayError.TEMPORAL_ERROR: 502,
    GatewayError.STREAM_FAILED: 502,
    GatewayError.WORKFLOW_FAILED: 502,
    GatewayError.TEMPORAL_UNAVAILABLE: 503,
    GatewayError.NOT_READY: 503,
    GatewayError.TIMEOUT: 504,
}


def status_of(error_type: str) -> int:
    return HTTP_STATUS.get(error_type, 502)


class ApiError(Exception):
    """Raised anywhere in a request; becomes a JSON error response with the status of its type
    (or ``status``, where the same type means something else, e.g. a 429 for a rate limit)."""

    def __init__(
        self, type: str, message: str, *, status: int | None = None, headers: dict[str, str] | None = None, **extra: Any
    ):
        super().__init__(message)
        self.type, self.message = type, message
        self.status = status if status is not None else status_of(type)
        self.headers = headers or {}
        self.extra = {k: v for k, v in extra.items() if v is not None}

    @classmethod
    def of(cls, error: RagError, **extra: Any) -> ApiError:
        """A failed run (or an unknown one) as the client reported it."""
        return cls(error.kind or GatewayError.WORKFLOW_FAILED, str(error), workflow_id=error.workflow_id, **extra)

    @classmethod
    def too_many(cls, message: str) -> ApiError:
        return cls(GatewayError.TOO_MANY_REQUESTS, message, headers={"Retry-After": "1"}, retry_after_s=1)

    def response(self) -> JSONResponse:
        detail = {"type": self.type, "message": self.message, **self.extra}
        return JSONResponse({"error": detail}, status_code=self.status, headers=self.headers)


def rpc_error(e: RPCError) -> ApiError:
    if e.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return ApiError(GatewayError.TEMPORAL_UNAVAILABLE, f"Temporal did not answer: {e.message}")
    if e.status is RPCStatusCode.RESOURCE_EXHAUSTED:
        return ApiError.too_many(f"Temporal is rate limiting: {e.message}")
    return ApiError(
        GatewayError.TEMPORAL_ERROR, f"Temporal answered {e.status.name if e.status else 'an error'}: {e.message}"
    )


def _validation_message(errors: list[dict]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more if parts else "invalid request"


#: The exceptions :func:`api_error_of` knows.
KNOWN_ERRORS = (ApiError, RPCError, RagError, RequestTooLargeError)


def api_error_of(e: BaseException) -> ApiError | None:
    """The HTTP error for an exception a request may raise (the client's, Temporal's, ours)."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, RPCError):
        return rpc_error(e)
    if isinstance(e, OverBudgetError):
        retry = e.retry_after_s or 1
        return ApiError(GatewayError.OVER_BUDGET, str(e), headers={"Retry-After": str(retry)}, retry_after_s=retry)
    if isinstance(e, RagError):
        return ApiError.of(e)
    if isinstance(e, RequestTooLargeError):  # a workflow input over RAGSTATE_MAX_PAYLOAD_BYTES
        return ApiError(GatewayError.REQUEST_TOO_LARGE, str(e))
    return None


async def _known(_: Request, e: Exception) -> JSONResponse:
    error = api_error_of(e)
    assert error is not None
    return error.response()


async def _invalid(_: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, RequestValidationError)
    errors = list(e.errors())
    kind = (
        GatewayError.INVALID_JSON
        if any(err.get("type") == "json_invalid" for err in errors)
        else GatewayError.INVALID_REQUEST
    )
    return ApiError(kind, _validation_message(errors), status=400).response()


async def _http(_: Request, e: Exception) -> JSONResponse:
    """Routing's own answers (404, 405) in the same shape."""
    assert isinstance(e, StarletteHTTPException)
    phrase = HTTPStatus(e.status_code).phrase if e.status_code in HTTPStatus._value2member_map_ else "Error"
    kind = GatewayError.INVALID_REQUEST if e.status_code == 400 else phrase.replace(" ", "")
    headers = dict(e.headers) if e.headers else None
    return ApiError(kind, str(e.detail or phrase), status=e.status_code, headers=headers).response()


async def _unexpected(_: Request, e: Exception) -> JSONResponse:
    log.exception("unexpected error")
    return ApiError(GatewayError.INTERNAL, f"unexpected error ({type(e).__name__}); see the gateway's log").response()


def add_exception_handlers(app: FastAPI) -> None:
    for known in KNOWN_ERRORS:
        app.add_exception_handler(known, _known)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
