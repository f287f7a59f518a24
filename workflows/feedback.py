"""Feedback workflows: a rating of an answer stored durably next to the store, and a collection's
ratings read back (``ragstate feedback export`` turns them into a judged set).

- ``RagFeedback`` (id ``<query id>-feedback-<hex>``, RagKind ``feedback``): one retried
  activity, ``RecordFeedback``, writes the record to the file the workers share (Temporal's
  history alone would lose it at the namespace's retention).
- ``ListFeedback``: the records of one collection.

Example::

    record = await client.execute_workflow(
        RagFeedbackWorkflow.run, record, id=f"{query_id}-feedback-1", task_queue="ragstate")
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Workflow
    from ragstate.models import CollectionRequest, FeedbackList, FeedbackRecord
    from ragstate.temporal.conventions import set_status

#: A write that replaces the query's record is idempotent: retrying it is always safe.
FEEDBACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
)


@workflow.defn(name=Workflow.FEEDBACK)
class RagFeedbackWorkflow:
    @workflow.run
    async def run(self, record: FeedbackRecord) -> FeedbackRecord:
        verdict = "good" if record.good else "bad"
        workflow.set_current_details(f"rating **{verdict}** of query `{record.query_id}`: storing")
        stored: FeedbackRecord = await workflow.execute_activity(
            Activity.RECORD_FEEDBACK,
            record,
            result_type=FeedbackRecord,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=FEEDBACK_RETRY,
            summary=f"store the rating ({verdict}) of {record.query_id}",
        )
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
        return await workflow.execute_activity(
            Activity.LIST_FEEDBACK,
            req,
            result_type=FeedbackList,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=FEEDBACK_RETRY,
            summary=f"list the ratings of {req.collection}",
        )
