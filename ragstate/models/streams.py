"""Models of streaming and run status: the HTTP gateway, ``RagClient.ask_stream``, ``get_result``
and ``ingest_status``.

They travel through workflow history: ids, scores and short texts, never vectors."""

from __future__ import annotations

import enum

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.ingest import IngestProgress, IngestResult
from ragstate.models.query import RagAnswer


class StreamEventType(str, enum.Enum):
    step = "step"  # a state of the graph finished: parsed, retrieved, synthesizing
    token = "token"  # answer text as the LLM produces it
    final = "final"  # the RagAnswer (citations, usage): always the last event
    error = "error"  # the workflow failed; the last event


class StreamEvent(_Model):
    """One event of a streamed answer, in order: steps, tokens, then final (or error)."""

    type: StreamEventType
    step: str | None = None
    detail: dict[str, int | float | str] = Field(default_factory=dict)
    text: str | None = None
    answer: RagAnswer | None = None
    error: str | None = None
    error_type: str | None = None


class RunState(str, enum.Enum):
    running = "running"
    completed = "completed"
    failed = "failed"


class QueryStatus(_Model):
    workflow_id: str
    state: RunState
    answer: RagAnswer | None = None
    error: str | None = None
    error_type: str | None = Field(None, description="e.g. InvalidQuery, LLMRequestRejected, RetrievalFailed")


class IngestStatus(_Model):
    workflow_id: str
    state: RunState
    progress: IngestProgress | None = None
    result: IngestResult | None = None
    error: str | None = None


class RateLimitWait(_Model):
    """A query run whose LLM step is waiting out a rate limit (``RagClient.llm_rate_limit``)."""

    retry_in_s: float | None = Field(None, description="seconds until the next attempt, when Temporal says")
    message: str = Field(description="the last attempt's failure, as the activity reported it")
    activity: str = Field(description="the waiting activity's type (Synthesize)")
