"""Feedback workflows: a rating of an answer stored durably next to the store, and a collection's
ratings read back (``ragstate feedback export`` turns them into a judged set).

- ``RagFeedback`` (id ``<query id>-feedback-<hex>``, RagKind ``feedback``): one retried
  activity, ``RecordFeedback``, writes the record where the store keeps what it knows of its
  collections (ragstate/store/feedback.py): Temporal's history alone would lose it at the
  namespace's retention.
- ``ListFeedback``: the records of one collection.

Example::

    record = await client.execute_workflow(
        RagFeedbackWorkflow.run, record, id=f"{query_id}-feedback-1", task_queue="ragstate")
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Workflow
    from ragstate.models import CollectionRequest, FeedbackList, FeedbackRecord
    from ragstate.temporal.conventions import set_status

# One retried activity each, as the lifecycle workflows run theirs: a write that replaces the
# query's record is idempotent, so retrying it is always safe.
from ragstate.workflows.lifecycle import _step


@workflow.defn(name=Workflow.FEEDBACK)
class RagFeedbackWorkflow:
    @workflow.run
    async def run(self, record: FeedbackRecord) -> FeedbackRecord:
        verdict = "good" if record.good else "bad"
        workflow.set_current_details(f"rating **{verdict}** of query `{record.query_id}`: storing")
        summary = f"store the rating ({verdict}) of {record.query_id}"
        stored: FeedbackRecord = await _step(Activity.RECORD_FEEDBACK, record, FeedbackRecord, summary)
        workflow.set_current_details(
            f"rating **{verdict}** of query `{record.query_id}` stored for collection "
            f"**{stored.collection}** (version {stored.version})"
        )
        set_status("completed")
        return stored


@workflow.defn(name=Workflow.LIST_FEEDBACK)
class ListFeedbackWorkflow:
    @workflow.run
    async def run(self, req: CollectionRequest) -> FeedbackList:
        return await _step(Activity.LIST_FEEDBACK, req, FeedbackList, f"list the ratings of {req.collection}")
