"""A query's answer as Server-Sent Events: ``event: step|token|final|error``, each ``data:`` a
:class:`~ragstate.models.StreamEvent` (JSON), and a ``: keep-alive`` comment when idle.

A stream has no time budget: it ends with the ``final`` or ``error`` event (or, under an
adapter's deadline, an ``error`` event of type ``Timeout``). A client that disconnects only
stops the reading: the workflow runs to completion.

Example::

    return await stream_answer(gateway, request, gateway.rag_query(body))   # a StreamingResponse
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from ragstate.gateway.errors import ApiError, GatewayError, api_error_of
from ragstate.gateway.service import DEADLINE_SCOPE_KEY, Gateway
from ragstate.models import RagQuery, StreamEvent, StreamEventType

#: What the reader puts on the queue: ("event", StreamEvent), ("end", None) or ("exc", exception).
Item = tuple[str, object]


def _start_error(e: BaseException) -> ApiError:
    """A stream that failed before its first event, as a plain HTTP error."""
    known = api_error_of(e)
    if known is not None:
        return known
    if isinstance(e, RuntimeError):
        return ApiError(GatewayError.TEMPORAL_UNAVAILABLE, f"cannot reach Temporal: {e}")
    return ApiError(GatewayError.STREAM_FAILED, f"the answer stream failed: {e}")


def _error_event(e: BaseException) -> StreamEvent:
    kind = getattr(e, "kind", None) or getattr(e, "type", None) or type(e).__name__
    return StreamEvent(type=StreamEventType.error, error=str(e) or type(e).__name__, error_type=str(kind))


def _sse_event(event: StreamEvent) -> str:
    return f"event: {event.type.value}\ndata: {event.model_dump_json()}\n\n"


async def stream_answer(gateway: Gateway, request: Request, query: RagQuery) -> StreamingResponse:
    """Start the query and answer with its events; holds a request slot until the stream ends."""

    async def start() -> tuple[str, AsyncIterator[StreamEvent]]:
        rag = await gateway.rag()
        workflow_id = rag.query_id(query.question)
        return workflow_id, rag.ask_stream(query, workflow_id)

    return await stream_events(gateway, request, start)


async def stream_events(
    gateway: Gateway, request: Request, start: Callable[[], Awaitable[tuple[str, AsyncIterator[StreamEvent]]]]
) -> StreamingResponse:
    """The events ``start()`` opens (with the id of the run they come from, in ``X-Workflow-Id``),
    as Server-Sent Events; holds a request slot until the stream ends."""
    release = gateway.slot()
    try:
        workflow_id, events = await start()
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Workflow-Id": workflow_id}
        queue: asyncio.Queue[Item] = asyncio.Queue()

        async def pump() -> None:
            """Reads the events into the queue; cancelled when the client goes, which only
            stops consuming: nothing here cancels the workflow."""
            try:
                async for event in events:
                    await queue.put(("event", event))
                await queue.put(("end", None))
            except Exception as e:  # reported to the client as an error event
                await queue.put(("exc", e))

        task = asyncio.create_task(pump())
        # Wait briefly for the first event so a failure to start is a plain HTTP error.
        try:
            first: Item | None = await asyncio.wait_for(queue.get(), min(gateway.config.sse_keepalive_s, 10.0))
        except TimeoutError:
            first = None
        if first is not None and first[0] == "exc":
            task.cancel()
            raise _start_error(first[1])  # type: ignore[arg-type]
    except BaseException:
        release()
        raise
    body = _sse(first, queue, task, release, gateway.config.sse_keepalive_s, request.scope.get(DEADLINE_SCOPE_KEY))
    return StreamingResponse(body, media_type="text/event-stream", headers=headers, background=BackgroundTask(release))


async def _sse(
    first: Item | None,
    queue: asyncio.Queue[Item],
    task: asyncio.Task,
    release: Callable[[], None],
    keepalive_s: float,
    deadline: float | None,
) -> AsyncIterator[str]:
    try:
        item = first
        while True:
            if item is None:
                wait = keepalive_s
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        yield _sse_event(
                            StreamEvent(
                                type=StreamEventType.error,
                                error_type=GatewayError.TIMEOUT,
                                error="the platform's deadline is near; the workflow goes on",
                            )
                        )
                        return
                try:
                    item = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
            kind, value = item
            item = None
            if kind == "end":
                return
            if kind == "exc":
                yield _sse_event(_error_event(value))  # type: ignore[arg-type]
                return
            assert isinstance(value, StreamEvent)
            yield _sse_event(value)
            if value.type in (StreamEventType.final, StreamEventType.error):
                return
    finally:
        task.cancel()  # stop consuming (a disconnect lands here too); the workflow goes on
        release()
