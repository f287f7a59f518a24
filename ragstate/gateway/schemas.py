"""Request and response bodies, and the error responses each route documents in OpenAPI.

Example::

    QueryRequest.model_validate({"question": "What is BM25?", "top_k": 5})
    @router.get("/v1/queries/{workflow_id}", responses=documented_errors(404, 429, 503))
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragstate.models import AnswerMode, Citation, Cost, RagAnswer, StepTiming, Usage

MAX_INGEST_PATHS = 1000
#: Request bodies may ask for at most this budget; the gateway caps it further at max_timeout_s.
TIMEOUT_SCHEMA_MAX_S = 3600.0
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class QueryRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"question": "What does reciprocal rank fusion do?", "top_k": 5}]},
    )

    question: str = Field(description="the question (not empty, no control characters, RAGSTATE_MAX_QUERY_CHARS)")
    top_k: int | None = Field(default=None, description="sources to cite (1..RAGSTATE_MAX_TOP_K)")
    sources: list[str] | None = Field(default=None, description="only chunks from these sources")
    doc_ids: list[str] | None = Field(default=None, description="only chunks of these documents")
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=TIMEOUT_SCHEMA_MAX_S,
        allow_inf_nan=False,
        description="time budget in seconds (else X-Request-Timeout, else the default)",
    )


class QueryResponse(BaseModel):
    question: str
    answer: str
    citations: list[Citation]
    usage: Usage
    mode: AnswerMode
    model: str | None = None
    degraded: bool
    degraded_reasons: list[str]
    truncated: bool = False  # the LLM stopped at its token limit: the answer may be cut short
    no_answer: bool = False  # the sources do not contain the answer: abstained
    best_score: float | None = None  # the abstention signal: the vector branch's best similarity
    cost: Cost
    timings: list[StepTiming]
    workflow_id: str
    run_id: str
    ui_link: str
    cached: bool = False  # served from the answer cache (RAGSTATE_ANSWER_CACHE), at no LLM cost
    cached_from: str = ""  # cached: the workflow id of the run that made the answer
    cached_similarity: float | None = None  # cached: the question's similarity to the one answered

    @classmethod
    def of(cls, answer: RagAnswer, ui_link: str) -> QueryResponse:
        return cls(
            question=answer.question,
            answer=answer.answer,
            citations=answer.citations,
            usage=answer.usage,
            mode=answer.mode,
            model=answer.model,
            degraded=answer.degraded,
            degraded_reasons=answer.degraded_reasons,
            truncated=answer.truncated,
            no_answer=answer.no_answer,
            best_score=answer.best_score,
            cost=answer.cost,
            timings=answer.timings,
            workflow_id=answer.workflow_id,
            run_id=answer.run_id,
            ui_link=ui_link,
            cached=answer.cached,
            cached_from=answer.cached_from,
            cached_similarity=answer.cached_similarity,
        )


class IngestBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"paths": ["examples/corpus"]}]}
    )

    paths: list[str] = Field(description=f"files or folders on the workers' filesystem (1..{MAX_INGEST_PATHS})")
    collection: str | None = Field(
        default=None,
        pattern=COLLECTION_NAME.pattern,
        description="letters, digits, '-' and '_'; the default collection when unset",
    )
    summarize: bool = Field(
        default=False, description="afterwards, a summary of each document, stored with it (GET /v1/documents)"
    )


class IngestAccepted(BaseModel):
    workflow_id: str
    status_url: str
    ui_link: str


class ErrorDetail(BaseModel):
    type: str = Field(
        description="e.g. InvalidRequest, InvalidQuery, Unauthorized, TooManyRequests, "
        "LLMRateLimited, LLMRequestRejected, LLMUnavailable, Timeout, TemporalUnavailable"
    )
    message: str
    workflow_id: str | None = None
    status_url: str | None = None
    ui_link: str | None = None
    retry_after_s: int | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str


_DESCRIPTIONS = {
    400: "invalid request",
    401: "missing or wrong API key",
    403: "ingest over HTTP is off: no RAGSTATE_GATEWAY_INGEST_ROOTS",
    404: "no such workflow",
    413: "request body too large",
    429: "too many requests, or the LLM is rate limited (Retry-After)",
    502: "the workflow failed for good",
    503: "Temporal is unreachable",
    504: "the time budget ran out; the workflow goes on (workflow_id, status_url)",
}


def documented_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each an :class:`ErrorResponse`."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}
