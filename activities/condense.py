"""CondenseQuestion: a follow-up made standalone for retrieval, before ParseQuery.

The query workflow runs it only for a question with earlier turns (``RagQuery.history``); a
one-off question's run has no such step. Its input is the whole query, which holds what an LLM
rewrite needs too (the question, the earlier turns with their answers, the collection). Today it
is the offline rewrite (:func:`ragstate.conversations.condense.condense_offline`): pure and
quick, so it runs on the event loop, as a local activity of the workflow worker. An LLM mode
returns a :class:`~ragstate.models.Condensed` with ``mode="llm"`` and only ``standalone`` set,
and ParseQuery and the branches take it the same way.

Example (what the workflow does)::

    condensed = await workflow.execute_local_activity(
        Activity.CONDENSE_QUESTION, query, result_type=Condensed, start_to_close_timeout=timedelta(seconds=10))
"""

from __future__ import annotations

from temporalio import activity

from ragstate.activities.attempts import current_attempt
from ragstate.contracts import Activity
from ragstate.conversations.condense import condense_offline
from ragstate.models import Condensed, RagQuery
from ragstate.settings import Settings


class CondenseActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @activity.defn(name=Activity.CONDENSE_QUESTION)
    async def condense_question(self, query: RagQuery) -> Condensed:
        """The follow-up's standalone form and its context from the earlier turns."""
        condensed = condense_offline(query.question, query.history)
        condensed.attempt = current_attempt()
        return condensed
