"""What Temporal should do with each way the Anthropic API can fail, or answer oddly.

Transient errors (429, 529, 5xx, timeouts, dropped connections, an ``error`` event mid-stream,
a stream that ends before ``message_stop``) become retryable ``ApplicationError``s whose
``next_retry_delay`` honours ``retry-after``: a 429 (or a ``rate_limit_error``) as
``ErrorType.LLM_RATE_LIMITED``, the rest as ``ErrorType.LLM_UNAVAILABLE``. Requests the API
refuses (400/401/403/404/422) and answers that are no answer (``stop_reason: refusal``, or a
stop reason a plain question never gets) become non-retryable ``ErrorType.LLM_REQUEST_REJECTED``
ones: the same request would get the same answer.

Messages name the attempt (``attempt 2 of 6``) instead of promising a retry: the last attempt's
message is the query's failure.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from ragstate.contracts import ErrorType

if TYPE_CHECKING:
    import anthropic

#: Error types (``error.type`` in the API's body) worth another attempt, whatever the status.
RATE_LIMIT_API_ERROR = "rate_limit_error"
RETRYABLE_API_ERRORS = frozenset({RATE_LIMIT_API_ERROR, "overloaded_error", "api_error", "timeout_error"})
#: Stop reasons of a whole answer.
COMPLETE_STOP_REASONS = frozenset({"end_turn", "stop_sequence"})
#: Stop reasons of an answer cut short by a length limit: kept, flagged ``truncated``.
TRUNCATING_STOP_REASONS = frozenset({"max_tokens", "model_context_window_exceeded"})
REFUSAL_STOP_REASON = "refusal"


def attempt_note() -> str:
    """``attempt 2 of 6`` inside an activity (``attempt 2`` when the policy sets no maximum),
    nothing outside one."""
    if not activity.in_activity():
        return ""
    info = activity.info()
    maximum = info.retry_policy.maximum_attempts if info.retry_policy is not None else 0
    return f"attempt {info.attempt} of {maximum}" if maximum else f"attempt {info.attempt}"


def _with_attempt(message: str) -> str:
    note = attempt_note()
    return f"{message} ({note})" if note else message


def retry_after(headers) -> timedelta | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), capped at 5 minutes."""
    if headers is None:
        return None
    seconds = None
    if ms := headers.get("retry-after-ms"):
        with contextlib.suppress(ValueError):
            seconds = float(ms) / 1000
    if seconds is None and (value := headers.get("retry-after")):
        try:
            seconds = float(value)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                parsed = None  # neither seconds nor a date: ignore it
            if parsed is not None:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                seconds = parsed.timestamp() - time.time()
    if seconds is None or seconds < 0:
        return None
    return timedelta(seconds=min(seconds, 300))


def unavailable(message: str) -> ApplicationError:
    """A transient failure, retried with the workflow's backoff."""
    return ApplicationError(_with_attempt(message), type=ErrorType.LLM_UNAVAILABLE)


def to_application_error(err: Exception) -> ApplicationError:
    """Map an SDK error to what Temporal should do with it."""
    import anthropic

    if isinstance(err, anthropic.APITimeoutError):
        return unavailable(f"Anthropic API timed out: {err}")
    if isinstance(err, anthropic.APIConnectionError):
        return unavailable(f"cannot reach the Anthropic API: {err}")
    if isinstance(err, anthropic.APIStatusError):
        status = err.status_code
        error_type, api_message = _error_fields(err)
        detail = f"{error_type}: {api_message}" if error_type and api_message else getattr(err, "message", str(err))
        if request_id := getattr(err, "request_id", None):
            detail += f" (request {request_id})"
        # An `error` event inside a streamed 200 response (e.g. overloaded_error) is transient too.
        if status in (408, 409, 429) or status >= 500 or status < 400 or error_type in RETRYABLE_API_ERRORS:
            rate_limited = status == 429 or error_type == RATE_LIMIT_API_ERROR
            return ApplicationError(
                f"Anthropic API answered {status} ({attempt_note() or 'transient'}): {detail}",
                type=ErrorType.LLM_RATE_LIMITED if rate_limited else ErrorType.LLM_UNAVAILABLE,
                next_retry_delay=retry_after(err.response.headers if err.response is not None else None),
                # Expected weather (rate limits, overload): the worker logs it in one line, not
                # with a traceback, and the SDK's failure metrics leave it out.
                category=ApplicationErrorCategory.BENIGN,
            )
        hint = {
            401: " (check RAGSTATE_ANTHROPIC_API_KEY)",
            403: " (the key lacks permission)",
            404: " (check RAGSTATE_ANTHROPIC_MODEL)",
        }.get(status, "")
        return rejected(f"Anthropic API rejected the request with {status}{hint}: {detail}")
    return unavailable(f"Anthropic API error: {err}")


def rejected(message: str) -> ApplicationError:
    """A failure that another attempt would repeat: the query fails with it."""
    return ApplicationError(message, type=ErrorType.LLM_REQUEST_REJECTED, non_retryable=True)


def check_stop_reason(stop_reason: str | None, text: str) -> bool:
    """Whether the answer was cut short by a length limit (kept, flagged ``truncated``);
    raises for an answer that is no answer. A refusal is reported, not shown as an answer nor
    replaced by an extractive one: the model declined this question, and quoting the sources
    would answer it anyway."""
    if stop_reason in COMPLETE_STOP_REASONS:
        return False
    if stop_reason in TRUNCATING_STOP_REASONS:
        return True
    said = f"; it said: {text[:200]!r}" if text else ""
    if stop_reason == REFUSAL_STOP_REASON:
        raise rejected(f"the model declined to answer this question (stop_reason 'refusal'){said}")
    if stop_reason is None:  # a JSON answer always has one; a stream without message_delta may not
        raise unavailable("the Anthropic API answer ended without a stop_reason")
    raise rejected(f"the Anthropic API answer ended with an unexpected stop_reason {stop_reason!r}{said}")


def _error_fields(err: anthropic.APIStatusError) -> tuple[str | None, str | None]:
    """``error.type`` and ``error.message`` from the API's error body, when it has one."""
    body = err.body
    inner = body.get("error") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return None, None
    error_type, message = inner.get("type"), inner.get("message")
    return (error_type if isinstance(error_type, str) else None), (message if isinstance(message, str) else None)
