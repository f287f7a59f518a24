"""QueuePollers: how many workers polled a task queue lately, asked of the Temporal server.

The query workflow asks it when a step on a remote queue was not started within its short
schedule-to-start bound: workers polling means a busy queue (wait longer), none means no worker
(degrade now). A worker whose every slot is taken does not poll while it works, so "lately" is a
window of a couple of minutes, not the last seconds.

Example::

    pollers = await workflow.execute_local_activity(
        Activity.QUEUE_POLLERS, "ragstate-llm", result_type=int, start_to_close_timeout=timedelta(seconds=10))
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from ragstate.contracts import Activity

#: A poller seen this recently counts (a busy worker polls again only when a slot frees).
RECENT = timedelta(minutes=2)


@activity.defn(name=Activity.QUEUE_POLLERS)
async def queue_pollers(task_queue: str) -> int:
    """Workers that polled ``task_queue`` for activities within :data:`RECENT`."""
    client = activity.client()
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ),
        timeout=timedelta(seconds=5),
    )
    since = datetime.now(UTC) - RECENT
    return sum(1 for p in response.pollers if p.last_access_time.ToDatetime(tzinfo=UTC) >= since)
