"""One conversation, durable: a RagSession workflow per session (Temporal's entity pattern).

- A user message is the Update ``message`` (the first one starts the session: update-with-start).
  Messages run one at a time, in arrival order; each turn runs the query graph as a child
  RagQuery run (its own run in the UI, linked from the session's table) whose query carries the
  last turns (``RagQuery.history``), so its CondenseQuestion step rewrites a follow-up.
- A message sent again with the same id gets the same reply: never a second turn or LLM call.
- The transcript lives outside history (``AppendTurn``: one JSON line per turn); the history
  holds the last turns, counters and recent replies, and the run continues as new every
  ``turns_per_run`` turns or when the server suggests it, carrying them and a rolling summary.
- No message for ``idle_timeout_s`` ends the session; so does the Update ``end`` (with
  ``erase``: the transcript is deleted first). A failed turn fails its Update only.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import RAG_KIND, RAG_STATUS, Activity, ErrorType, Query, Update, Workflow
    from ragstate.models import PriorTurn, RagAnswer, RagQuery
    from ragstate.models.query import MAX_PRIOR_ANSWER_CHARS, MAX_PRIOR_TURNS
    from ragstate.models.session import (
        REMEMBERED_REPLIES,
        SessionCarry,
        SessionEnd,
        SessionMessage,
        SessionReply,
        SessionStart,
        SessionSummary,
        Transcript,
        TranscriptAppend,
        TurnRecord,
    )
    from ragstate.temporal.conventions import turn_query_id
    from ragstate.workflows.session_details import render_details, resumed, rolled_summary, turn_record

#: Patch id: AppendTurn runs as a local activity (sessions recorded before ran it as a regular one).
LOCAL_TRANSCRIPT_PATCH = "session-local-transcript"
TRANSCRIPT_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)
#: Rows of the turns table kept in the UI's details (the transcript has every turn).
DETAIL_ROWS = 20


@workflow.defn(name=Workflow.SESSION)
class RagSessionWorkflow:
    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        carry = start.carry or SessionCarry()
        self._start = start
        self._carry = carry.model_copy(deep=True)
        self._replies = {r.message_id: r for r in carry.replies}
        self._failures: dict[str, ApplicationError] = {}
        self._in_flight: set[str] = set()
        self._lock = asyncio.Lock()  # turns one at a time, first come first served
        self._messages = 0  # messages received by this run: each one restarts the idle timer
        self._seen = 0  # ... counted when the idle timer last started
        self._turns_this_run = 0
        self._end: SessionEnd | None = None
        self._ended = ""
        self._ready = start.carry is not None  # a first run reads the transcript first (resume)

    @workflow.query(name=Query.SESSION_STATE)
    def state(self) -> SessionCarry:
        return self._carry

    @workflow.update(name=Update.SESSION_MESSAGE)
    async def message(self, msg: SessionMessage) -> SessionReply:
        """Answer one message (the same reply for a message id seen before)."""
        mid = msg.message_id
        await workflow.wait_condition(lambda: self._ready)
        if mid in self._in_flight:  # sent again while its turn runs: wait for that turn
            await workflow.wait_condition(lambda: mid not in self._in_flight)
        if mid in self._replies:
            return self._replies[mid]
        if mid in self._failures:
            raise self._failures[mid]
        self._in_flight.add(mid)
        self._messages += 1
        try:
            async with self._lock:
                return await self._turn(msg)
        finally:
            self._in_flight.discard(mid)

    @message.validator
    def _open(self, msg: SessionMessage) -> None:
        # Refused before it is written to history: a message to a session that is ending.
        if self._end is not None:
            raise ValueError("this session has ended: start a new one (or send to another id)")

    @workflow.update(name=Update.END_SESSION)
    async def end(self, request: SessionEnd) -> SessionSummary:
        """End the session once the turn in progress (if any) is answered; with ``erase``,
        delete the transcript first."""
        self._end = request
        async with self._lock:
            if request.erase:
                await _transcript_step(Activity.ERASE_TRANSCRIPT, self._start.session_id, bool, "erase the transcript")
        self._ended = "erased" if request.erase else "ended"
        return self._summary()

    @workflow.run
    async def run(self, start: SessionStart) -> SessionSummary:
        if not self._ready:
            await self._resume()
        self._show()
        while self._end is None:
            self._seen = self._messages
            try:
                await workflow.wait_condition(
                    lambda: self._end is not None or self._messages != self._seen or self._time_to_continue(),
                    timeout=timedelta(seconds=start.idle_timeout_s),
                )
            except TimeoutError:
                if not self._busy():
                    self._ended = "idle"
                    break
                continue
            if self._end is None and self._time_to_continue():
                await workflow.wait_condition(lambda: not self._busy() and workflow.all_handlers_finished())
                workflow.continue_as_new(self._next_start())
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._has_attributes():
            workflow.upsert_search_attributes([RAG_STATUS.value_set(self._ended or "ended")])
        return self._summary()

    async def _resume(self) -> None:
        """A session's first run goes on from its transcript, if it has one (a session that
        ended idle and gets a message again): its turns keep their numbers, its follow-ups
        their context."""
        try:
            transcript: Transcript = await _transcript_step(
                Activity.READ_TRANSCRIPT, self._start.session_id, Transcript, "resume from the transcript"
            )
            self._carry = resumed(transcript, MAX_PRIOR_TURNS, DETAIL_ROWS)
        except ActivityError as e:  # a fresh start rather than no session at all
            workflow.logger.warning("session %s starts without its transcript: %s", self._start.session_id, e)
        self._ready = True

    # --- a turn -----------------------------------------------------------------------------

    async def _turn(self, msg: SessionMessage) -> SessionReply:
        c, sid = self._carry, self._start.session_id
        number = c.totals.turns + 1
        started = workflow.now()
        query_id = turn_query_id(sid, msg.message_id)
        query = RagQuery(
            question=msg.question,
            top_k=msg.top_k,
            collection=self._start.collection,
            stream_tokens=msg.stream_tokens,
            history=c.recent[-MAX_PRIOR_TURNS:],
            access_groups=self._start.access_groups,
            tenant=self._start.tenant,
            budget=msg.budget,
            synthesize=msg.llm,
        )
        try:
            answer: RagAnswer = await workflow.execute_child_workflow(
                Workflow.QUERY,
                query,
                id=query_id,
                result_type=RagAnswer,
                execution_timeout=timedelta(minutes=15),
                static_summary=f"turn {number} of session {sid}: {msg.question[:150]}",
                search_attributes=self._child_attributes(),
            )
        except ChildWorkflowError as e:
            failure = _turn_failure(e, number)
            record = TurnRecord(
                turn=number, message_id=msg.message_id, question=msg.question, query_id=query_id, error=failure.message
            )
            c.totals.turns, c.totals.failed = number, c.totals.failed + 1
            await self._record(record, started)
            self._failures[msg.message_id] = failure
            raise failure from None
        record = turn_record(number, msg, answer, query_id)
        c.totals.turns = number
        c.totals.input_tokens += answer.usage.input_tokens
        c.totals.output_tokens += answer.usage.output_tokens
        c.totals.usd = round(c.totals.usd + answer.cost.usd, 6)
        c.recent.append(
            PriorTurn(
                question=msg.question, standalone=record.standalone, answer=answer.answer[:MAX_PRIOR_ANSWER_CHARS]
            )
        )
        if len(c.recent) > MAX_PRIOR_TURNS:
            c.summary = rolled_summary(c.summary, c.recent.pop(0))
        await self._record(record, started)
        reply = SessionReply(session_id=sid, turn=number, message_id=msg.message_id, answer=answer)
        self._replies[msg.message_id] = reply
        while len(self._replies) > REMEMBERED_REPLIES:
            self._replies.pop(next(iter(self._replies)))
        return reply

    async def _record(self, record: TurnRecord, started) -> None:
        """Into the transcript (outside history) and the details table."""
        record.started_at = started.isoformat(timespec="seconds")
        record.duration_ms = int((workflow.now() - started).total_seconds() * 1000)
        append = TranscriptAppend(session_id=self._start.session_id, record=record)
        try:
            # One small file write on the workflow worker (which shares the data dir): a local
            # activity spares each turn a round trip through the task queue.
            local = workflow.patched(LOCAL_TRANSCRIPT_PATCH)
            await _transcript_step(Activity.APPEND_TURN, append, bool, f"transcript: turn {record.turn}", local=local)
        except ActivityError as e:  # the answer still goes back; the transcript lacks this turn
            workflow.logger.warning("turn %d not written to the transcript: %s", record.turn, e.cause or e)
        self._carry.rows = [*self._carry.rows, record][-DETAIL_ROWS:]
        self._turns_this_run += 1
        self._show()

    # --- the run's lifecycle ------------------------------------------------------------------

    def _busy(self) -> bool:
        return bool(self._in_flight) or self._lock.locked()

    def _time_to_continue(self) -> bool:
        return not self._busy() and (
            self._turns_this_run >= self._start.turns_per_run or workflow.info().is_continue_as_new_suggested()
        )

    def _next_start(self) -> SessionStart:
        carry = self._carry.model_copy(update={"replies": list(self._replies.values()), "runs": self._carry.runs + 1})
        return self._start.model_copy(update={"carry": carry})

    def _summary(self) -> SessionSummary:
        c = self._carry
        return SessionSummary(session_id=self._start.session_id, totals=c.totals, ended=self._ended, runs=c.runs)

    def _show(self) -> None:
        workflow.set_current_details(render_details(self._start.session_id, self._carry, workflow.info().namespace))

    def _has_attributes(self) -> bool:
        return workflow.info().typed_search_attributes.get(RAG_KIND) is not None

    def _child_attributes(self) -> TypedSearchAttributes | None:
        if not self._has_attributes():
            return None
        return TypedSearchAttributes(
            [SearchAttributePair(RAG_KIND, "query"), SearchAttributePair(RAG_STATUS, "running")]
        )


async def _transcript_step(name: str, arg: object, result_type: type, summary: str, *, local: bool = False):
    """One transcript activity (a small file of the data dir), with the session's bound and retries."""
    limit = timedelta(seconds=30)
    if local:
        return await workflow.execute_local_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=limit,
            retry_policy=TRANSCRIPT_RETRY,
            summary=summary,
        )
    return await workflow.execute_activity(
        name, arg, result_type=result_type, start_to_close_timeout=limit, retry_policy=TRANSCRIPT_RETRY, summary=summary
    )


def _turn_failure(e: ChildWorkflowError, number: int) -> ApplicationError:
    """The Update's failure: the query's own error type (so the client raises its class) and
    message, non-retryable (the session stays usable for the next message)."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type in ErrorType.ALL:
            return ApplicationError(f"turn {number}: {cause.message}", type=cause.type, non_retryable=True)
        cause = cause.__cause__ or getattr(cause, "cause", None)
    return ApplicationError(f"turn {number} failed: {e.cause or e}", type="TurnFailed", non_retryable=True)
