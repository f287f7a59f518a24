"""The query workflow's retry policies, heartbeat and patch ids: what its history depends on,
kept in one place so a change to any of them is seen as one (and patched where it must be)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from ragstate.contracts import ErrorType

__all__ = [
    "ANSWER_CACHE_PATCH",
    "ANSWER_CACHE_RETRY",
    "BUSY_QUEUE_PATCH",
    "CONDENSE_PATCH",
    "CONDENSE_RETRY",
    "LLM_FALLBACK_PATCH",
    "LLM_HEARTBEAT",
    "LLM_RETRY",
    "LOCAL_STEPS_PATCH",
    "LOCAL_STEP_ELSEWHERE_PATCH",
    "POLLERS_RETRY",
    "POLL_WINDOW_S",
    "SEARCH_RETRY",
]

# Step Functions `Retry: MaxAttempts 2` = three attempts in all, with backoff.
SEARCH_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_attempts=3)
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
    non_retryable_error_types=[ErrorType.LLM_REQUEST_REJECTED],
)

#: CondenseQuestion (a follow-up's rewrite): offline it is pure and quick, so a failure is a
#: bug or a lost worker; an LLM rewrite would want LLM_RETRY's backoff.
CONDENSE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_attempts=3)

#: Patch id: a query with history (a follow-up) runs CondenseQuestion before ParseQuery. Only
#: such runs call it (one-off questions' histories have no marker and replay unchanged).
CONDENSE_PATCH = "condense-question"
#: Patch id: ParseQuery always, and per the routing ParseQuery returns, KeywordSearch, Merge,
#: VectorSearch and offline Synthesize run as local activities. Histories from before the patch
#: keep replaying the all-regular path.
LOCAL_STEPS_PATCH = "local-cheap-steps"
#: Patch id: a local step that the worker running the task does not have (a pool of workflow
#: workers with different roles: ParseQuery's worker had the model, this one has not) fails
#: as ``StepNotOnThisWorker`` and runs again as a regular activity on its own queue.
LOCAL_STEP_ELSEWHERE_PATCH = "local-step-elsewhere"
#: Patch id: a Synthesize that fails for good (or that no LLM worker starts) is followed by the
#: ExtractiveAnswer local activity. Runs from before it failed the query there.
LLM_FALLBACK_PATCH = "llm-extractive-fallback"
#: Patch id: a step on a remote queue whose schedule-to-start bound ran out asks whether any
#: worker polls that queue (QueuePollers) before giving up: a busy queue is waited for longer
#: (Routing.backlog_wait_s), only an empty one is "no worker". Runs from before it gave up there.
BUSY_QUEUE_PATCH = "busy-queue-waits"
#: Patch id: with the answer cache on (ParsedQuery.answer_cache, from the settings of the worker
#: that ran ParseQuery), a hit skips Merge and Synthesize, and a new LLM answer is kept by
#: StoreCachedAnswer. Runs with the cache off call nothing: their histories are unchanged.
ANSWER_CACHE_PATCH = "answer-cache"
#: StoreCachedAnswer: best effort (a failed write costs a later question an LLM call, nothing more).
ANSWER_CACHE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_attempts=3
)
#: A queue polled within this many seconds has a worker (busy, if it did not start the step); a
#: worker with a free slot polls at once, a busy one as soon as a slot frees. So a busy queue is
#: told from an empty one while its workers finish a task every few seconds; one whose every slot
#: holds a call longer than this looks empty (its step degrades, as it did before the check).
POLL_WINDOW_S = 8.0
#: How QueuePollers is retried: a describe call that fails keeps the old verdict (no worker).
POLLERS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)
#: A lost LLM worker is noticed this soon (the activity heartbeats every 2 s), and with
#: LLM_RETRY's first interval (2 s) the answer is asked again within 15 s.
LLM_HEARTBEAT = timedelta(seconds=10)
