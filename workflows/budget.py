"""``RagBudget`` (id ``rag-budget-<workflow task queue>-<tenant>``): one tenant's request rate
and LLM spend, shared by every gateway and worker process because it lives in Temporal, not in any of them.

- ``admit`` (an Update, before a run starts): refuses past the requests-per-minute limit, or
  past the day's LLM cap counting what is spent and what runs in flight have reserved; else
  reserves the run's worst-case LLM cost. Over the cap with the policy ``retrieval-only``, the
  run is admitted without the LLM instead.
- ``settle`` (a signal, from the query workflow when its answer is done, whether or not the
  client still waits): the reservation is replaced by the run's real cost. A reservation never
  settled (a run terminated by hand) lapses after an hour.
- The spend resets at UTC midnight; the run continues as new with its state when the server
  suggests it. Current Details show the day's spend, the reservations and the refusals.

Example::

    admitted = await client.get_workflow_handle("rag-budget-ragstate-acme").execute_update(
        "admit", Admission(run_id=query_id, policy=policy), result_type=Admitted)
"""

from __future__ import annotations

import contextlib
import math
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Query, Signal, Update, Workflow
    from ragstate.models.budget import Admission, Admitted, BudgetState, Settlement
    from ragstate.models.keys import OverBudget

#: A reservation no run settled (terminated, reset) stops counting after this long.
RESERVATION_LAPSE_S = 3600.0


async def settle(budget_id: str, usd: float) -> None:
    """From a query workflow: its real cost replaces its reservation in the tenant's budget."""
    with contextlib.suppress(ApplicationError, ActivityError):  # the budget's run is gone: nothing to settle
        await workflow.get_external_workflow_handle(budget_id).signal(
            Signal.SETTLE, Settlement(run_id=workflow.info().workflow_id, usd=usd)
        )


@workflow.defn(name=Workflow.BUDGET)
class RagBudgetWorkflow:
    # The input is taken in __init__: an update-with-start's update runs before the run method.
    @workflow.init
    def __init__(self, state: BudgetState) -> None:
        self._state = state

    @workflow.run
    async def run(self, state: BudgetState) -> None:
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._state)

    def _now(self) -> float:
        return workflow.now().timestamp()

    def _roll(self) -> None:
        """A new UTC day starts from zero spend; old requests and lapsed reservations go."""
        s, now = self._state, self._now()
        day = workflow.now().date().isoformat()
        if s.day != day:
            s.day, s.spent_usd, s.refused = day, 0.0, 0
        s.recent_requests = [t for t in s.recent_requests if now - t < 60.0]
        for run_id in [r for r, at in s.reserved_at.items() if now - at > RESERVATION_LAPSE_S]:
            s.reservations.pop(run_id, None)
            s.reserved_at.pop(run_id, None)
        s.reserved_usd = sum(s.reservations.values())
        s.open_reservations = len(s.reservations)
        s.requests_last_minute = len(s.recent_requests)

    def _show(self) -> None:
        """Current Details for the UI, and the workers' metrics (``RAGSTATE_METRICS_BIND``):
        ``ragstate_tenant_llm_spend_usd``, ``..._reserved_usd`` and ``..._refused`` by tenant."""
        s, p = self._state, self._state.policy
        meter = workflow.metric_meter().with_additional_attributes({"tenant": s.tenant})
        meter.create_gauge_float("ragstate_tenant_llm_spend_usd", "LLM spend today (UTC)").set(s.spent_usd)
        meter.create_gauge_float("ragstate_tenant_llm_reserved_usd", "reserved by runs in flight").set(s.reserved_usd)
        meter.create_gauge("ragstate_tenant_refused", "requests refused today by the budget").set(s.refused)
        cap = f" of ${p.llm_usd_per_day:.4f}" if p and p.llm_usd_per_day is not None else ""
        rpm = f" of {p.requests_per_minute}" if p and p.requests_per_minute else ""
        workflow.set_current_details(
            f"tenant **{s.tenant}**, {s.day}: spent **${s.spent_usd:.4f}**{cap}, reserved ${s.reserved_usd:.4f} "
            f"({s.open_reservations} runs in flight); {s.requests_last_minute}{rpm} requests in the last minute; "
            f"{s.refused} refused"
        )

    def _refuse(self, reason: str, retry_after_s: float) -> Admitted:
        self._state.refused += 1
        self._show()
        return Admitted(ok=False, reason=reason, retry_after_s=max(1, math.ceil(retry_after_s)))

    @workflow.query(name=Query.BUDGET_STATE)
    def budget_state(self) -> BudgetState:
        return self._state

    @workflow.update(name=Update.ADMIT)
    def admit(self, admission: Admission) -> Admitted:
        s, policy, now = self._state, admission.policy, self._now()
        s.tenant, s.policy = policy.tenant, policy
        self._roll()
        if policy.requests_per_minute is not None and len(s.recent_requests) >= policy.requests_per_minute:
            return self._refuse(
                f"tenant {policy.tenant} is at its limit of {policy.requests_per_minute} requests per minute",
                60.0 - (now - s.recent_requests[0]),
            )
        llm = admission.llm
        cap = policy.llm_usd_per_day
        if llm and cap is not None and s.spent_usd + s.reserved_usd + policy.reserve_usd > cap:
            tomorrow = workflow.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            if policy.over_budget is OverBudget.refuse:
                return self._refuse(
                    f"tenant {policy.tenant} has spent ${s.spent_usd:.4f} of its ${cap:.4f} LLM budget for "
                    f"{s.day} (${s.reserved_usd:.4f} more reserved by runs in flight)",
                    (tomorrow - workflow.now()).total_seconds(),
                )
            llm = False
        s.recent_requests.append(now)
        if llm and cap is not None:
            s.reservations[admission.run_id] = policy.reserve_usd
            s.reserved_at[admission.run_id] = now
        self._roll()
        self._show()
        reason = "" if llm or not admission.llm else "the tenant's LLM budget for the day is spent: retrieval only"
        return Admitted(ok=True, llm=llm, reason=reason)

    @workflow.signal(name=Signal.SETTLE)
    def settle(self, settlement: Settlement) -> None:
        self._roll()
        s = self._state
        s.reservations.pop(settlement.run_id, None)
        s.reserved_at.pop(settlement.run_id, None)
        s.spent_usd += settlement.usd
        self._roll()
        self._show()
