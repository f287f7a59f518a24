"""``POST /v1/queries/{workflow_id}/feedback``: rate a finished answer, behind the API keys.

The rating is stored by a ``RagFeedback`` run next to the query run (the client's
:meth:`~ragstate.client.RagClient.feedback`); a later rating of the same answer replaces it.
404 for an id that is no query run, 400 for bad input or a run with no answer (still running,
failed). Ratings are counted by the workers (``ragstate_feedback_total{rating}``).

Example::

    curl -s -X POST localhost:8080/v1/queries/rag-query-what-is-bm25-3f2a9c1d/feedback \\
      -H 'x-api-key: ...' -H 'content-type: application/json' \\
      -d '{"good": false, "sources": ["/srv/docs/bm25.md"], "note": "missed the k1 part"}'
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ragstate.gateway.deps import GatewayDep
from ragstate.gateway.inputs import check_text
from ragstate.gateway.principal import requires
from ragstate.gateway.schemas import documented_errors
from ragstate.models import FeedbackRecord
from ragstate.models.feedback import MAX_FEEDBACK_SOURCES, MAX_NOTE_CHARS, DocId
from ragstate.models.keys import Scope

router = APIRouter(tags=["feedback"], dependencies=[requires(Scope.query)])


class FeedbackBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"good": False, "sources": ["/srv/docs/bm25.md"], "note": "missed k1"}]},
    )

    good: bool = Field(description="the answer was right (true) or not (false)")
    sources: list[DocId] = Field(
        default_factory=list,
        max_length=MAX_FEEDBACK_SOURCES,
        description="document ids the answer should have cited (relevant in `ragstate feedback export`)",
    )
    note: str = Field(default="", max_length=MAX_NOTE_CHARS, description="free text kept with the rating")


@router.post(
    "/v1/queries/{workflow_id}/feedback",
    response_model=FeedbackRecord,
    summary="Rate a finished answer (good or bad, optionally the documents it should have cited)",
    responses=documented_errors(400, 404, 429, 502, 503),
)
async def post_feedback(workflow_id: str, body: FeedbackBody, gateway: GatewayDep) -> Any:
    for i, source in enumerate(body.sources):
        check_text(source, f"sources[{i}]")
    check_text(body.note, "note", control=False)  # a note may hold newlines and tabs
    async with gateway.held():
        return await (await gateway.rag()).feedback(workflow_id, body.good, body.sources, body.note)
