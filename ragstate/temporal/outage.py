"""Riding out a Temporal server outage: a client that follows a run keeps following it while
the server restarts.

The SDK's client reconnects by itself once the server answers again, but a call made while it
is down fails after the core client's own retries (about 10 s) with ``RPCError`` (``tcp connect
error``, ``transport error``). A run lives on the server, not in the connection, so what a
follower lost is only its wait: :func:`through_outage` asks again, with backoff, until the
server is back or ``outage_s`` (``RAGSTATE_SERVER_OUTAGE_S``, 60 s by default) has passed, then
raises :class:`~ragstate.errors.ServerUnavailableError` naming the run to come back to.

Example::

    answer = await through_outage(handle.result, outage_s=60, what=f"query {handle.id}")
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

from ragstate.errors import ServerUnavailableError

__all__ = ["server_unreachable", "through_outage"]

T = TypeVar("T")
log = logging.getLogger("ragstate.client")

#: First wait between tries, and the longest: the server is usually back within seconds.
_FIRST_WAIT_S, _MAX_WAIT_S = 0.5, 5.0


def server_unreachable(err: BaseException) -> bool:
    """Whether ``err`` says the server could not be reached (as opposed to an answer from it,
    e.g. not found or invalid argument, which asking again would not change)."""
    if not isinstance(err, RPCError):
        return False
    if err.status == RPCStatusCode.UNAVAILABLE:
        return True
    # A long poll cut when the server went away: tonic's "transport error" / "connection reset".
    text = (err.message or "").lower()
    return err.status in (RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED) and (
        "transport" in text or "connection" in text
    )


async def through_outage(
    call: Callable[[], Awaitable[T]],
    *,
    outage_s: float,
    what: str,
    on_wait: Callable[[float], None] | None = None,
) -> T:
    """``await call()``, asked again while the server is unreachable, for up to ``outage_s``
    from the first failure. ``what`` names the run in the messages; ``on_wait(seconds_down)``
    is told before each wait (a CLI prints it)."""
    down_since: float | None = None
    wait = _FIRST_WAIT_S
    while True:
        try:
            result = await call()
        except RPCError as e:
            if not server_unreachable(e):
                raise
            now = time.monotonic()
            if down_since is None:
                down_since = now
                log.warning("Temporal server unreachable while following %s (%s); reconnecting", what, e.message)
            if now - down_since >= outage_s:
                raise ServerUnavailableError(
                    f"the Temporal server did not answer for {outage_s:.0f} s while following {what}: "
                    f"{e.message}. The run goes on on the server; follow it again once the server is back",
                ) from e
            if on_wait is not None:
                on_wait(now - down_since)
            await asyncio.sleep(min(wait, max(0.0, outage_s - (now - down_since))))
            wait = min(wait * 2, _MAX_WAIT_S)
            continue
        if down_since is not None:
            log.info("Temporal server back after %.1f s; following %s again", time.monotonic() - down_since, what)
        return result
