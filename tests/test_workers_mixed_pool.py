"""A pool of workflow workers with different roles on one queue: ParseQuery's worker decides
which steps run as local activities, and a later task can land on a worker without them. The
step then runs as a regular activity on its own queue instead of failing its branch."""

from __future__ import annotations

import asyncio

from paths import EXAMPLES_CORPUS
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from ragstate.activities.query_parsing import QueryParsingActivities
from ragstate.client import RagClient
from ragstate.contracts import Activity
from ragstate.models import AnswerMode, ParsedQuery, RagQuery
from ragstate.settings import Settings
from ragstate.workers.registry import workflow_runner
from ragstate.workers.runtime import running_workers
from ragstate.workflows import ALL_WORKFLOWS


class ParsedOnAFullWorker(QueryParsingActivities):
    """ParseQuery as the process serving every role returns it: VectorSearch and (offline)
    Synthesize routed as local activities, whichever workflow worker runs the later tasks."""

    @activity.defn(name=Activity.PARSE_QUERY)
    async def parse_query(self, query: RagQuery) -> ParsedQuery:
        parsed = await super().parse_query(query)
        routing = parsed.routing.model_copy(update={"vector_search_local": True, "synthesize_local": True})
        return parsed.model_copy(update={"routing": routing})


async def test_a_local_step_the_worker_lacks_runs_on_its_own_queue(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with running_workers(client, settings, {"embeddings", "llm"}):
        async with running_workers(client, settings, {"workflows"}):
            await rag.ingest([str(EXAMPLES_CORPUS)])
        # A workflow worker without the model or the LLM step, told by ParseQuery to run both locally.
        parse = ParsedOnAFullWorker(settings, in_process_roles=frozenset({"workflows"})).parse_query
        async with running_workers(client, settings, {"workflows"}, replace=[parse]):
            # Without the stand-ins every workflow task of the run failed there (the SDK refuses to
            # schedule an unregistered local activity) and the query never ended: bounded here.
            answer = await asyncio.wait_for(rag.ask("How does reciprocal rank fusion combine rankings?"), 120)

    assert not answer.degraded, answer.degraded_reasons
    assert answer.mode is AnswerMode.offline_extractive and answer.citations
    history = await client.get_workflow_handle(answer.workflow_id).fetch_history()
    regular = {
        (a.activity_type.name, a.task_queue.name)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        for a in [e.activity_task_scheduled_event_attributes]
    }
    assert regular == {
        (Activity.VECTOR_SEARCH, settings.embeddings_task_queue),
        (Activity.SYNTHESIZE, settings.llm_task_queue),
    }
    # The path is taken from the recorded failure, so a replay on any worker takes it too.
    replayer = Replayer(
        workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    await replayer.replay_workflow(history)
