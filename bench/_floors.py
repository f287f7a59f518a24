"""The floors the query benchmarks measure beside the query workflow: a workflow with no
activity, and five no-op activities in the RAG graph's shape.

Only the standard library and temporalio: under the workflow sandbox each run imports this
module afresh, as it imports the query workflow's modules afresh, so a floor costs what the
sandbox costs any workflow and no more (bench/query_latency.py's floors once lived in a module
that imported the benchmark's helpers, and every floor run re-imported those too).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="Noop")
async def noop(_: str) -> str:
    return ""


@workflow.defn(name="FloorEmpty")
class FloorEmpty:
    @workflow.run
    async def run(self, _: str) -> str:
        return ""


@workflow.defn(name="FloorFiveNoop")
class FloorFiveNoop:
    """Five no-op activities in the RAG graph's shape: one, two in parallel, one, one."""

    @workflow.run
    async def run(self, local: bool) -> str:
        def call():
            if local:
                return workflow.execute_local_activity(noop, "", start_to_close_timeout=timedelta(seconds=10))
            return workflow.execute_activity(noop, "", start_to_close_timeout=timedelta(seconds=10))

        await call()
        await asyncio.gather(call(), call())
        await call()
        await call()
        return ""
