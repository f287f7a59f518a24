"""Answers under fire: the LLM worker SIGKILLed in the middle of its answers, and the Temporal
server SIGKILLed and restarted under a steady query load (the driver's RagClient and the
`ragstate ask` CLI, as users run them). Every completed answer must have been paid for once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from typing import TypeVar

from ragstate.models import AnswerMode, RagAnswer
from ragstate.testing import ok

from .report import Result
from .stack import ChaosStack

QUESTION = "How does reciprocal rank fusion combine keyword and vector rankings"
T = TypeVar("T")
#: A completed answer must not wait longer than this (a hang, counted as not survived).
ANSWER_TIMEOUT_S = 60.0


def question(label: str) -> str:
    """A question no other run asks: its answer is counted on its own at the fake API."""
    return f"{QUESTION} ({label} {uuid.uuid4().hex[:6]})?"


async def outcome(r: Result, awaitable: Awaitable[T], label: str = "") -> T | None:
    """What ``awaitable`` gives (bounded by the caller), or None with the try counted as not
    survived: a timeout as a hang, any other exception with its type and message."""
    try:
        return await awaitable
    except TimeoutError:
        r.hangs += 1
        r.attempt(False, f"{label}no answer in {ANSWER_TIMEOUT_S:.0f} s")
    except Exception as e:
        r.attempt(False, f"{label}{type(e).__name__}: {e}"[:200])
    return None


def complete(answer: RagAnswer) -> bool:
    return answer.mode is AnswerMode.llm and not answer.degraded and not answer.truncated and bool(answer.answer)


async def worker_kill_mid_answer(stack: ChaosStack, n: int = 3, slow_s: float = 14.0) -> Result:
    """``n`` questions whose first LLM request hangs for ``slow_s``; the LLM worker is SIGKILLed
    while all are in flight and a new one started at once. Recovery: kill to answer."""
    r = Result("worker SIGKILL mid-answer")
    await stack.wait_ready("main", "llm")
    stack.fake.clear_plan()
    stack.fake.plan(*[ok(delay_s=slow_s) for _ in range(n)])
    questions = [question(f"kill {i}") for i in range(n)]
    handles = [await stack.rag.start_query(q) for q in questions]
    deadline = time.monotonic() + 30
    while not all(stack.fake.asked_for(q) for q in questions) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # mid-answer
    killed_at = stack.kill_worker("llm")
    stack.start_worker("llm")

    async def one(q: str, handle) -> None:
        answer: RagAnswer | None = await outcome(r, asyncio.wait_for(handle.result(), ANSWER_TIMEOUT_S))
        if answer is None:
            return
        r.recovered(time.monotonic() - killed_at)
        r.attempt(complete(answer), f"answer mode {answer.mode.value}, degraded {answer.degraded_reasons}")

    await asyncio.gather(*(one(q, h) for q, h in zip(questions, handles)))
    await stack.fake.settled()
    for q in questions:
        if stack.fake.paid_for(q):
            r.answered(stack.fake.paid_for(q))
    again = [
        x.at - killed_at for x in stack.fake.requests if x.at > killed_at and any(q in x.prompt for q in questions)
    ]
    r.notes.append(
        f"{sum(stack.fake.asked_for(q) for q in questions)} requests for {n} answers (killed ones included); "
        f"asked again {min(again, default=0):.1f}-{max(again, default=0):.1f} s after the kill"
    )
    stack.fake.clear_plan()
    return r


async def server_kill_under_load(
    stack: ChaosStack, clients: int = 2, duration_s: float = 24.0, kill_at_s: float = 5.0, down_s: float = 3.0
) -> Result:
    """``clients`` RagClient loops and one `ragstate ask` loop ask one question after another;
    the server is SIGKILLed at ``kill_at_s`` and started again ``down_s`` later. Recovery: kill
    to the first answer completed after the restart."""
    r = Result("server kill -9 under query load")
    await stack.wait_ready("main", "llm")
    stack.fake.clear_plan()
    start = time.monotonic()
    state: dict[str, float] = {}
    asked: list[str] = []
    failures: dict[str, int] = {}
    refused: list[float] = []  # `ragstate ask` runs that connected while the server was down

    def failed(kind: str) -> None:
        failures[kind] = failures.get(kind, 0) + 1
        r.attempt(False)

    async def rag_loop(i: int) -> None:
        while time.monotonic() - start < duration_s:
            q = question(f"load {i}")
            asked.append(q)
            try:
                answer = await asyncio.wait_for(stack.rag.ask(q), ANSWER_TIMEOUT_S)
            except TimeoutError:
                r.hangs += 1
                failed("RagClient.ask: no answer in 60 s")
                continue
            except Exception as e:
                failed(f"RagClient.ask: {type(e).__name__}: {str(e)[:80]}")
                await asyncio.sleep(0.5)
                continue
            if "restarted" in state and "first" not in state:
                state["first"] = time.monotonic()
            r.attempt(complete(answer))

    async def cli_loop() -> None:
        while time.monotonic() - start < duration_s:
            q = question("cli")
            asked.append(q)
            started = time.monotonic()
            code, out, took = await stack.cli("ask", q, timeout_s=ANSWER_TIMEOUT_S)
            if code is None:
                r.hangs += 1
                failed("ragstate ask: no answer in 60 s")
            elif code != 0 and refused_clearly(out, took) and down_during(started, started + took):
                # It connected while the server was down: a prompt, clear refusal is the right answer
                # (following a run through an outage is what must survive); counted apart.
                refused.append(took)
                r.attempt(True)
            elif code != 0:
                failed(f"ragstate ask: exit {code}: {' '.join(out.split())[-120:]}")
                await asyncio.sleep(0.5)
            else:
                r.attempt(True)

    def down_during(t0: float, t1: float) -> bool:
        """Whether the server was down (or had only just come back) at some time in [t0, t1]."""
        if "killed" not in state:
            return False
        return t0 <= state.get("restarted", t1) + 1.0 and state["killed"] <= t1

    def refused_clearly(out: str, took: float) -> bool:
        return took < 15 and "Traceback" not in out and "RAGSTATE_TEMPORAL_ADDRESS" in out

    async def chaos() -> None:
        await asyncio.sleep(kill_at_s)
        stack.kill_server()
        state["killed"] = time.monotonic()
        await asyncio.sleep(down_s)
        stack.restart_server()
        state["restarted"] = time.monotonic()

    await asyncio.gather(*(rag_loop(i) for i in range(clients)), cli_loop(), chaos())
    await stack.fake.settled()
    for q in asked:
        if paid := stack.fake.paid_for(q):
            r.answered(paid)
    if "first" in state:
        r.recovered(state["first"] - state["killed"])
    else:
        r.notes.append("FAILED: no RagClient answer after the restart")
    r.notes.append(f"server down {down_s:.0f} s at {kill_at_s:.0f} s of {duration_s:.0f} s")
    r.notes += [f"{n} x {kind}" for kind, n in failures.items()]
    if refused:
        r.notes.append(
            f"{len(refused)} `ragstate ask` connecting while the server was down: refused in "
            f"{max(refused):.1f} s with the server's address (exit 1), not waited for"
        )
    await stack.reconnect()
    return r
