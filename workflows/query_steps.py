"""How the query workflow runs one state of its graph: as a local activity (cheap, safe to
retry: no extra round trip through the server, still a named step in the UI) or as a regular
activity on a remote task queue, bounded in how long it may wait for a worker; its timing
recorded (the answer's ``timings``) and its row of the run's details table updated
(:mod:`ragstate.workflows.query_details`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, ErrorType
    from ragstate.models import BranchResult, Routing, StepTiming

# Workflow code, imported as the query workflow imports it (see there).
from ragstate.workflows.failures import failure_reason, failure_type
from ragstate.workflows.query_details import RunDetails
from ragstate.workflows.query_policies import BUSY_QUEUE_PATCH, LOCAL_STEP_ELSEWHERE_PATCH, POLL_WINDOW_S, POLLERS_RETRY


@dataclass(frozen=True)
class Retrieval:
    """What the Parallel state hands on (never serialised): each branch's result, None for a
    branch that failed, and why it failed."""

    vector: BranchResult | None
    keyword: BranchResult | None
    degraded_reasons: list[str]

    def step_detail(self) -> dict[str, int]:
        """The ``retrieved`` step event's detail: hits per branch, ``degraded`` 0/1."""
        return {
            "vector": 0 if self.vector is None else len(self.vector.hits),
            "keyword": 0 if self.keyword is None else len(self.keyword.hits),
            "degraded": int(bool(self.degraded_reasons)),
        }


class QuerySteps:
    """The states a run has been through: their timings and the details table."""

    def __init__(self) -> None:
        self.timings: list[StepTiming] = []
        self.details = RunDetails()
        #: The regular activities' priority and fairness key (ragstate/temporal/priorities.py); local
        #: activities go through no task queue.
        self.priority = Priority.default

    @staticmethod
    async def _elsewhere_if_missing(local: Any, regular: Callable[[], Any]) -> Any:
        """The local step's result; if this worker does not have the step, the regular one's."""
        try:
            return await local
        except (ActivityError, ApplicationError) as e:  # temporalio raises the stand-in's error itself
            if failure_type(e) != ErrorType.STEP_NOT_HERE or not workflow.patched(LOCAL_STEP_ELSEWHERE_PATCH):
                raise
        return await regular()

    async def run(
        self,
        name: str,
        arg: Any,
        result_type: type,
        *,
        local: bool,
        task_queue: str | None = None,
        limit: timedelta,
        retry: RetryPolicy,
        summary: str,
        heartbeat: timedelta | None = None,
        routing: Routing | None = None,
        figures: Callable[[Any], str] | None = None,
    ) -> Any:
        """One state: a local activity, or a regular one on ``task_queue`` bounded by
        ``routing.schedule_to_start_s`` when set: with no worker polling that queue the state
        fails with ``no worker on <queue>``. ``limit``: its start-to-close timeout;
        ``figures``: the result's key figures for the details table.

        Whether a step runs locally was decided by the worker that ran ParseQuery; a later task
        of the run can land on another workflow worker of the queue without that step (a mixed
        pool). There the step is a stand-in that fails at once (``StepNotOnThisWorker``,
        :mod:`ragstate.activities.elsewhere`): its failure is recorded like any local
        activity's, so the step then runs as a regular activity on its own queue, and a replay
        on any worker takes the same path."""

        call = self._call(
            name,
            arg,
            result_type,
            local=local,
            task_queue=task_queue,
            limit=limit,
            retry=retry,
            summary=summary,
            heartbeat=heartbeat,
            routing=routing,
        )
        return await self._timed(name, call, task_queue, figures)

    def _call(
        self,
        name: str,
        arg: Any,
        result_type: type,
        *,
        local: bool,
        task_queue: str | None,
        limit: timedelta,
        retry: RetryPolicy,
        summary: str,
        heartbeat: timedelta | None,
        routing: Routing | None,
    ) -> Any:
        """The state's activity call, not yet awaited (nothing is scheduled until it is)."""

        def scheduled(wait: float | None) -> Any:
            return workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                task_queue=task_queue,
                start_to_close_timeout=limit,
                heartbeat_timeout=heartbeat,
                schedule_to_start_timeout=timedelta(seconds=wait) if wait else None,
                retry_policy=retry,
                summary=summary,
                priority=self.priority,
            )

        def regular() -> Any:
            first = scheduled(routing.schedule_to_start_s if routing is not None else None)
            if routing is None or not routing.backlog_wait_s or task_queue is None:
                return first
            backlog = routing.backlog_wait_s
            return _busy_aware(first, lambda: scheduled(backlog), task_queue, routing)

        if local:
            call = workflow.execute_local_activity(
                name, arg, result_type=result_type, start_to_close_timeout=limit, retry_policy=retry, summary=summary
            )
            if task_queue is not None:
                call = self._elsewhere_if_missing(call, regular)
        else:
            call = regular()
        return call

    async def _timed(self, name: str, call: Any, task_queue: str | None, figures: Callable[[Any], str] | None) -> Any:
        """Await the call, recording the state's status, duration, attempt and figures."""
        self.details.start(name)
        started = workflow.time()
        status, attempt, shown = "ok", None, ""
        try:
            result = await call
            attempt = getattr(result, "attempt", None)
            shown = figures(result) if figures is not None else ""
            return result
        except ActivityError as e:
            status = "failed"
            if isinstance(e.cause, TimeoutError) and e.cause.type == TimeoutType.SCHEDULE_TO_START:
                shown = f"no worker on {task_queue}"
                raise ApplicationError(shown, non_retryable=True) from e
            shown = failure_reason(e)
            raise
        except BaseException as e:
            cancelled = isinstance(e, asyncio.CancelledError)
            status = "cancelled" if cancelled else "failed"
            shown = "" if cancelled else failure_reason(e)
            raise
        finally:
            duration_ms = (workflow.time() - started) * 1000
            self.timings.append(StepTiming(step=name, duration_ms=duration_ms, status=status))
            self.details.finish(name, status, duration_ms, attempt=attempt, figures=shown)


