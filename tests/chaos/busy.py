"""Busy is not broken (issue 23): a slow LLM and many questions at once through the gateway,
the LLM worker running and polling all along. Before the busy-queue check, a Synthesize that
waited past the 5 s schedule-to-start bound for a free LLM slot was taken for one with no
worker: 20 of 30 answers came back extractive, "Synthesize failed: no worker on <llm queue>".
Target: 0 answers degraded (every answer the LLM's, none flagged), none paid twice, no hang."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter

import httpx

from ragstate.testing import ok

from .answers import question
from .report import Result
from .stack import ChaosStack

#: Questions sent at once (issue 23's figure).
QUESTIONS = 30
#: How long the fake Messages API takes per answer (issue 23's figure) ...
ANSWER_S = 6.0
#: ... as this many text deltas, each after a pause of ANSWER_S / DELTAS: a model producing
#: tokens at its pace. A pause before the first byte would instead trip the SDK's 4 s read
#: timeout (stack.LLM_TIMEOUT_S), which is the `llm-hang` row, not this one.
DELTAS = 6
#: One cited text block (nothing after its [1] marker), so a stream of exactly DELTAS deltas.
ANSWER = "According to the sources, the answer is in the first passage [1]"
#: A whole answer, queue included: the last of the 4 waves (30 questions on 8 LLM slots) waits
#: about 18 s for a slot and takes 6 s more; the rest is margin for 2 busy cores.
BUSY_ANSWER_TIMEOUT_S = 90.0


async def slow_llm_busy(stack: ChaosStack, n: int = QUESTIONS, answer_s: float = ANSWER_S) -> Result:
    """``n`` concurrent ``POST /v1/query`` to `ragstate serve`, every LLM answer ``answer_s``
    long, the stack's LLM worker as it runs (``RAGSTATE_LLM_MAX_CONCURRENT``, 8 by default).

    Size: the worker takes 8 Synthesize calls at a time, so 30 questions run in 4 waves of about
    6 s (about 24 s of LLM time, the row about 40 s with the gateway's start): long enough that
    22 of the 30 Synthesize steps wait well past the 5 s schedule-to-start bound for a slot (the
    busy path is what is exercised: the last wave waits about 18 s), short enough for the
    suite. The worker's slots are not lowered: with 8, each wave's 6 s is below the 8 s within
    which a busy worker must have polled (POLL_WINDOW_S), as it is for a real worker whose calls
    take less than that; a worker whose every slot holds a longer call is the limit the policy
    documents. Survived: HTTP 200, mode ``llm``, not degraded, not truncated."""
    r = Result("slow LLM, busy queue", degraded=0)
    await stack.wait_ready("main", "llm")
    slots = stack.settings.llm_max_concurrent
    fake = stack.fake
    fake.clear_plan()
    fake.plan_answers(*[ok(ANSWER, chunks=DELTAS) for _ in range(n)])
    fake.delta_delay_s = answer_s / DELTAS
    fake.reset_peak()
    questions = [question(f"busy {i}") for i in range(n)]
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    failures: Counter[str] = Counter()  # why a try failed, each reason once with its count
    took: list[float] = []
    try:
        async with (
            stack.gateway() as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=BUSY_ANSWER_TIMEOUT_S + 10) as http,
        ):

            async def one(q: str) -> None:
                t0 = time.monotonic()
                try:
                    res = await http.post("/v1/query", json={"question": q, "timeout_s": BUSY_ANSWER_TIMEOUT_S})
                except httpx.TimeoutException:
                    r.hangs += 1
                    statuses["no answer"] += 1
                    failures[f"no answer in {BUSY_ANSWER_TIMEOUT_S:.0f} s"] += 1
                    r.attempt(False)
                    return
                took.append(time.monotonic() - t0)
                statuses[str(res.status_code)] += 1
                if res.status_code != 200:
                    failures[f"HTTP {res.status_code}: {' '.join(res.text.split())[:160]}"] += 1
                    r.attempt(False)
                    return
                answer = res.json()
                llm = answer["mode"] == "llm" and not answer["degraded"] and not answer["degraded_reasons"]
                if not llm:
                    r.degraded += 1
                    reasons.update(answer["degraded_reasons"] or [f"mode {answer['mode']}"])
                elif answer["truncated"] or not answer["answer"]:
                    failures["an LLM answer truncated or empty"] += 1
                r.attempt(llm and not answer["truncated"] and bool(answer["answer"]))

            t0 = time.monotonic()
            await asyncio.gather(*(one(q) for q in questions))
            wall = time.monotonic() - t0
    finally:
        fake.delta_delay_s = 0.0
    await fake.settled()
    for q in questions:
        if paid := fake.paid_for(q):
            r.answered(paid)
    polling = stack.workers.get("llm") is not None and stack.workers["llm"].poll() is None
    if not polling:
        r.attempt(False, "the LLM worker exited during the row")
    took.sort()
    seconds = sorted(fake.answer_seconds) or [0.0]
    p50, slowest = (took[len(took) // 2], took[-1]) if took else (0.0, 0.0)
    r.notes.append(
        f"{n} concurrent POST /v1/query, LLM answers {seconds[0]:.1f}-{seconds[-1]:.1f} s, LLM worker slots "
        f"{slots} ({math.ceil(n / slots)} waves): {r.survived} complete, {r.degraded} degraded in {wall:.0f} s; "
        f"answer p50 {p50:.1f} s, max {slowest:.1f} s; at most {fake.max_in_flight} requests in flight at the "
        f"API; statuses {dict(statuses)}"
    )
    if reasons:
        r.notes.append("degraded: " + "; ".join(f"{k} x{v}" for k, v in reasons.most_common()))
    r.notes += [f"FAILED: {why} x{count}" for why, count in failures.most_common()]
    return r
