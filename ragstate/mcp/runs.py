"""A tool call as a query run: started (or joined, with a request id), followed to its answer,
its steps reported as MCP progress notifications when the caller sent a ``progressToken``.

Example::

    answer = await run_query(rag, query, "rag-query-mcp-ask-agent-42", ctx, total=4)
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from temporalio.client import WorkflowFailureError

from ragstate.client import RagClient
from ragstate.client.base import failure_of
from ragstate.errors import InvalidQueryError, RagError, RequestTooLargeError, error_for
from ragstate.models import RagAnswer, RagQuery, StreamEvent, StreamEventType
from ragstate.models.validation import normalise_question


def wants_progress(ctx: Context[Any, Any]) -> bool:
    """Whether the caller asked for progress notifications (sent a ``progressToken``)."""
    meta = ctx.request_context.meta or {}
    return meta.get("progress_token") is not None


def step_message(event: StreamEvent) -> str:
    """A step event in words, e.g. ``retrieved (vector_hits=12, keyword_hits=9)``."""
    detail = ", ".join(f"{k}={v}" for k, v in event.detail.items())
    return f"{event.step} ({detail})" if detail else str(event.step)


def tool_error(rag: RagClient, e: RagError | RequestTooLargeError) -> ToolError:
    """A failed run as the CLI words it: bad input as it is, anything else with the run's link."""
    if isinstance(e, InvalidQueryError | RequestTooLargeError) or not getattr(e, "workflow_id", ""):
        return ToolError(str(e))
    return ToolError(f"{e} (workflow {rag.ui_link(e.workflow_id)})")


async def run_query(
    rag: RagClient, query: RagQuery, workflow_id: str | None, ctx: Context[Any, Any], total: int
) -> RagAnswer:
    """The run's answer; with a ``workflow_id`` a run that already has it is followed instead of
    starting another (ToolError if that run asked another question). ToolError when the run
    fails (or the input is refused)."""
    answer = await _answer(rag, query, workflow_id, ctx, total)
    if workflow_id is not None and answer.question != normalise_question(query.question):
        raise ToolError(
            f"request_id of run {workflow_id} was used for another question ({answer.question!r}): "
            "use a new request_id for a new question"
        )
    return answer


async def _answer(
    rag: RagClient, query: RagQuery, workflow_id: str | None, ctx: Context[Any, Any], total: int
) -> RagAnswer:
    try:
        handle = await rag.start_query(query, workflow_id, join=workflow_id is not None)
        if not wants_progress(ctx):
            try:
                return await rag.follow(handle, f"query {handle.id}")
            except WorkflowFailureError as e:
                message, kind = failure_of(e)
                raise error_for(message, handle.id, kind) from e
        done = 0
        async for event in rag.stream_events(handle.id):
            if event.type is StreamEventType.step:
                done += 1
                await ctx.report_progress(min(done, total - 1), total, step_message(event))
            elif event.type is StreamEventType.final and event.answer is not None:
                await ctx.report_progress(total, total, "done")
                return event.answer
            elif event.type is StreamEventType.error:
                raise error_for(event.error or "the query failed", handle.id, event.error_type)
        raise RagError("the run ended without an answer", handle.id)
    except (RagError, RequestTooLargeError) as e:
        raise tool_error(rag, e) from None
