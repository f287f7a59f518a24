"""Heartbeats for sync activities that block in one long call (model encode, index build),
so that a worker that dies is noticed within the heartbeat timeout, not the start-to-close."""

from __future__ import annotations

import contextlib
import contextvars
import threading

from temporalio import activity


@contextlib.contextmanager
def heartbeating(every_s: float = 2.0):
    """Heartbeat every ``every_s`` from a thread while the block runs: well inside the
    workflows' 10 s heartbeat timeouts, so a lost worker is noticed in seconds."""
    if not activity.in_activity():
        yield
        return
    stop = threading.Event()
    ctx = contextvars.copy_context()  # the activity context lives in context variables

    def beat() -> None:
        while not stop.wait(every_s):
            ctx.run(activity.heartbeat)

    t = threading.Thread(target=beat, daemon=True, name="activity-heartbeat")
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
