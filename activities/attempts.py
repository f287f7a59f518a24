"""The attempt a step's result came from, for the run's details table in the UI."""

from __future__ import annotations

from temporalio import activity


def current_attempt() -> int:
    """This activity's attempt (1 for the first); 1 when called outside an activity (tests,
    benchmarks calling the method directly)."""
    return activity.info().attempt if activity.in_activity() else 1
