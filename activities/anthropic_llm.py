"""Synthesize: the answer from numbered sources through the Anthropic Messages API.

Temporal owns retries (visible in the UI): the SDK's ``max_retries`` is 0, transient errors
(429, 529, 5xx, timeouts, dropped connections, an ``error`` event mid-stream) become retryable
``ApplicationError``s whose ``next_retry_delay`` honours ``retry-after``; requests the API
refuses (400/401/403/404/422) become non-retryable ones with a clear message. The activity
heartbeats while it waits on the API. Without an API key the answer is extractive
and labelled ``offline-extractive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, AsyncIterator

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.citations import SYSTEM_PROMPT, build_prompt, extractive_answer
from ragstate.models import AnswerMode, SynthesisInput, SynthesisResult, Usage
from ragstate.settings import Settings

if TYPE_CHECKING:
    import anthropic

#: Error types the workflow treats as final.
LLM_REJECTED = "LLMRequestRejected"
LLM_UNAVAILABLE = "LLMUnavailable"
#: Error types (``error.type`` in the API's body) worth another attempt, whatever the status.
RETRYABLE_API_ERRORS = frozenset({"rate_limit_error", "overloaded_error", "api_error", "timeout_error"})
#: Seconds between heartbeats while waiting on the API (the query workflow's heartbeat timeout is 60 s).
HEARTBEAT_EVERY_S = 10.0
# The SDK is imported on first use: it is most of a light worker's cold start (about 0.9 s).
_clients: dict[tuple, tuple[asyncio.AbstractEventLoop, "anthropic.AsyncAnthropic"]] = {}


def _transport_error() -> type[Exception]:
    """The HTTP library's error for a stream cut mid-way (the SDK does not wrap it)."""
    try:
        import httpx2 as http
    except ImportError:  # pragma: no cover - SDKs built on httpx
        import httpx as http
    return http.TransportError


def llm_client(settings: Settings, api_key: str) -> "anthropic.AsyncAnthropic":
    """One SDK client (and connection pool) per worker process and event loop: a pool cannot
    outlive its loop (Lambda runs every invocation in a new one)."""
    import anthropic

    loop = asyncio.get_running_loop()
    for key in [k for k, (owner, _) in _clients.items() if owner.is_closed()]:
        del _clients[key]
    key = (id(loop), api_key, settings.anthropic_base_url, settings.anthropic_timeout_s)
    if key not in _clients:
        _clients[key] = (loop, anthropic.AsyncAnthropic(
            api_key=api_key, base_url=settings.anthropic_base_url, max_retries=0,
            timeout=settings.anthropic_timeout_s))
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
        try:
            seconds = float(ms) / 1000
        except ValueError:
            pass
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
                    parsed = parsed.replace(tzinfo=timezone.utc)
                seconds = parsed.timestamp() - time.time()
    if seconds is None or seconds < 0:
        return None
    return timedelta(seconds=min(seconds, 300))


def to_application_error(err: Exception) -> ApplicationError:
    """Map an SDK error to what Temporal should do with it."""
    import anthropic

    if isinstance(err, anthropic.APITimeoutError):
        return ApplicationError(f"Anthropic API timed out: {err}", type=LLM_UNAVAILABLE)
    if isinstance(err, anthropic.APIConnectionError):
        return ApplicationError(f"cannot reach the Anthropic API: {err}", type=LLM_UNAVAILABLE)
    if isinstance(err, anthropic.APIStatusError):
        status = err.status_code
        error_type, api_message = _error_fields(err)
        detail = f"{error_type}: {api_message}" if error_type and api_message else getattr(err, "message", str(err))
        if request_id := getattr(err, "request_id", None):
            detail += f" (request {request_id})"
        # An `error` event inside a streamed 200 response (e.g. overloaded_error) is transient too.
        if status in (408, 409, 429) or status >= 500 or status < 400 or error_type in RETRYABLE_API_ERRORS:
            return ApplicationError(
                f"Anthropic API answered {status} (will retry): {detail}", type=LLM_UNAVAILABLE,
                next_retry_delay=retry_after(err.response.headers if err.response is not None else None),
            )
        hint = {401: " (check RAGSTATE_ANTHROPIC_API_KEY)", 403: " (the key lacks permission)",
                404: " (check RAGSTATE_ANTHROPIC_MODEL)"}.get(status, "")
        return ApplicationError(f"Anthropic API rejected the request with {status}{hint}: {detail}",
                                type=LLM_REJECTED, non_retryable=True)
    return ApplicationError(f"Anthropic API error: {err}", type=LLM_UNAVAILABLE)


def _error_fields(err: "anthropic.APIStatusError") -> tuple[str | None, str | None]:
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
            raise ApplicationError(f"cannot read RAGSTATE_ANTHROPIC_API_KEY_FILE: {e}", type=LLM_REJECTED,
                                   non_retryable=True) from e
        if api_key is None:
            return SynthesisResult(answer=extractive_answer(inp.question, inp.sources),
                                   mode=AnswerMode.offline_extractive)
        import anthropic

        client = llm_client(s, api_key)
        request = dict(model=s.anthropic_model, max_tokens=s.anthropic_max_tokens, system=SYSTEM_PROMPT,
                       messages=[{"role": "user", "content": build_prompt(inp.question, inp.sources)}])
        try:
            async with _heartbeating(HEARTBEAT_EVERY_S):
                if s.anthropic_stream:
                    async with client.messages.stream(**request) as stream:
                        async for _ in stream.text_stream:
                            activity.heartbeat()
                        message = await stream.get_final_message()
                else:
                    message = await client.messages.create(**request)
        except anthropic.AnthropicError as e:
            raise to_application_error(e) from e
        except _transport_error() as e:
            raise ApplicationError(f"the Anthropic API stream broke off: {e!r}", type=LLM_UNAVAILABLE) from e
        text = "".join(block.text for block in message.content if block.type == "text").strip()
        return SynthesisResult(
            answer=text, mode=AnswerMode.llm, model=message.model,
            usage=Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens),
        )
