"""Workers with the index-lifecycle activities on the workflow worker, for the lifecycle and sync
tests, until the worker registry (ragstate.workers.registry) registers them itself; once it does,
this adds nothing (an activity is never registered twice)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from ragstate.activities.lifecycle import LifecycleActivities
from ragstate.settings import Settings
from ragstate.workers.registry import ROLES, activity_name, worker_specs


@contextlib.asynccontextmanager
async def lifecycle_workers(
    client: Client, settings: Settings, roles: Sequence[str] = ROLES, replace: Sequence[Callable] = ()
) -> AsyncIterator[list[Worker]]:
    """Like ``running_workers``, with :class:`LifecycleActivities` on the workflow worker;
    ``replace`` swaps in activities by name, the lifecycle ones included."""
    replacements = {activity_name(fn): fn for fn in replace}
    specs = worker_specs(settings, roles)
    registered = {activity_name(fn) for fn in specs[0].activities}
    extra = [fn for fn in LifecycleActivities(settings).all() if activity_name(fn) not in registered]
    specs[0] = dataclasses.replace(specs[0], activities=(*specs[0].activities, *extra))
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ragstate-test-activity")
    workers = [
        Worker(client, **spec.replacing(replacements).worker_config(), activity_executor=executor) for spec in specs
    ]
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield workers
    executor.shutdown(wait=False)
