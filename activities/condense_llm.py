"""CondenseQuestion with the LLM: a short Messages API call that rewrites a follow-up into a
standalone question from the recent turns (used by activities/condense.py when the worker has
an Anthropic key and ``RAGSTATE_CONDENSE_WITH_LLM`` is on).

The system prompt carries a prompt-cache breakpoint: every rewrite of every session starts with
it. The call's tokens and cost come back in the :class:`~ragstate.models.Condensed`, and the
query workflow adds them to the turn's answer. A failed call is not retried here: the activity
answers with the offline rewrite instead (a rewrite is an improvement, not a requirement).

Example::

    condensed = await llm_condense(settings, query, api_key, prices)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ragstate.activities.anthropic_messages import llm_client
from ragstate.activities.llm_request import usage_of
from ragstate.answers.citations import CACHE
from ragstate.answers.pricing import llm_cost
from ragstate.models import Condensed, CondenseMode, RagQuery
from ragstate.settings import Settings

SYSTEM_PROMPT = (
    "You rewrite the last question of a conversation so that it can be understood alone, for a "
    "search engine. Replace pronouns and elliptical references (it, they, this method, what about "
    "...) with what they refer to in the earlier turns. If the last question starts a new topic, "
    "return it unchanged. Answer with the rewritten question only: no preamble, no quotes, one line."
)
#: The rewrite is one question: a small cap also bounds what a wrong answer can cost.
MAX_TOKENS = 120
#: Earlier answers are shortened in the rewrite's prompt: the question needs their topic only.
ANSWER_CHARS = 400


def rewrite_prompt(query: RagQuery) -> str:
    lines = []
    for turn in query.history:
        lines.append(f"User: {turn.question}")
        if turn.answer:
            lines.append(f"Assistant: {turn.answer[:ANSWER_CHARS]}")
    lines.append(f"Last question: {query.question}")
    return "\n".join(lines)


async def llm_condense(
    settings: Settings, query: RagQuery, api_key: str, prices: Mapping[str, Mapping[str, float]]
) -> Condensed:
    """The standalone question the LLM wrote (``mode=llm``), with the call's usage and cost."""
    client = llm_client(settings, api_key)
    request: dict[str, Any] = dict(
        model=settings.anthropic_model,
        max_tokens=MAX_TOKENS,
        system=[{"type": "text", "text": SYSTEM_PROMPT, "cache_control": CACHE}],
        messages=[{"role": "user", "content": rewrite_prompt(query)}],
    )
    message = await client.messages.create(**request)
    text = " ".join(b.text for b in message.content if b.type == "text").strip()
    standalone = " ".join(text.splitlines()[0].split()).strip("\"'") if text else ""
    usage = usage_of(message.usage)
    return Condensed(
        standalone=standalone or query.question,
        mode=CondenseMode.llm,
        topic_switch=standalone == query.question,
        turns_used=len(query.history),
        usage=usage,
        cost=llm_cost(message.model, usage, prices),
    )
