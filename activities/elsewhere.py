"""Stand-ins for the steps a workflow worker does not have.

The worker that runs ParseQuery decides which steps of a query run as local activities
(VectorSearch when it holds the model, offline Synthesize when it serves the LLM role). A later
workflow task of the same run can go to another worker of the workflow queue with other roles.
Without a stand-in, scheduling the local step there fails the workflow task itself, again and
again until a worker with the step picks it up (temporalio checks the registration before it
schedules). The stand-in fails the step instead, non-retryable, as ``StepNotOnThisWorker``; the
failure is recorded in history, and the query workflow runs the step as a regular activity on
its own queue (:mod:`ragstate.workflows.query_steps`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from ragstate.contracts import ErrorType


def not_on_this_worker(name: str) -> Callable[..., Any]:
    """An activity named ``name`` that fails at once with ``StepNotOnThisWorker``."""

    @activity.defn(name=name)
    async def stand_in(*_: Any) -> None:
        raise ApplicationError(
            f"{name} is not on this workflow worker ({activity.info().task_queue}): run on its own queue",
            type=ErrorType.STEP_NOT_HERE,
            non_retryable=True,
            category=ApplicationErrorCategory.BENIGN,  # expected in a mixed pool: no traceback
        )

    return stand_in
