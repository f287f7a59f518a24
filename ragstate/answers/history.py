"""The conversation so far as Messages API turns, for a follow-up's synthesis: the earlier
questions and answers (oldest first, the most recent kept when they do not all fit the budget)
before the user message that carries this turn's sources and question.

The earlier answers' ``[n]`` markers are dropped: they number that turn's sources, not this
one's, and a model shown them would cite numbers that mean something else now (citations are
per turn). The last earlier turn carries a prompt-cache breakpoint: the next turn's prompt
starts with the same conversation, so it reads that prefix from the cache.

Example::

    messages = [*prior_messages(inp.history, max_chars=4000), {"role": "user", "content": ...}]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ragstate.answers.citations import CACHE
from ragstate.models import PriorTurn

_MARKERS = re.compile(r"\s*\[\d+\]")
#: About four characters per token in English prose: the budget setting is in tokens.
CHARS_PER_TOKEN = 4


def prior_messages(history: Sequence[PriorTurn], max_chars: int) -> list[dict[str, Any]]:
    """User/assistant message pairs of the most recent turns that fit ``max_chars``."""
    kept: list[tuple[str, str]] = []
    used = 0
    for turn in reversed(history):
        answer = _MARKERS.sub("", turn.answer).strip() or "(no answer)"
        size = len(turn.question) + len(answer)
        if used + size > max_chars:
            break
        kept.append((turn.question, answer))
        used += size
    messages: list[dict[str, Any]] = []
    for question, answer in reversed(kept):
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    if messages:
        last = messages[-1]["content"]
        messages[-1]["content"] = [{"type": "text", "text": last, "cache_control": CACHE}]
    return messages
