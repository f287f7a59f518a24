"""Store statistics through a worker, so that it works for any backend and deployment
(the embedded store lives inside the worker process)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Workflow
    from ragstate.models import StatsRequest, StoreStats


@workflow.defn(name=Workflow.STATS)
class StoreStatsWorkflow:
    @workflow.run
    async def run(self, req: StatsRequest) -> StoreStats:
        return await workflow.execute_activity(
            Activity.STORE_STATS,
            req,
            result_type=StoreStats,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=2),
            summary="count chunks and documents",
        )
