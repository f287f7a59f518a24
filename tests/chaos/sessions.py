"""Conversations under fire (workflows/session.py): a worker SIGKILLed in the middle of a turn,
and the Temporal server SIGKILLed and restarted in the middle of a session.

A turn is one ``message`` Update of the session's workflow, answered by a child RagQuery run.
What must hold: a message sent again after a fault gets the same single reply (one turn, one
child run, one completed LLM answer), and the turn after an outage still carries the earlier
turns (its RagQuery input's ``history``, and the Messages request the LLM worker sends).

Counting LLM calls per turn: every request of a follow-up carries the earlier questions as user
messages, so a request belongs to the turn whose question is the last one it carries.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable

from ragstate.models import RagAnswer, RagQuery
from ragstate.models.session import SessionMessage, SessionReply
from ragstate.temporal.conventions import turn_query_id
from ragstate.testing import ok

from .answers import ANSWER_TIMEOUT_S, complete, outcome, question
from .report import Result
from .stack import ChaosStack


def _of_turn(prompts: list[str], q: str, later: list[str]) -> int:
    """Prompts of the turn asking ``q``: they carry ``q`` and none of the later questions."""
    return sum(q in p and not any(x in p for x in later) for p in prompts)


def llm_calls(stack: ChaosStack, questions: list[str], i: int) -> tuple[int, int, int]:
    """(answer requests sent, answers completed, other requests: a follow-up's rewrite) for turn
    ``i`` of a session asking ``questions``. An answer request is Synthesize's: it carries the
    search results; a rewrite (CondenseQuestion with the LLM) carries none."""
    with stack.fake._lock:
        completed = list(stack.fake.completed_answers)
    later = questions[i + 1 :]
    answers = [r.prompt for r in stack.fake.requests if r.search_results]
    others = [r.prompt for r in stack.fake.requests if not r.search_results]
    q = questions[i]
    return _of_turn(answers, q, later), _of_turn(completed, q, later), _of_turn(others, q, later)


async def until_answering(stack: ChaosStack, q: str, timeout_s: float = 30) -> None:
    """Until the fake API has Synthesize's request for ``q``."""
    deadline = time.monotonic() + timeout_s
    while not any(q in r.prompt and r.search_results for r in stack.fake.requests):  # set by the server's threads
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Synthesize request for {q!r} in {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


def echoing_rewrites(scenario: Callable[..., Awaitable[Result]]) -> Callable[..., Awaitable[Result]]:
    """The scenario with the fake API answering a follow-up's rewrite with the question itself."""

    @functools.wraps(scenario)
    async def run(stack: ChaosStack, *args: object) -> Result:
        stack.fake.echo_rewrites = True
        try:
            return await scenario(stack, *args)
        finally:
            stack.fake.echo_rewrites = False

    return run


async def send(stack: ChaosStack, sid: str, mid: str, q: str) -> SessionReply:
    return await asyncio.wait_for(
        stack.rag.session(sid).send(SessionMessage(message_id=mid, question=q)), ANSWER_TIMEOUT_S
    )


#: The slow LLM answer of the killed turn, per worker killed: the LLM worker's request dies with
#: it (its retry answers); the main worker's kill leaves the request going on, so the answer is
#: only a little slower than the new worker's start, and the reply waits for the worker alone.
SLOW_S = {"llm": 14.0, "main": 4.0}


@echoing_rewrites
async def worker_kill_mid_turn(stack: ChaosStack) -> Result:
    """Two tries, each a session whose second turn's LLM answer is slow: the worker is SIGKILLed
    while Synthesize waits for it (try 1: the LLM worker; try 2: the main worker, which runs the
    session and query workflows) and a new one started at once; the message is then sent again,
    as a client that lost its connection does. Both sends must get the same reply, the session
    one turn for it, the LLM one completed answer. Recovery: kill to the reply."""
    r = Result("session: worker SIGKILL mid-turn")
    for worker, slow_s in SLOW_S.items():
        await stack.wait_ready("main", "llm")
        sid, tag = f"kill-{worker}-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6]
        qs = [question(f"{worker} turn 1"), question(f"{worker} turn 2")]
        await send(stack, sid, "m1", qs[0])
        slow, retried = (f"The {kind} answer ({tag}) is in the first passage [1]." for kind in ("slow", "retried"))
        stack.fake.clear_plan()
        stack.fake.plan_answers(ok(slow, delay_s=slow_s), ok(retried))
        first = asyncio.ensure_future(send(stack, sid, "m2", qs[1]))
        await until_answering(stack, qs[1])
        await asyncio.sleep(1.0)  # mid-answer
        killed_at = stack.kill_worker(worker)
        stack.start_worker(worker)
        again = asyncio.ensure_future(send(stack, sid, "m2", qs[1]))
        replies = await outcome(r, asyncio.gather(first, again), f"{worker} killed: ")
        if replies is None:
            continue
        a, b = replies
        took = time.monotonic() - killed_at
        r.recovered(took)
        await stack.fake.settled()
        sent, paid, rewrites = llm_calls(stack, qs, 1)
        if paid:
            r.answered(paid)
        turns = [t.turn for t in (await stack.rag.session(sid).transcript()).turns]
        same = (a.turn, a.answer.answer, a.answer.workflow_id) == (b.turn, b.answer.answer, b.answer.workflow_id)
        which = next((k for k in ("retried", "slow") if f"{k} answer ({tag})" in a.answer.answer), a.answer.answer[:80])
        r.attempt(
            same and a.turn == 2 and turns == [1, 2] and complete(a.answer) and paid == 1,
            f"{worker} worker killed: both sends got turn {a.turn} (same reply: {same}), transcript turns {turns}; "
            f"turn 2: {sent} Synthesize requests (any the kill cut off included), {paid} completed, {rewrites} "
            f"rewrite requests; the reply is the {which} answer, {took:.1f} s after the kill",
        )
    stack.fake.clear_plan()
    return r


async def turn_input(stack: ChaosStack, sid: str, mid: str) -> RagQuery:
    """The RagQuery the session gave a turn's child run (its started event's input)."""
    client = stack.rag.client
    handle = client.get_workflow_handle(turn_query_id(sid, mid))
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        return (await client.data_converter.decode(payloads, [RagQuery]))[0]
    raise AssertionError(f"no history for {handle.id}")


@echoing_rewrites
async def server_kill_mid_session(stack: ChaosStack, down_s: float = 3.0) -> Result:
    """Two turns, then the server SIGKILLed while the session waits for its next message and
    started again ``down_s`` later on the same database; the third turn must answer with the
    first two as its context: its RagQuery's ``history``, and the earlier questions in its
    Messages request. Recovery: kill to the third reply."""
    r = Result("session: server kill -9 mid-session")
    await stack.wait_ready("main", "llm")
    stack.fake.clear_plan()
    sid = f"outage-{uuid.uuid4().hex[:6]}"
    qs = [question("session 1"), question("session 2"), question("session 3")]
    for i in (0, 1):
        r.attempt(complete((await send(stack, sid, f"m{i + 1}", qs[i])).answer), None)
    stack.kill_server()
    killed_at = time.monotonic()
    await asyncio.sleep(down_s)
    stack.restart_server()
    third = await outcome(r, send(stack, sid, "m3", qs[2]), "the turn after the restart: ")
    if third is None:
        return r
    r.recovered(time.monotonic() - killed_at)
    answer: RagAnswer = third.answer
    history = [t.question for t in (await turn_input(stack, sid, "m3")).history]
    await stack.fake.settled()
    prompts = [p.prompt for p in stack.fake.requests if qs[2] in p.prompt and p.search_results]
    seen = bool(prompts) and all(q in prompts[-1] for q in qs[:2])
    for i in range(3):
        paid = llm_calls(stack, qs, i)[1]  # Synthesize's; a rewrite is another call, not the answer again
        if paid:
            r.answered(paid)
    r.attempt(
        third.turn == 3 and complete(answer) and history == qs[:2] and seen,
        f"server down {down_s:.0f} s between turns 2 and 3; turn {third.turn} answered "
        f"{time.monotonic() - killed_at:.1f} s after the kill; its RagQuery history: {len(history)} earlier "
        f"turns ({'turns 1 and 2' if history == qs[:2] else history}); "
        f"earlier questions in its Synthesize request: {seen}",
    )
    await stack.reconnect()
    return r
