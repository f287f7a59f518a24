"""Synthesize: the answer from numbered sources through the Anthropic Messages API.

Temporal owns retries (visible in the UI): the SDK's ``max_retries`` is 0, and
:mod:`ragstate.activities.llm_errors` maps every failure to a retryable or non-retryable
``ApplicationError`` (a 429 as ``ErrorType.LLM_RATE_LIMITED``, so clients can tell a rate limit
from an outage by type alone). An answer counts only when it is whole: a stream that ends
without ``message_stop`` is a transient failure; ``stop_reason: max_tokens`` is kept and
flagged ``truncated``; a refusal or an unexpected stop reason fails the step, not passed on as
an answer. The activity heartbeats every :data:`HEARTBEAT_EVERY_S` while it waits on the API.
Without an API key the answer is extractive and labelled ``offline-extractive``.

Sources and citations (:mod:`ragstate.activities.llm_request`): the packed chunks go to the
API as ``search_result`` blocks with citations enabled, and the answer's citations are the
spans the API says it cited; ``[n]`` markers are inserted into the answer text from them. The
system prompt and the sources are marked for prompt caching (a retry reads them from the
cache). When nothing retrieved supports an answer (:mod:`ragstate.answers.abstention`) no call is
made and the answer says the sources do not contain it (``no_answer``).

Paid once: a completed answer is written to :mod:`ragstate.activities.llm_cache` before the
activity returns, and a retry (attempt > 1) returns it from there without calling the API.

Streaming to clients: as the SDK streams the answer, each text delta is published as a
``token`` :class:`~ragstate.models.StreamEvent` to the calling query workflow's stream
(``WorkflowStreamClient.from_within_activity``): the first at once, then batched, at most one
signal per :data:`STREAM_BATCH_INTERVAL`, and flushed before the activity returns. A
non-streamed SDK answer is published as one token event; an offline extractive one is
published by the workflow. Publishing is best effort: if the stream cannot be reached the
answer is still produced and returned (and carried whole by the workflow's ``final`` event).

Retries: attempt ``n > 1`` first publishes ``step: synthesizing`` with ``detail["attempt"] = n``,
and every token event carries its attempt number. Tokens an earlier attempt published stay
in the stream; a client restarts the answer at that step event and ignores tokens of older
attempts (``RagClient.ask_stream`` drops those for its consumers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.service import RPCError

from ragstate.activities.anthropic_messages import (
    _clients,  # noqa: F401 - where the Lambda worker's tests look for the cached clients
    api_heartbeats,
    close_llm_clients,
    llm_client,
    streamed_message,
    transport_error,
)
from ragstate.activities.llm_cache import AnswerCache, request_key
from ragstate.activities.llm_errors import (
    check_stop_reason,
    rejected,
    retry_after,
    to_application_error,
    unavailable,
)
from ragstate.activities.llm_fallback import extractive_answer
from ragstate.activities.llm_request import CitedStream, answer_of, build_request, usage_of
from ragstate.answers.abstention import abstains, no_answer
from ragstate.answers.pricing import llm_cost, price_table
from ragstate.contracts import STREAM_TOPIC, Activity
from ragstate.models import AnswerMode, StreamEvent, StreamEventType, SynthesisInput, SynthesisResult
from ragstate.settings import Settings
from ragstate.temporal.outage import server_unreachable, through_outage

if TYPE_CHECKING:
    import anthropic
    from temporalio.contrib.workflow_streams import TopicHandle, WorkflowStreamClient

__all__ = ["AnthropicActivities", "close_llm_clients", "llm_client", "retry_after", "to_application_error"]

log = logging.getLogger("ragstate.llm")

#: Seconds between heartbeats while waiting on the API: well inside the query workflow's
#: 10 s heartbeat timeout, so a live worker is never mistaken for a lost one.
HEARTBEAT_EVERY_S = 2.0
#: Token events are sent to the workflow at most this often after the first (one signal and one
#: workflow task per batch).
STREAM_BATCH_INTERVAL = timedelta(milliseconds=100)
#: The longest an attempt waits, before returning, for its last tokens to reach the workflow.
STREAM_FLUSH_TIMEOUT_S = 5.0
#: How long the last tokens wait for a restarting server before the answer goes without them
#: (the ``final`` event still carries it whole).
STREAM_OUTAGE_S = 30.0


class _AnswerStream:
    """This attempt's answer text, published to the calling workflow's stream. Best effort:
    any failure to reach the stream is logged once and publishing stops; the answer is not
    affected.

    Batching: events go into the contrib publisher's buffer (``TopicHandle.publish``) and are
    sent with ``WorkflowStreamClient.flush`` (one signal per batch, deduplicated by publisher id
    and sequence): the first event at once, then at most one batch per
    :data:`STREAM_BATCH_INTERVAL`. The contrib's own background flusher (``async with client``)
    is not used: on Python 3.11 its ``asyncio.wait_for`` can swallow the cancellation its
    ``__aexit__`` sends (CPython gh-86296), and the exit then hangs until our timeout.

    Text is published so that the token events of an attempt join to exactly the answer the
    activity returns (which is stripped): leading whitespace is dropped and trailing
    whitespace is held back until more text follows it."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled  # a client subscribed: otherwise the tokens stay out of the history
        self._client: WorkflowStreamClient | None = None
        self._topic: TopicHandle[StreamEvent] | None = None
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task | None = None
        self._broken = False
        self._attempt = 1
        self._started = False
        self._pending_space = ""

    async def __aenter__(self) -> _AnswerStream:
        try:
            info = activity.info()
            if info.is_local or not self._enabled:
                # A local activity runs inside its workflow's task: a signal from it would land after
                # the workflow had moved on (the workflow publishes local answers itself).
                return self
            from temporalio.contrib.workflow_streams import WorkflowStreamClient

            self._attempt = info.attempt
            self._client = WorkflowStreamClient.from_within_activity()
            self._topic = self._client.topic(STREAM_TOPIC, type=StreamEvent)
        except Exception as e:
            self._client = None
            log.info("answer tokens not streamed: %s", e)
            return self
        self._flusher = asyncio.create_task(self._flush_batches())
        if self._attempt > 1:
            # Clients restart the answer here: what earlier attempts published is void.
            self._publish(
                StreamEvent(type=StreamEventType.step, step="synthesizing", detail={"attempt": self._attempt})
            )
        return self

    def text(self, delta: str) -> None:
        if self._client is None or self._broken:
            return
        text = self._pending_space + delta
        if not self._started:
            text = text.lstrip()
        body = text.rstrip()
        self._pending_space = text[len(body) :]
        if body:
            self._publish(StreamEvent(type=StreamEventType.token, text=body, detail={"attempt": self._attempt}))
            self._started = True

    def _publish(self, event: StreamEvent) -> None:
        assert self._topic is not None  # only called while streaming
        try:
            self._topic.publish(event)
        except Exception as e:
            self._broken = True
            log.warning("stopped streaming answer tokens: %s", e)
            return
        self._wake.set()

    async def _flush_batches(self) -> None:
        client = self._client
        assert client is not None  # started only with a client
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await client.flush()
            except RPCError as e:
                if not server_unreachable(e):
                    self._broken = True
                    log.warning("stopped streaming answer tokens to workflow %s: %r", activity.info().workflow_id, e)
                    return
                # The server restarts: the batch stays pending and is resent (deduplicated by the
                # publisher's sequence), so subscribers lose no token.
                log.info("answer tokens held while the Temporal server is unreachable: %s", e.message)
                self._wake.set()
            except Exception as e:
                self._broken = True
                log.warning("stopped streaming answer tokens to workflow %s: %r", activity.info().workflow_id, e)
                return
            # What is published meanwhile goes in the next batch.
            await asyncio.sleep(STREAM_BATCH_INTERVAL.total_seconds())

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._broken:
            return
        try:
            # Every token reaches the workflow's stream before the activity's result (and so
            # before the final event); a batch cut off by the cancel above is resent (deduplicated).
            # Through a server restart too (the answer is held until then anyway: its result
            # cannot be recorded either); each try is bounded, the whole by STREAM_OUTAGE_S.
            await through_outage(
                lambda: asyncio.wait_for(client.flush(), STREAM_FLUSH_TIMEOUT_S),
                outage_s=STREAM_OUTAGE_S,
                what="answer tokens",
            )
        except Exception as e:
            log.warning("could not flush answer tokens to workflow %s: %r", activity.info().workflow_id, e)


class AnthropicActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.cache = AnswerCache(settings.llm_cache_path, settings.llm_cache_ttl_s)
        self.prices = price_table(settings.llm_prices)

    @activity.defn(name=Activity.SYNTHESIZE)
    async def synthesize(self, inp: SynthesisInput) -> SynthesisResult:
        api_key = self._api_key()
        if api_key is None:
            return await extractive_answer(inp)
        import anthropic

        client = llm_client(self.settings, api_key)
        request = build_request(self.settings, inp)
        info = activity.info()
        key = request_key(request, attempt_of=f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}")
        try:
            async with api_heartbeats(HEARTBEAT_EVERY_S), _AnswerStream(inp.stream_tokens) as answer_stream:
                return await self._answer(inp, client, request, key, answer_stream)
        except anthropic.AnthropicError as e:
            failure = to_application_error(e)
            # One line per failed attempt (the worker itself logs benign failures only at DEBUG).
            log.warning("Synthesize attempt %s failed: %s", activity.info().attempt, failure.message)
            raise failure from e
        except transport_error() as e:
            raise unavailable(f"the Anthropic API stream broke off: {e!r}") from e

    def _api_key(self) -> str | None:
        """The Anthropic API key, None when there is none (the answer is then extractive)."""
        try:
            return self.settings.anthropic_key()
        except OSError as e:
            # A misconfigured secret mount will not fix itself between retries.
            raise rejected(f"cannot read RAGSTATE_ANTHROPIC_API_KEY_FILE: {e}") from e

    async def _answer(
        self,
        inp: SynthesisInput,
        client: anthropic.AsyncAnthropic,
        request: dict[str, Any],
        key: str,
        answer_stream: _AnswerStream,
    ) -> SynthesisResult:
        """This attempt's answer, published to ``answer_stream`` as it comes and stored in the
        answer cache before the last tokens are flushed."""
        s = self.settings
        attempt = activity.info().attempt
        if abstains(inp):  # nothing to answer from: no call
            log.info("no answer: best similarity %s below %s", inp.best_score, inp.abstain_below)
            result = no_answer(inp, AnswerMode.llm)
            answer_stream.text(result.answer)
            return result
        # Only a retry reads the cache: an earlier attempt may have finished and died
        # before its result was recorded.
        if attempt > 1 and (cached := await self.cache.load(key)) is not None:
            log.info("Synthesize attempt %s: the answer of an earlier attempt, from the cache", attempt)
            answer_stream.text(cached.answer)
            return cached.model_copy(update={"attempt": attempt})
        if s.anthropic_stream:
            message = await streamed_message(client, request, answer_stream.text, CitedStream(inp.sources))
        else:
            message = await client.messages.create(**request)
        text, citations = answer_of(message, inp.sources)
        truncated = check_stop_reason(message.stop_reason, text)
        if not s.anthropic_stream:
            answer_stream.text(text)
        usage = usage_of(message.usage)
        result = SynthesisResult(
            answer=text,
            mode=AnswerMode.llm,
            model=message.model,
            usage=usage,
            truncated=truncated,
            citations=citations,
            best_score=inp.best_score,
            cost=llm_cost(message.model, usage, self.prices),
            attempt=attempt,
        )
        # Before the last tokens are flushed (up to seconds): a worker lost from here
        # on has paid for its answer, and the retry finds it.
        await self.cache.store(key, result)
        return result
