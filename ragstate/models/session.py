"""Models of a conversation (workflows/session.py): one RagSession workflow per conversation,
one Update per message, one RagQuery child run per turn.

What travels through the session's history stays small: the last turns (questions and shortened
answers), counters and the replies of recent messages (for a client that sends one again). The
whole transcript lives outside history, one JSON line per turn (activities/transcripts.py).

Example::

    SessionMessage(message_id="m-1", question="What is BM25?")
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from ragstate.models.base import _Model
from ragstate.models.names import CollectionName, name_rule
from ragstate.models.query import Citation, Cost, PriorTurn, RagAnswer, Usage
from ragstate.models.tenancy import AccessGroup, TenantName

#: ``value`` if it can be a session or message id (they end up in workflow ids and in a
#: transcript's file name), else ValueError saying why.
check_id = name_rule(
    r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", "id", "use 1-100 letters, digits, '_' or '-', starting with a letter or digit"
)


SessionId = Annotated[str, AfterValidator(check_id)]

#: Replies kept for messages sent again (a client retrying after a lost connection).
REMEMBERED_REPLIES = 32


class SessionMessage(_Model):
    """One user message: the argument of the ``message`` Update."""

    message_id: SessionId = Field(description="the client's id: sent again, it gets the same turn and answer")
    question: str = Field(max_length=20_000)
    top_k: int | None = Field(default=None, ge=1, le=50)
    stream_tokens: bool = Field(default=False, description="publish the answer's tokens on the turn's stream")
    budget: str | None = Field(
        default=None, max_length=200, description="the tenant's RagBudget that admitted the turn (the client sets it)"
    )
    llm: bool = Field(default=True, description="False: admitted without the LLM (retrieval only)")


class TurnRecord(_Model):
    """One turn as the transcript keeps it (and the session's details table shows it)."""

    turn: int
    message_id: str
    question: str
    standalone: str = Field("", description="the standalone question the follow-up became ('' if unchanged)")
    answer: str = ""
    citations: list[Citation] = Field(default_factory=list)
    mode: str = ""
    usage: Usage = Field(default_factory=Usage)
    cost: Cost = Field(default_factory=Cost)
    query_id: str = Field("", description="the turn's RagQuery run")
    started_at: str = ""
    duration_ms: int = 0
    error: str | None = Field(None, description="why the turn failed; the session goes on")


class SessionReply(_Model):
    """What the ``message`` Update returns: the turn and its whole answer."""

    session_id: str
    turn: int
    message_id: str
    answer: RagAnswer


class SessionTotals(_Model):
    turns: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0


class SessionCarry(_Model):
    """What a session hands the next run of its chain when it continues as new."""

    totals: SessionTotals = Field(default_factory=SessionTotals)
    recent: list[PriorTurn] = Field(default_factory=list, description="the last turns, for the next follow-ups")
    summary: str = Field("", description="a rolling summary of the turns before them: their questions, shortened")
    replies: list[SessionReply] = Field(default_factory=list, description="recent replies by message id")
    rows: list[TurnRecord] = Field(default_factory=list, description="the details table's last rows")
    runs: int = Field(1, description="runs in the chain so far")


class SessionStart(_Model):
    """The session workflow's input: on its first run from the client, later from itself."""

    session_id: SessionId
    collection: CollectionName | None = None
    idle_timeout_s: float = Field(86400.0, ge=1, le=30 * 86400, description="no message for this long ends it")
    turns_per_run: int = Field(100, ge=2, le=10_000, description="continue as new after this many turns")
    access_groups: list[AccessGroup] | None = Field(
        default=None,
        max_length=256,
        description="the caller's access groups, given to every turn's RagQuery; None: the operator",
    )
    tenant: TenantName | None = Field(default=None, description="the tenant the session's turns run for")
    carry: SessionCarry | None = None


class SessionEnd(_Model):
    """The ``end`` Update: end the session; with ``erase``, delete its transcript first."""

    erase: bool = False


class SessionSummary(_Model):
    """A session's result, and what `ragstate sessions show` prints above the transcript."""

    session_id: str
    totals: SessionTotals = Field(default_factory=SessionTotals)
    ended: str = Field("", description="idle, ended, erased")
    runs: int = 1


class TranscriptAppend(_Model):
    session_id: SessionId
    record: TurnRecord


class TranscriptRequest(_Model):
    session_id: SessionId
    erase: bool = Field(False, description="delete it (after reading nothing back)")


class Transcript(_Model):
    session_id: str
    turns: list[TurnRecord] = Field(default_factory=list)
    erased: bool = False
