"""The exceptions a ragstate client raises, one class per failure type of
:class:`ragstate.contracts.ErrorType`.

Example::

    from ragstate import InvalidQueryError, RagClient, RagError

    try:
        answer = await rag.ask("")
    except InvalidQueryError as e:
        print("fix the question:", e, "- run", e.workflow_id)
    except RagError as e:                     # any other failed run
        print(e.kind, e, rag.ui_link(e.workflow_id))
"""

from __future__ import annotations

from ragstate.contracts import ErrorType

__all__ = [
    "ERROR_CLASSES",
    "InvalidQueryError",
    "LLMRateLimitedError",
    "LLMRejectedError",
    "LLMUnavailableError",
    "RagError",
    "RequestTooLargeError",
    "RetrievalFailedError",
    "RunNotFoundError",
    "ServerUnavailableError",
    "error_for",
]


class RagError(Exception):
    """A workflow failed; ``workflow_id`` says which run to inspect in the UI, ``kind`` its
    failure type (an :class:`~ragstate.contracts.ErrorType`, or e.g. ``Cancelled``)."""

    def __init__(self, message: str, workflow_id: str, kind: str | None = None):
        super().__init__(message)
        self.workflow_id = workflow_id
        self.kind = kind


class InvalidQueryError(RagError):
    """ParseQuery refused the question (empty, too long, control characters, bad options)."""


class RetrievalFailedError(RagError):
    """Both search branches failed (each after its retries)."""


class LLMUnavailableError(RagError):
    """The Anthropic API stayed unreachable, overloaded or rate limited through every retry."""


class LLMRateLimitedError(LLMUnavailableError):
    """The Anthropic API kept answering 429 through every retry."""


class LLMRejectedError(RagError):
    """The Anthropic API refused the request (key, permission, model, request): not retried."""


class RunNotFoundError(RagError):
    """No workflow with this id (or its history is gone: past the namespace's retention)."""


class OverBudgetError(RagError):
    """The tenant's budget refused the request before any run started (requests per minute, or
    the day's LLM spend under the policy ``refuse``); ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: int | None = None):
        super().__init__(message, "", "OverBudget")
        self.retry_after_s = retry_after_s


class ServerUnavailableError(ConnectionError):
    """The Temporal server stayed unreachable longer than ``RAGSTATE_SERVER_OUTAGE_S`` while a
    client followed a run (:mod:`ragstate.temporal.outage`); the run itself goes on on the server."""


class RequestTooLargeError(ValueError):
    """A workflow input over ``RAGSTATE_MAX_PAYLOAD_BYTES``: refused before it reaches Temporal
    (whose server would reject it past its blob limit, or keep it in history below that)."""


#: Failure type -> exception class.
ERROR_CLASSES: dict[str, type[RagError]] = {
    ErrorType.INVALID_QUERY: InvalidQueryError,
    ErrorType.RETRIEVAL_FAILED: RetrievalFailedError,
    ErrorType.LLM_UNAVAILABLE: LLMUnavailableError,
    ErrorType.LLM_RATE_LIMITED: LLMRateLimitedError,
    ErrorType.LLM_REQUEST_REJECTED: LLMRejectedError,
}


def error_for(message: str, workflow_id: str, error_type: str | None) -> RagError:
    """The exception for a failed run: the class for its ``error_type``, else :class:`RagError`."""
    return ERROR_CLASSES.get(error_type or "", RagError)(message, workflow_id, error_type)