def _never_started(e: BaseException) -> bool:
    """The step's task waited out its schedule-to-start bound: no worker took it."""
    return (
        isinstance(e, ActivityError)
        and isinstance(e.cause, TimeoutError)
        and e.cause.type == TimeoutType.SCHEDULE_TO_START
    )


async def _last_poll_s(task_queue: str) -> float:
    """Seconds since a worker last polled ``task_queue``; infinite when none or the server cannot say."""
    try:
        return await workflow.execute_local_activity(
            Activity.QUEUE_POLLERS,
            task_queue,
            result_type=float,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=POLLERS_RETRY,
            summary=f"when did a worker last poll {task_queue}?",
        )
    except ActivityError:
        return float("inf")  # as before the check: no worker


async def _busy_aware(first: Any, again: Callable[[], Any], task_queue: str, routing: Routing) -> Any:
    """``first``'s result. If no worker started it in time, a queue that no worker polled within
    :data:`POLL_WINDOW_S` has none ("no worker on <queue>", at once); one polled lately is busy:
    ``again`` (bounded by ``backlog_wait_s``) is waited for, the queue checked again every
    ``schedule_to_start_s`` meanwhile (a worker that stopped is given up on then), and if it
    never starts it degrades with that reason."""
    try:
        return await first
    except ActivityError as e:
        if not _never_started(e) or not workflow.patched(BUSY_QUEUE_PATCH):
            raise
    every = routing.schedule_to_start_s or POLL_WINDOW_S
    if await _last_poll_s(task_queue) > POLL_WINDOW_S:
        raise ApplicationError(f"no worker on {task_queue}", non_retryable=True)
    waiting = asyncio.ensure_future(again())
    while not waiting.done():
        await workflow.wait([waiting], timeout=every)
        if not waiting.done() and await _last_poll_s(task_queue) > POLL_WINDOW_S:
            waiting.cancel()  # not started: nothing is lost
            raise ApplicationError(
                f"no worker on {task_queue} (none polled for {POLL_WINDOW_S:g} s)", non_retryable=True
            )
    try:
        return waiting.result()
    except ActivityError as e:
        if not _never_started(e):
            raise
        waited = (routing.schedule_to_start_s or 0) + (routing.backlog_wait_s or 0)
        raise ApplicationError(
            f"{task_queue} busy: its workers polled, none was free within {waited:g} s", non_retryable=True
        ) from e
