"""Feedback calls of :class:`~ragstate.client.RagClient`: rate a finished answer, read a
collection's ratings back.

A rating is stored durably by a short ``RagFeedback`` run (id ``<query id>-feedback-<hex>``,
next to the query run in the UI) whose one activity writes it to the store the workers share;
a later rating of the same answer replaces the earlier one.

Example::

    answer = await rag.ask("What does RRF do?")
    record = await rag.feedback(answer.workflow_id, good=False, sources=["/docs/fusion.md"], note="missed it")
    records = await rag.feedback_records("docs")       # what `ragstate feedback export` writes out
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError

from ragstate.client.base import CLOSED_STATUSES, ClientBase, failure_of
from ragstate.contracts import ErrorType, Workflow
from ragstate.errors import RagError
from ragstate.evaluation.ranking_metrics import document_ranking
from ragstate.models import (
    CollectionRequest,
    Feedback,
    FeedbackList,
    FeedbackRecord,
    RagAnswer,
    RagQuery,
)


def _cited(answer: RagAnswer, top_k: int) -> list[str]:
    """The document ids the answer cited, each once, in citation order; of a retrieval-only
    answer (no citations), its first ``top_k`` ranked documents."""
    if answer.citations:
        return list(dict.fromkeys(c.doc_id for c in answer.citations))
    return document_ranking(answer.ranking)[:top_k]


class FeedbackCalls(ClientBase):
    async def feedback(self, query_id: str, good: bool, sources: list[str] = [], note: str = "") -> FeedbackRecord:  # noqa: B006 - never mutated; the signature the MCP server calls
        """Rate the answer of the finished query run ``query_id``: ``good`` or not, optionally
        the document ids it should have cited (``sources``) and a ``note``. Returns the stored
        record. :class:`RunNotFoundError` for an unknown id or a run that is not a query;
        :class:`RagError` of kind ``InvalidRequest`` for a run with no answer (still running,
        failed) or bad input (a note over 2000 characters, more than 50 sources)."""
        try:
            rating = Feedback(query_id=query_id, good=good, sources=list(dict.fromkeys(sources)), note=note)
        except ValidationError as e:
            raise _invalid(f"invalid feedback: {_first_error(e)}", query_id) from None
        query, answer = await self._finished_query(query_id)
        feedback_id = f"{query_id}-feedback-{uuid.uuid4().hex[:8]}"
        record = FeedbackRecord(
            **rating.model_dump(),
            question=answer.question or query.question,
            collection=query.collection or self.settings.collection,
            cited=_cited(answer, query.top_k or self.settings.default_top_k),
            mode=answer.mode,
            created_at=datetime.now(UTC),
            feedback_id=feedback_id,
        )
        self.check_size(record, "the feedback")
        verdict = "good" if good else "bad"
        details = [f"rating of [{query_id}]({self.ui_link(query_id)}): **{verdict}**"]
        if record.sources:
            details.append(f"right sources: {', '.join(record.sources[:10])}")
        if note:
            details.append(f"note: {note[:500]}")
        return await self.client.execute_workflow(
            Workflow.FEEDBACK,
            record,
            result_type=FeedbackRecord,
            id=feedback_id,
            task_queue=self.settings.workflow_task_queue,
            search_attributes=await self._attributes("feedback"),
            static_summary=f"{verdict}: {record.question[:180]}",
            static_details="\n\n".join(details),
            execution_timeout=timedelta(minutes=10),
        )

    async def feedback_records(self, collection: str | None = None) -> list[FeedbackRecord]:
        """The ratings stored for ``collection`` (settings.collection when None), oldest first."""
        result = await self.client.execute_workflow(
            Workflow.LIST_FEEDBACK,
            CollectionRequest(collection=collection or self.settings.collection),
            result_type=FeedbackList,
            id=f"rag-feedback-list-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.workflow_task_queue,
            execution_timeout=timedelta(minutes=5),
        )
        return result.records

    async def _finished_query(self, query_id: str) -> tuple[RagQuery, RagAnswer]:
        """The question (the run's input: which collection it asked) and the answer of a
        completed query run; the errors of :meth:`feedback` otherwise."""
        desc = await self._describe(query_id, Workflow.QUERY)
        if desc.status not in CLOSED_STATUSES:
            raise _invalid(f"query {query_id!r} is still running: rate it once it has answered", query_id)
        handle = self.client.get_workflow_handle(query_id, run_id=desc.run_id, result_type=RagAnswer)
        try:
            answer = await handle.result(follow_runs=False, rpc_timeout=timedelta(seconds=10))
        except WorkflowFailureError as e:
            raise _invalid(f"query {query_id!r} has no answer to rate: {failure_of(e)[0]}", query_id) from e
        async for event in handle.fetch_history_events(page_size=1, rpc_timeout=timedelta(seconds=10)):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                [query] = await self.client.data_converter.decode(payloads, [RagQuery])
                return query, answer
            break
        raise _invalid(f"query {query_id!r}: its start is not in its history", query_id)


def _invalid(message: str, query_id: str) -> RagError:
    return RagError(message, query_id, ErrorType.INVALID_REQUEST)


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
