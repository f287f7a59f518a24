"""Synthesize: the answer from numbered sources through the Anthropic Messages API.

Temporal owns retries (visible in the UI): the SDK's ``max_retries`` is 0, transient errors
(429, 529, 5xx, timeouts, dropped connections, an ``error`` event mid-stream) become retryable
``ApplicationError``s whose ``next_retry_delay`` honours ``retry-after``: a 429 (or a
``rate_limit_error``) as ``ErrorType.LLM_RATE_LIMITED``, so clients can tell a rate limit from
an outage by type alone, the rest as ``ErrorType.LLM_UNAVAILABLE``; requests the API refuses
(400/401/403/404/422) become non-retryable ``ErrorType.LLM_REQUEST_REJECTED`` ones with a clear
message. The activity
heartbeats while it waits on the API. Without an API key the answer is extractive
and labelled ``offline-extractive``.

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
import email.utils
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.citations import SYSTEM_PROMPT, build_prompt, extractive_answer
from ragstate.contracts import STREAM_TOPIC, ErrorType
from ragstate.models import AnswerMode, StreamEvent, StreamEventType, SynthesisInput, SynthesisResult, Usage
from ragstate.settings import Settings

if TYPE_CHECKING:
    import anthropic
    from temporalio.contrib.workflow_streams import TopicHandle, WorkflowStreamClient

log = logging.getLogger("ragstate.llm")

#: Error types (``error.type`` in the API's body) worth another attempt, whatever the status.
RATE_LIMIT_API_ERROR = "rate_limit_error"
RETRYABLE_API_ERRORS = frozenset({RATE_LIMIT_API_ERROR, "overloaded_error", "api_error", "timeout_error"})
#: Seconds between heartbeats while waiting on the API (the query workflow's heartbeat timeout is 60 s).
HEARTBEAT_EVERY_S = 10.0
#: Token events are sent to the workflow at most this often after the first (one signal and one
#: workflow task per batch).
STREAM_BATCH_INTERVAL = timedelta(milliseconds=100)
#: The longest an attempt waits, before returning, for its last tokens to reach the workflow.
STREAM_FLUSH_TIMEOUT_S = 5.0
# The SDK is imported on first use: it is most of a light worker's cold start (about 0.9 s).
_clients: dict[tuple, tuple[asyncio.AbstractEventLoop, anthropic.AsyncAnthropic]] = {}


def _transport_error() -> type[Exception]:
    """The HTTP library's error for a stream cut mid-way (the SDK does not wrap it)."""
    try:
        import httpx2 as http
    except ImportError:  # pragma: no cover - SDKs built on httpx
        import httpx as http  # type: ignore[no-redef]
    return http.TransportError


def llm_client(settings: Settings, api_key: str) -> anthropic.AsyncAnthropic:
    """One SDK client (and connection pool) per worker process and event loop: a pool cannot
    outlive its loop (Lambda runs every invocation in a new one)."""
    import anthropic

    loop = asyncio.get_running_loop()
    for key in [k for k, (owner, _) in _clients.items() if owner.is_closed()]:
        del _clients[key]
    key = (id(loop), api_key, settings.anthropic_base_url, settings.anthropic_timeout_s)
    if key not in _clients:
        _clients[key] = (
            loop,
            anthropic.AsyncAnthropic(
                api_key=api_key,
                base_url=settings.anthropic_base_url,
                max_retries=0,
                timeout=settings.anthropic_timeout_s,
            ),
        )
    return _clients[key][1]


async def close_llm_clients() -> None:
    """Close and forget the cached SDK clients (end of a Lambda invocation, end of a test):
    their connections then never outlive the event loop that opened them."""
    clients = [client for _, client in _clients.values()]
    _clients.clear()
    for client in clients:
        with contextlib.suppress(Exception):  # best effort: the loop may be going away
            await client.close()


