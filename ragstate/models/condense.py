"""The CondenseQuestion step's result: a follow-up question made standalone for retrieval.

A conversation's next question ("What about in children?", "How are they measured?") cannot be
searched alone. The step (``ragstate.activities.condense``) runs before ParseQuery when the
query carries earlier turns (``RagQuery.history``) and returns one of these; ParseQuery folds it
into the :class:`~ragstate.models.ParsedQuery` both search branches read.

Two modes share the model: ``offline`` (``ragstate.conversations.condense``) keeps the question
as asked and hands the earlier turns' content as *context* (terms the keyword branch scores at a
lower weight, text the vector branch mixes in); ``llm`` rewrites the question itself and sets
only ``standalone``, so it flows through the same path with no context.

Example::

    Condensed(standalone="How is BM25 tuned?", mode=CondenseMode.llm)
"""

from __future__ import annotations

import enum

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.costs import Cost, Usage


class CondenseMode(str, enum.Enum):
    offline = "offline"
    llm = "llm"


class Condensed(_Model):
    """A follow-up as retrieval should see it."""

    standalone: str = Field(description="the question to search and answer (offline: the question as asked)")
    context_terms: list[str] = Field(
        default_factory=list,
        description="analyzed terms of the earlier turns on the same topic: the keyword branch adds them at "
        "settings.followup_keyword_weight",
    )
    context_text: str = Field(
        "",
        description="the earlier turns' text: the vector branch embeds it before the question (followup_embed_context)",
    )
    topic_switch: bool = Field(
        False, description="the question starts a new topic: no context taken from earlier turns"
    )
    turns_used: int = Field(0, ge=0, description="how many earlier turns the context comes from")
    mode: CondenseMode = CondenseMode.offline
    attempt: int = Field(default=1, description="the activity attempt that produced it")
    usage: Usage | None = Field(None, description="the LLM rewrite's tokens (llm mode): counted in the turn")
    cost: Cost | None = Field(None, description="the LLM rewrite's cost (llm mode): counted in the turn")
    note: str = Field("", description="why the LLM rewrite was not used, when it failed")
