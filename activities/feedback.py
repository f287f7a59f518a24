"""Activities of feedback on answers (workflows/feedback.py): store a rating beside the store
(ragstate/store/feedback.py: the embedded store's data dir, or Qdrant), read a collection's
ratings back. They run on the workflow worker, next to the store.

Example::

    acts = FeedbackActivities(settings)
    Worker(client, task_queue=..., activities=acts.all())
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.contracts import Activity, ErrorType
from ragstate.models import CollectionRequest, FeedbackList, FeedbackRecord
from ragstate.settings import Settings
from ragstate.store import check_collection_name
from ragstate.store import feedback as stored
from ragstate.store.versions import live_version


def _checked(name: str) -> str:
    try:
        return check_collection_name(name)
    except ValueError as e:
        raise ApplicationError(str(e), type=ErrorType.INVALID_REQUEST, non_retryable=True) from None


class FeedbackActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    def all(self) -> list[Callable]:
        """Every activity of this class: what the workflow worker registers."""
        return [self.record_feedback, self.list_feedback]

    @activity.defn(name=Activity.RECORD_FEEDBACK)
    def record_feedback(self, record: FeedbackRecord) -> FeedbackRecord:
        """Store the rating, replacing an earlier one of the same query run (so a retry stores
        it once). The answer does not say which version of the collection answered it, so the
        record gets the version serving the name now (the same unless a re-index switched since)."""
        _checked(record.collection)
        record = record.model_copy(update={"version": record.version or live_version(self.settings, record.collection)})
        stored.upsert(self.settings, record)
        return record

    @activity.defn(name=Activity.LIST_FEEDBACK)
    def list_feedback(self, req: CollectionRequest) -> FeedbackList:
        name = _checked(req.collection or self.settings.collection)
        return FeedbackList(collection=name, records=stored.read(self.settings, name))
