"""Each fault class of the Messages API, through a whole query (the real SDK in the LLM worker
against the fake server): retryable faults end in a complete answer paid for once; rejected
requests fail at once and clearly, never retried; ``max_tokens`` is kept but flagged truncated,
never accepted as complete; an API that fails for good gives the extractive answer, flagged
degraded. Recovery: first request to the finished answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ragstate.contracts import ErrorType
from ragstate.errors import RagError
from ragstate.models import AnswerMode
from ragstate.testing import Planned, cut, drop, error, max_tokens, ok, stream_error

from .answers import ANSWER_TIMEOUT_S, complete, question
from .report import Result
from .stack import LLM_TIMEOUT_S, ChaosStack


@dataclass(frozen=True)
class Fault:
    """What the API answers first (then the default answer), and what the query must give:
    ``retried`` a complete answer after a retry, ``rejected`` a clear LLMRequestRejected failure
    after exactly one request, ``truncated`` an answer flagged truncated, ``fallback`` the
    extractive answer flagged degraded. ``min_gap_s``: the retry must wait at least this long
    (``retry-after``)."""

    plan: tuple[Planned, ...]
    expect: str
    min_gap_s: float = 0.0


FAULTS: dict[str, Fault] = {
    "429-retry-after": Fault((error(429, retry_after="3"),), "retried", min_gap_s=3.0),
    "429": Fault((error(429),), "retried"),
    "529": Fault((error(529),), "retried"),
    "500": Fault((error(500),), "retried"),
    "503": Fault((error(503),), "retried"),
    "400": Fault((error(400),), "rejected"),
    "401": Fault((error(401),), "rejected"),
    "403": Fault((error(403),), "rejected"),
    "404": Fault((error(404),), "rejected"),
    # Longer than the SDK's timeout (LLM_TIMEOUT_S): the attempt times out and is retried.
    "hang": Fault((ok(delay_s=LLM_TIMEOUT_S + 3),), "retried"),
    "connection-drop": Fault((drop(),), "retried"),
    "stream-cut": Fault((cut(after_deltas=2, close_connection=True),), "retried"),
    "stream-no-final-event": Fault((cut(after_deltas=2),), "retried"),
    "stream-error-event": Fault((stream_error(),), "retried"),
    "max-tokens": Fault((max_tokens(),), "truncated"),
    # Six 429s: every attempt of the LLM retry policy (retry-after-ms keeps it short).
    "429-for-good": Fault(tuple(error(429, retry_after_ms="10") for _ in range(6)), "fallback"),
}


async def run_fault(stack: ChaosStack, name: str, fault: Fault, tries: int = 1) -> Result:
    r = Result(f"LLM {name}")
    await stack.wait_ready("main", "llm")
    for _ in range(tries):
        stack.fake.clear_plan()
        stack.fake.plan(*fault.plan)
        q = question(name)
        t0 = time.monotonic()
        try:
            answer = await asyncio.wait_for(stack.rag.ask(q), ANSWER_TIMEOUT_S)
            failure = None
        except TimeoutError:
            r.hangs += 1
            r.attempt(False, f"no answer in {ANSWER_TIMEOUT_S:.0f} s")
            continue
        except RagError as e:
            answer, failure = None, e
        took = time.monotonic() - t0
        await stack.fake.settled()
        requests = [x for x in stack.fake.requests if q in x.prompt]
        paid = stack.fake.paid_for(q)
        if answer is not None and answer.mode is AnswerMode.llm:
            r.answered(paid)
        if fault.expect == "rejected":
            ok_ = failure is not None and failure.kind == ErrorType.LLM_REQUEST_REJECTED and len(requests) == 1
            r.attempt(ok_, f"{len(requests)} request(s), {failure or answer}"[:200])
            continue
        if failure is not None:
            r.attempt(False, f"{failure.kind}: {failure}"[:200])
            continue
        if fault.expect == "truncated":
            if not answer.truncated:
                r.truncated_accepted += 1
            r.attempt(answer.truncated and answer.mode is AnswerMode.llm, f"truncated={answer.truncated}")
        elif fault.expect == "fallback":
            ok_ = answer.mode is AnswerMode.offline_extractive and answer.degraded and bool(answer.citations)
            r.attempt(ok_, f"{answer.mode.value} after {len(requests)} requests: {answer.degraded_reasons}"[:200])
        else:
            gap = requests[1].at - requests[0].at if len(requests) > 1 else 0.0
            waited = gap >= fault.min_gap_s - 0.1
            r.recovered(took)
            note = f"{len(requests)} requests, retry after {gap:.1f} s"
            r.attempt(complete(answer) and len(requests) >= 2 and waited, note)
    return r


def scenario(name: str) -> Callable[[ChaosStack], Awaitable[Result]]:
    async def run(stack: ChaosStack) -> Result:
        return await run_fault(stack, name, FAULTS[name])

    run.__name__ = f"llm_{name.replace('-', '_')}"
    return run