def retry_after(headers) -> timedelta | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), capped at 5 minutes."""
    if headers is None:
        return None
    seconds = None
    if ms := headers.get("retry-after-ms"):
        with contextlib.suppress(ValueError):
            seconds = float(ms) / 1000
    if seconds is None and (value := headers.get("retry-after")):
        try:
            seconds = float(value)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                parsed = None  # neither seconds nor a date: ignore it
            if parsed is not None:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                seconds = parsed.timestamp() - time.time()
    if seconds is None or seconds < 0:
        return None
    return timedelta(seconds=min(seconds, 300))


def to_application_error(err: Exception) -> ApplicationError:
    """Map an SDK error to what Temporal should do with it."""
    import anthropic

    if isinstance(err, anthropic.APITimeoutError):
        return ApplicationError(f"Anthropic API timed out: {err}", type=ErrorType.LLM_UNAVAILABLE)
    if isinstance(err, anthropic.APIConnectionError):
        return ApplicationError(f"cannot reach the Anthropic API: {err}", type=ErrorType.LLM_UNAVAILABLE)
    if isinstance(err, anthropic.APIStatusError):
        status = err.status_code
        error_type, api_message = _error_fields(err)
        detail = f"{error_type}: {api_message}" if error_type and api_message else getattr(err, "message", str(err))
        if request_id := getattr(err, "request_id", None):
            detail += f" (request {request_id})"
        # An `error` event inside a streamed 200 response (e.g. overloaded_error) is transient too.
        if status in (408, 409, 429) or status >= 500 or status < 400 or error_type in RETRYABLE_API_ERRORS:
            rate_limited = status == 429 or error_type == RATE_LIMIT_API_ERROR
            return ApplicationError(
                f"Anthropic API answered {status} (will retry): {detail}",
                type=ErrorType.LLM_RATE_LIMITED if rate_limited else ErrorType.LLM_UNAVAILABLE,
                next_retry_delay=retry_after(err.response.headers if err.response is not None else None),
            )
        hint = {
            401: " (check RAGSTATE_ANTHROPIC_API_KEY)",
            403: " (the key lacks permission)",
            404: " (check RAGSTATE_ANTHROPIC_MODEL)",
        }.get(status, "")
        return ApplicationError(
            f"Anthropic API rejected the request with {status}{hint}: {detail}",
            type=ErrorType.LLM_REQUEST_REJECTED,
            non_retryable=True,
        )
    return ApplicationError(f"Anthropic API error: {err}", type=ErrorType.LLM_UNAVAILABLE)


def _error_fields(err: anthropic.APIStatusError) -> tuple[str | None, str | None]:
    """``error.type`` and ``error.message`` from the API's error body, when it has one."""
    body = err.body
    inner = body.get("error") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return None, None
    error_type, message = inner.get("type"), inner.get("message")
    return (error_type if isinstance(error_type, str) else None), (message if isinstance(message, str) else None)


@contextlib.asynccontextmanager
async def _heartbeating(every: float) -> AsyncIterator[None]:
    """Heartbeat in the background while the API thinks (a non-streamed answer, the wait for
    the first token), so a slow answer is not mistaken for a dead worker."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()  # not awaited: that could swallow a cancellation of the activity itself


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

    def __init__(self) -> None:
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
            if info.is_local:
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
            await asyncio.wait_for(client.flush(), STREAM_FLUSH_TIMEOUT_S)
        except Exception as e:
            log.warning("could not flush answer tokens to workflow %s: %r", activity.info().workflow_id, e)


class AnthropicActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @activity.defn(name="Synthesize")
    async def synthesize(self, inp: SynthesisInput) -> SynthesisResult:
        s = self.settings
        try:
            api_key = s.anthropic_key()
        except OSError as e:
            # A misconfigured secret mount will not fix itself between retries.
            raise ApplicationError(
                f"cannot read RAGSTATE_ANTHROPIC_API_KEY_FILE: {e}",
                type=ErrorType.LLM_REQUEST_REJECTED,
                non_retryable=True,
            ) from e
        if api_key is None:
            return SynthesisResult(
                answer=extractive_answer(inp.question, inp.sources), mode=AnswerMode.offline_extractive
            )
        import anthropic

        client = llm_client(s, api_key)
        request: dict[str, Any] = dict(
            model=s.anthropic_model,
            max_tokens=s.anthropic_max_tokens,
            system=SYSTEM_PROMPT,
            messages=[{"role": "user", "content": build_prompt(inp.question, inp.sources)}],
        )
        try:
            async with _heartbeating(HEARTBEAT_EVERY_S), _AnswerStream() as answer_stream:
                if s.anthropic_stream:
                    async with client.messages.stream(**request) as stream:
                        async for delta in stream.text_stream:
                            activity.heartbeat()
                            answer_stream.text(delta)
                        message = await stream.get_final_message()
                else:
                    message = await client.messages.create(**request)
                text = "".join(block.text for block in message.content if block.type == "text").strip()
                if not s.anthropic_stream:
                    answer_stream.text(text)
        except anthropic.AnthropicError as e:
            raise to_application_error(e) from e
        except _transport_error() as e:
            raise ApplicationError(f"the Anthropic API stream broke off: {e!r}", type=ErrorType.LLM_UNAVAILABLE) from e
        return SynthesisResult(
            answer=text,
            mode=AnswerMode.llm,
            model=message.model,
            usage=Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens),
        )
