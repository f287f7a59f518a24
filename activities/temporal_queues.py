"""QueuePollers: how long ago a worker last polled a task queue, asked of the Temporal server.

The query workflow asks it when a step on a remote queue was not started within its short
schedule-to-start bound, and again while it waits: a worker whose every slot is taken polls
again as soon as one frees, so a recent poll means a busy queue (wait longer), none (or only an
old one: a stopped worker stays listed for minutes) means no worker (degrade now).

Example::

    age = await workflow.execute_local_activity(
        Activity.QUEUE_POLLERS, "ragstate-llm", result_type=float, start_to_close_timeout=timedelta(seconds=10))
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from ragstate.contracts import Activity

#: What "never" is: no worker has polled the queue at all.
NEVER = float("inf")


@activity.defn(name=Activity.QUEUE_POLLERS)
async def queue_pollers(task_queue: str) -> float:
    """Seconds since a worker last polled ``task_queue`` for activities (:data:`NEVER`: none)."""
    client = activity.client()
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ),
        timeout=timedelta(seconds=5),
    )
    if not response.pollers:
        return NEVER
    latest = max(p.last_access_time.ToDatetime(tzinfo=UTC) for p in response.pollers)
    return max(0.0, (datetime.now(UTC) - latest).total_seconds())
