"""CondenseQuestion: a follow-up made standalone for retrieval, before ParseQuery.

The query workflow runs it only for a question with earlier turns (``RagQuery.history``); a
one-off question's run has no such step. Its input is the whole query, which holds what an LLM
rewrite needs too (the question, the earlier turns with their answers, the collection). Today it
is the offline rewrite (:func:`ragstate.conversations.condense.condense_offline`): pure and
quick, so it runs on the event loop, as a local activity of the workflow worker. With an
Anthropic key in this worker and ``RAGSTATE_CONDENSE_WITH_LLM`` on (the default), the LLM
rewrites the follow-up (:mod:`ragstate.activities.condense_llm`): a
:class:`~ragstate.models.Condensed` with ``mode="llm"`` and only ``standalone`` set (and the
call's usage and cost), which ParseQuery and the branches take the same way. If that call
fails, the offline rewrite answers, with a note saying why.

Example (what the workflow does)::

    condensed = await workflow.execute_local_activity(
        Activity.CONDENSE_QUESTION, query, result_type=Condensed, start_to_close_timeout=timedelta(seconds=10))
"""

from __future__ import annotations

import logging

from temporalio import activity

from ragstate.activities.attempts import current_attempt
from ragstate.activities.condense_llm import llm_condense
from ragstate.answers.pricing import price_table
from ragstate.contracts import Activity
from ragstate.conversations.condense import condense_offline
from ragstate.models import Condensed, RagQuery
from ragstate.settings import Settings

log = logging.getLogger("ragstate.condense")


class CondenseActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.prices = price_table(settings.llm_prices)

    @activity.defn(name=Activity.CONDENSE_QUESTION)
    async def condense_question(self, query: RagQuery) -> Condensed:
        """The follow-up's standalone form and its context from the earlier turns."""
        condensed = await self._llm(query)
        if condensed is None or condensed.note:
            offline = condense_offline(query.question, query.history)
            condensed = offline.model_copy(update={"note": condensed.note}) if condensed else offline
        condensed.attempt = current_attempt()
        return condensed

    async def _llm(self, query: RagQuery) -> Condensed | None:
        """The LLM's rewrite; None without a key (or with it turned off); a ``note`` when it failed."""
        if not self.settings.condense_with_llm:
            return None
        try:
            api_key = self.settings.anthropic_key()
        except OSError:
            api_key = None
        if api_key is None:
            return None
        try:
            return await llm_condense(self.settings, query, api_key, self.prices)
        except Exception as e:  # any failure: the offline rewrite answers instead
            log.warning("CondenseQuestion: the LLM rewrite failed, offline rewrite used: %s", e)
            return Condensed(standalone=query.question, note=f"LLM rewrite failed: {type(e).__name__}")
