"""How the workflows name and describe failures: the reason a person reads, the error type a
client maps to its exception classes, and the reasons a degraded answer carries.

Imports only the standard library, temporalio and :mod:`ragstate.contracts` (pure functions,
no commands), so any workflow, sandboxed or not, may use it.

Example::

    except ActivityError as e:
        reason = f"batch failed after retries: {failure_reason(e)}"
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TypeVar

from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

from ragstate.contracts import ErrorType

__all__ = ["degraded_reasons", "ends_run", "failure_reason", "failure_type", "llm_fallback_applies", "succeeded"]

T = TypeVar("T")


def failure_reason(err: BaseException) -> str:
    """The innermost message of an activity failure, for people to read."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return getattr(err, "message", None) or str(err)


def failure_type(err: BaseException) -> str:
    """The ``ApplicationError`` type a failure is known by: the outermost one that has a type
    (e.g. ``InvalidQuery``, ``RetrievalFailed``), else the innermost cause's (an activity's
    ``LLMUnavailable``, or a Python exception's class name)."""
    if isinstance(err, asyncio.CancelledError):
        return "Cancelled"
    chain: list[BaseException] = []
    link: BaseException | None = err
    while link is not None:
        chain.append(link)
        link = getattr(link, "cause", None)
    for e in chain:
        if isinstance(e, ApplicationError) and e.type:
            return e.type
    return type(chain[-1]).__name__


def ends_run(err: BaseException) -> bool:
    """Whether ``err`` fails (or cancels) the run. Any other exception fails only the workflow
    task, which the worker retries, and the run goes on."""
    return isinstance(err, (FailureError, asyncio.CancelledError))


def llm_fallback_applies(err: BaseException) -> bool:
    """Whether a failed Synthesize may give way to the extractive answer: when the API stayed
    unavailable or rate limited through every attempt, or no worker took the step, but not
    when the request itself was refused (a key, model or refusal that quoting the sources
    would paper over) nor when the query was cancelled."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, (CancelledError, asyncio.CancelledError)):
            return False
        cause = getattr(cause, "cause", None)
    return failure_type(err) != ErrorType.LLM_REQUEST_REJECTED


def succeeded(outcome: T | BaseException) -> T | None:
    """A parallel branch's result (``asyncio.gather(..., return_exceptions=True)``), or None if it failed."""
    return None if isinstance(outcome, BaseException) else outcome


def degraded_reasons(outcomes: Mapping[str, object]) -> list[str]:
    """``"<state> failed: <reason>"`` for each failed branch of a parallel state, in the
    mapping's order (state name -> result or exception, as ``asyncio.gather`` returned it)."""
    return [
        f"{name} failed: {failure_reason(outcome)}"
        for name, outcome in outcomes.items()
        if isinstance(outcome, BaseException)
    ]
