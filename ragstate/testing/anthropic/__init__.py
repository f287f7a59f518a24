"""A small local server that speaks the Anthropic Messages API, for tests through the real SDK.

Stdlib only (``http.server`` in a background thread on 127.0.0.1, a free port). It answers
``POST /v1/messages`` like the real API, both as JSON and, when the request says
``"stream": true``, as server-sent events in the real order (``message_start``,
``content_block_start``, ``ping``, several ``content_block_delta``/``text_delta``,
``content_block_stop``, ``message_delta`` with usage, ``message_stop``).

Responses are scripted: :meth:`FakeAnthropic.plan` queues them, one per request, and
when nothing is planned the server answers with :data:`DEFAULT_ANSWER` (which cites ``[1]``).

Native citations: when the request's user message holds ``search_result`` blocks with
citations enabled, the planned text's ``[n]`` markers are not sent as text. The answer is
split at them into text blocks, as the real API answers: the text before a marker is a block
whose ``citations`` are ``search_result_location`` citations of the n-th search result (the
content block of that result sharing the most words with it is the cited span; a marker
naming no result cites nothing), the rest are blocks without citations. Streamed, each block
is ``content_block_start``, its ``text_delta``s, one ``citations_delta`` per citation, then
``content_block_stop``. :attr:`RecordedRequest.prompt` shows search results as ``[n] title``
and their text, so a test reads the prompt as the model would.

Prompt caching: a request with ``cache_control`` breakpoints caches its prefix up to the last
one (system, then messages); the first such request reports that prefix's word count as
``cache_creation_input_tokens``, a later one with the same prefix as ``cache_read_input_tokens``,
and ``input_tokens`` counts only the rest, as the real API does.
Errors carry the real body ``{"type": "error", "error": {"type": ..., "message": ...}}``
with the matching status (and ``retry-after`` when asked). Every request is recorded
(headers, JSON body, arrival time) so a test can check what the SDK sent and how often.

Like the real API, a request without a key (``x-api-key``, or ``Authorization: Bearer``, which
is how SDK 2.x sends ``api_key``) or without ``anthropic-version``, or without
``model``/``max_tokens``/``messages``, is refused (401/400) before the plan is consulted;
set :attr:`FakeAnthropic.api_key` to also refuse any other key with 401.

Message Batches (``POST /v1/messages/batches``, ``GET .../{id}``, ``GET .../{id}/results``):
:mod:`ragstate.testing.anthropic.batches`, on :attr:`FakeAnthropic.batches`.

Broken and unusual answers, for the activity's checks: :func:`cut` ends a stream after some
deltas without ``message_stop``, either cleanly (the chunked body is terminated as if the
answer were whole) or by closing a body framed by the connection (``connection: close``, no
length: the HTTP client sees a clean end of file); :func:`max_tokens` and :func:`refusal`
answer with those stop reasons. :attr:`FakeAnthropic.delta_delay_s` pauses before each
text delta of a stream, like a model producing tokens.

Usage::

    from ragstate.testing import FakeAnthropic, error, ok

    with FakeAnthropic() as server:                      # or the ``fake_anthropic`` fixture
        server.plan(error(429, retry_after="1"), ok("BM25 ranks by term frequency [1]."))
        client = anthropic.Anthropic(api_key="sk-test", base_url=server.url, max_retries=0)
        ...                                              # first call: RateLimitError
        assert len(server.requests) == 2
        assert "[1] BM25" in server.requests[-1].prompt
        assert server.requests[-1].api_key == "sk-test"     # x-api-key or Authorization: Bearer
"""

from ragstate.testing.anthropic.batches import BatchBook
from ragstate.testing.anthropic.plans import (
    DEFAULT_ANSWER,
    ERROR_TYPES,
    Planned,
    cut,
    drop,
    error,
    max_tokens,
    ok,
    refusal,
    stream_error,
)
from ragstate.testing.anthropic.recorded import RecordedRequest
from ragstate.testing.anthropic.server import FakeAnthropic

__all__ = [
    "DEFAULT_ANSWER",
    "ERROR_TYPES",
    "BatchBook",
    "FakeAnthropic",
    "Planned",
    "RecordedRequest",
    "cut",
    "drop",
    "error",
    "max_tokens",
    "ok",
    "refusal",
    "stream_error",
]
