"""Watching a started process from a test: polling a condition until it holds (never a fixed
sleep), the workers a Temporal task queue sees, and a local HTTP endpoint."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


async def wait_for(
    predicate: Callable[[], Awaitable[Any]],
    within_s: float,
    what: str,
    alive: subprocess.Popen | None = None,
    every: float = 0.2,
) -> Any:
    """The first truthy value of ``predicate()``; fails after ``within_s``, or at once when the
    process ``alive`` exits meanwhile."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if value := await predicate():
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"the process exited ({alive.returncode}) before {what}")
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")


async def pollers(client: Client, queue: str, kind: TaskQueueType.ValueType) -> list[str]:
    """Identities (``pid@host`` unless a worker names itself) of the workers polling ``queue``
    for tasks of ``kind``. The server lists a dead worker's pollers for a while."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)
    )
    return [p.identity for p in resp.pollers]


def http_get(port: int, path: str) -> tuple[int, dict] | None:
    """Status and JSON body of ``GET path`` on localhost; None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return None


async def http_answer(port: int, path: str, code: int | None = None) -> tuple[int, dict] | None:
    """:func:`http_get` off the event loop; with ``code``, None unless the status is that one."""
    answer = await asyncio.to_thread(http_get, port, path)
    return answer if answer and code in (None, answer[0]) else None
