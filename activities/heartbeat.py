"""Heartbeats for sync activities that block in one long call (model encode, index build),
so that a worker that dies is noticed within the heartbeat timeout, not the start-to-close."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from temporalio import activity


@contextlib.contextmanager
def heartbeating(every_s: float = 2.0, details: Callable[[], Any] | None = None):
    """Heartbeat every ``every_s`` from a thread while the block runs: well inside the
    workflows' 10 s heartbeat timeouts, so a lost worker is noticed in seconds.

    ``details`` (called on the heartbeat thread) gives each heartbeat's details, e.g. how many
    chunks are embedded so far: clients read them from the pending activity to show progress
    between the workflow's own updates, which come only when a whole batch is done."""
    if not activity.in_activity():
        yield
        return
    stop = threading.Event()
    ctx = contextvars.copy_context()  # the activity context lives in context variables

    def beat() -> None:
        while not stop.wait(every_s):
            if details is None:
                ctx.run(activity.heartbeat)
            else:
                ctx.run(activity.heartbeat, details())

    t = threading.Thread(target=beat, daemon=True, name="activity-heartbeat")
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
