"""The Messages API request Synthesize sends, and what its answer becomes.

Request: the system prompt, a follow-up's earlier turns (:mod:`ragstate.answers.history`), and
the packed chunks as ``search_result`` blocks with citations enabled
(:func:`ragstate.answers.citations.user_content`). Prompt caching: ``cache_control:
{"type": "ephemeral"}`` on the system prompt and on the last search result, so a retried
Synthesize, or another question over the same sources, reads that prefix from the cache
(billed at a tenth of the input price) instead of paying for it again; the cache read and
creation tokens the API reports are kept in :class:`~ragstate.models.Usage`. A prefix
shorter than the model's minimum cacheable length is simply not cached (the API ignores the
breakpoint), so the markers cost nothing when they do not pay.

Answer: the text blocks and their ``search_result_location`` citations become the rendered
answer (``[n]`` markers inserted where cited blocks end) and its citations
(:func:`ragstate.answers.citations.native_answer`). :class:`CitedStream` does the same while the
answer streams, so the token events join to exactly the returned answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragstate.answers.citations import Cited, cite_block, native_answer, stable_prefix, system_blocks, user_content
from ragstate.answers.history import CHARS_PER_TOKEN, prior_messages
from ragstate.models import Citation, Source, SynthesisInput, Usage
from ragstate.settings import Settings

if TYPE_CHECKING:
    from anthropic.types import Message


def build_request(s: Settings, inp: SynthesisInput) -> dict[str, Any]:
    return dict(
        model=s.anthropic_model,
        max_tokens=s.anthropic_max_tokens,
        system=system_blocks(),
        messages=[
            *prior_messages(inp.history, s.synthesis_history_tokens * CHARS_PER_TOKEN),
            {"role": "user", "content": user_content(inp.question, inp.sources)},
        ],
    )


def _cited(block: Any) -> Cited:
    """A text block's search-result citations as (search_result_index, cited_text)."""
    return [
        (c.search_result_index, c.cited_text)
        for c in (getattr(block, "citations", None) or [])
        if c.type == "search_result_location"
    ]


def answer_of(message: Message, sources: list[Source]) -> tuple[str, list[Citation]]:
    """The rendered answer and its citations."""
    return native_answer(((b.text, _cited(b)) for b in message.content if b.type == "text"), sources)


def usage_of(usage: Any) -> Usage:
    """Token counts, with the prompt cache's when the model reports them (None otherwise)."""
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_input_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
        cache_creation_input_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
    )


class CitedStream:
    """The streamed answer as it will be rendered: a text block's text is shown as it comes,
    except its closing punctuation and whitespace, which wait for the block's end, when its
    citations are known and its ``[n]`` markers go before them."""

    def __init__(self, sources: list[Source]):
        self._sources = sources
        self._shown = 0  # characters of the current block's text already given out

    def text(self, snapshot: str) -> str:
        """What to show now, given the current block's text so far."""
        upto = stable_prefix(snapshot)
        if upto <= self._shown:
            return ""
        out, self._shown = snapshot[self._shown : upto], upto
        return out

    def block_stop(self, block: Any) -> str:
        """The rest of a finished block: its markers and closing text."""
        shown, self._shown = self._shown, 0
        if getattr(block, "type", None) != "text":
            return ""
        numbers = [self._sources[i].number for i, _ in _cited(block) if 0 <= i < len(self._sources)]
        return cite_block(block.text, numbers)[shown:]
