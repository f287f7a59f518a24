"""The Anthropic Messages API side of Synthesize: the SDK client (one per worker process and
event loop) one message from it, streamed with each text delta handed on as it comes, and the heartbeats
while it is awaited.

Kept apart from the activity (:mod:`ragstate.activities.anthropic_llm`), which decides whether
to call at all (no key, abstention, an answer cached by an earlier attempt) and what the
result is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity

from ragstate.activities.llm_errors import unavailable
from ragstate.activities.llm_request import CitedStream
from ragstate.settings import Settings

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import Message

__all__ = ["api_heartbeats", "close_llm_clients", "llm_client", "streamed_message", "transport_error"]

# The SDK is imported on first use: it is most of a light worker's cold start (about 0.9 s).
_clients: dict[tuple, tuple[asyncio.AbstractEventLoop, anthropic.AsyncAnthropic]] = {}


def transport_error() -> type[Exception]:
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


@contextlib.asynccontextmanager
async def api_heartbeats(every: float) -> AsyncIterator[None]:
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


async def streamed_message(
    client: anthropic.AsyncAnthropic, request: dict[str, Any], publish: Callable[[str], None], shown: CitedStream
) -> Message:
    """The answer streamed, each text delta passed to ``publish`` (as rendered: with the ``[n]``
    markers of its block's citations); a stream that ends before ``message_stop`` (cleanly or by
    a closed connection) is a transient failure, not an answer."""
    received = 0
    finished = False
    async with client.messages.stream(**request) as stream:
        async for event in stream:
            if event.type == "text":
                activity.heartbeat()
                publish(shown.text(event.snapshot))
                received += len(event.text)
            elif event.type == "content_block_stop":
                publish(shown.block_stop(event.content_block))
            elif event.type == "message_stop":
                finished = True
        if not finished:
            raise unavailable(f"the Anthropic API stream ended before message_stop, after {received} characters")
        return await stream.get_final_message()
