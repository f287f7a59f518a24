"""Conversations from the client: :meth:`SessionCalls.session` returns a :class:`ChatSession`
whose messages are turns of one durable RagSession workflow (workflows/session.py).

Example::

    chat = rag.session()                                   # a new id; or rag.session("chat-42")
    first = await chat.ask("What is BM25?")
    follow = await chat.ask("How are its parameters tuned?")   # retrieved as a standalone question
    async for event in chat.ask_stream("And what about fusion?"):
        ...
    print((await chat.transcript()).turns[-1].standalone)
    await chat.delete()                                    # transcript erased, session ended

A message is an Update sent with update-with-start (the first message starts the session) under
the message's id: sending it again (a retry after a lost connection) returns the same reply, and
no second turn runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from ragstate.client.base import ClientBase, failure_of
from ragstate.client.tenants import policy_limits
from ragstate.contracts import RAG_KIND, Update, Workflow
from ragstate.errors import RagError, error_for
from ragstate.models import RagAnswer, StreamEvent
from ragstate.models.session import (
    SessionEnd,
    SessionId,
    SessionMessage,
    SessionReply,
    SessionStart,
    SessionSummary,
    Transcript,
    TranscriptRequest,
    check_id,
)
from ragstate.models.tenancy import DEFAULT_TENANT
from ragstate.temporal.conventions import budget_workflow_id, session_workflow_id, turn_query_id

if TYPE_CHECKING:
    from ragstate.client.rag_client import RagClient

__all__ = ["ChatSession", "SessionCalls"]


class ChatSession:
    """One conversation (module docstring for usage)."""

    def __init__(self, rag: RagClient, session_id: SessionId, collection: str | None = None):
        # A tenant's session lives under its own id (``<tenant>--<id>``): two tenants may both
        # name theirs "chat-1", and neither reaches the other's.
        self.rag, self.name = rag, check_id(session_id)
        self.id = rag.session_key(self.name)
        self.collection = rag.collection_name(collection) if rag.tenancy else collection
        self.workflow_id = session_workflow_id(self.id)

    def turn_id(self, message_id: str) -> str:
        """The RagQuery run that answers ``message_id`` (its stream, its UI page)."""
        return turn_query_id(self.id, message_id)

    async def _start_options(self) -> dict:
        """How a session starts, the same from :meth:`start` and from a message's update-with-start."""
        return dict(
            id=self.workflow_id,
            task_queue=self.rag.settings.workflow_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            **await self.rag.start_tags("session"),
            static_summary=f"session {self.id}",
            result_type=SessionSummary,
        )

    def _start_input(self) -> SessionStart:
        return SessionStart(
            session_id=self.id,
            collection=self.collection,
            idle_timeout_s=self.rag.settings.session_idle_timeout_s,
            turns_per_run=self.rag.settings.session_turns_per_run,
            tenant=self.rag.tenancy.tenant if self.rag.tenancy else None,
            access_groups=self.rag.tenancy.access_groups if self.rag.tenancy else None,
        )

    async def start(self) -> None:
        """Start the session without a message (a running one is left as it is)."""
        await self.rag.client.start_workflow(Workflow.SESSION, self._start_input(), **await self._start_options())

    async def exists(self) -> bool:
        """Whether the session has (or had) a run the server still knows."""
        return await self._exists(self.workflow_id)

    async def send(self, message: SessionMessage) -> SessionReply:
        """The turn's reply; :class:`~ragstate.errors.RagError` (its subclass for the failure's
        type) when the turn failed: the session stays usable for the next message."""
        message = await self._admitted(message)
        start: WithStartWorkflowOperation[Any, SessionSummary] = WithStartWorkflowOperation(
            Workflow.SESSION, self._start_input(), **await self._start_options()
        )
        try:
            return await self.rag.client.execute_update_with_start_workflow(
                Update.SESSION_MESSAGE,
                message,
                start_workflow_operation=start,
                id=message.message_id,
                result_type=SessionReply,
            )
        except WorkflowUpdateFailedError as e:
            text, kind = failure_of(e)
            raise error_for(text, turn_query_id(self.id, message.message_id), kind) from e

    async def _admitted(self, message: SessionMessage) -> SessionMessage:
        """A tenant's turn, admitted by its budget first (OverBudgetError when refused)."""
        tenancy = self.rag.tenancy
        if tenancy is None or not policy_limits(tenancy.policy):
            return message
        assert tenancy.policy is not None
        admitted = await self.rag.admit(self.turn_id(message.message_id), tenancy.policy)
        return message.model_copy(
            update=dict(
                budget=budget_workflow_id(tenancy.tenant, self.rag.settings.workflow_task_queue), llm=admitted.llm
            )
        )

    async def ask(self, question: str, message_id: str | None = None, top_k: int | None = None) -> RagAnswer:
        """Ask the next question of the conversation; the answer, as :meth:`RagClient.ask`'s."""
        message = SessionMessage(message_id=message_id or _new_id(), question=question, top_k=top_k)
        return (await self.send(message)).answer

    async def ask_stream(
        self, question: str, message_id: str | None = None, top_k: int | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """The turn's events as they come (steps, tokens, then ``final`` or ``error``), read from
        the turn's own RagQuery run, as :meth:`RagClient.ask_stream` yields them."""
        message = SessionMessage(message_id=message_id or _new_id(), question=question, top_k=top_k, stream_tokens=True)
        turn = asyncio.ensure_future(self.send(message))
        query_id = turn_query_id(self.id, message.message_id)
        try:
            # The turn's run exists once the session has started it: until then, wait on either.
            while not turn.done() and not await self._exists(query_id):
                await asyncio.wait([turn], timeout=0.05)
            if turn.done() and turn.exception() is not None and not await self._exists(query_id):
                turn.result()  # refused before any run started: raise its error
            async for event in self.rag.stream_events(query_id):
                yield event
            await turn
        finally:
            if not turn.done():
                turn.cancel()

    async def _exists(self, workflow_id: str) -> bool:
        try:
            await self.rag.client.get_workflow_handle(workflow_id).describe(rpc_timeout=timedelta(seconds=5))
        except RPCError as e:
            if e.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def transcript(self) -> Transcript:
        """Every turn so far, read from outside the workflow history (running or ended) by a
        workflow worker; :class:`~ragstate.errors.RagError` if none answers within a minute."""
        return await self._transcript(TranscriptRequest(session_id=self.id))

    async def _transcript(self, request: TranscriptRequest) -> Transcript:
        try:
            return await self.rag._lifecycle(
                Workflow.SESSION_TRANSCRIPT, request, Transcript, "transcript", run_timeout=TRANSCRIPT_TIMEOUT
            )
        except WorkflowFailureError as e:
            text, kind = failure_of(e)
            raise RagError(
                f"the transcript of session {self.id} was not read ({text}): is a workflow worker running "
                f"on {self.rag.settings.workflow_task_queue}?",
                self.workflow_id,
                kind,
            ) from e

    async def end(self, erase: bool = False) -> SessionSummary | None:
        """End the session (erasing its transcript with ``erase``); None if it was not running."""
        handle = self.rag.client.get_workflow_handle(self.workflow_id)
        try:
            return await handle.execute_update(Update.END_SESSION, SessionEnd(erase=erase), result_type=SessionSummary)
        except RPCError as e:
            if e.status is RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def delete(self) -> None:
        """End the session if it runs and erase its transcript. What stays in Temporal's history
        (the runs' inputs and results, encrypted with payload keys) is in docs/sessions.md."""
        if await self.end(erase=True) is None:
            await self._transcript(TranscriptRequest(session_id=self.id, erase=True))


#: A transcript is one small file read by a workflow worker: with none running, say so soon.
TRANSCRIPT_TIMEOUT = timedelta(minutes=1)


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


class SessionCalls(ClientBase):
    def session_key(self, session_id: str) -> str:
        """The session's id in Temporal and the transcripts: a tenant's under its own prefix."""
        if self.tenancy is None:
            return session_id
        if "--" in session_id:
            raise ValueError(f"invalid id {session_id!r}: '--' is reserved")
        if self.tenancy.tenant == DEFAULT_TENANT:
            return session_id
        return check_id(f"{self.tenancy.tenant}--{session_id}")

    def session(self, session_id: str | None = None, collection: str | None = None) -> ChatSession:
        """The conversation ``session_id`` (a new one when None): its messages are turns of one
        durable RagSession workflow. ValueError for an id that cannot be one."""
        return ChatSession(cast("RagClient", self), f"s-{_new_id()}" if session_id is None else session_id, collection)

    def _own_session(self, key: str) -> str | None:
        """A session's id as its caller knows it; None for another tenant's."""
        if self.tenancy is None:
            return key
        if self.tenancy.tenant == DEFAULT_TENANT:
            return None if "--" in key else key
        prefix = f"{self.tenancy.tenant}--"
        return key.removeprefix(prefix) if key.startswith(prefix) else None

    async def sessions(self, limit: int = 100) -> list[SessionSummary]:
        """Sessions, newest first: each conversation once (a chain of runs is one session)."""
        attrs = await self._attributes("session")
        query = f'{RAG_KIND.name} = "session"' if attrs else f'WorkflowType = "{Workflow.SESSION}"'
        seen: dict[str, SessionSummary] = {}
        async for wf in self.client.list_workflows(query, limit=limit * 4):
            sid = self._own_session(wf.id.removeprefix("rag-session-"))
            if sid is None or sid in seen:
                continue
            running = wf.status is WorkflowExecutionStatus.RUNNING
            seen[sid] = SessionSummary(
                session_id=sid, ended="" if running else (wf.status.name.lower() if wf.status else "unknown")
            )
            if len(seen) >= limit:
                break
        return list(seen.values())
