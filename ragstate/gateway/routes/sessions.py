"""Conversations over HTTP, behind the API key: ``POST /v1/sessions``, ``POST
/v1/sessions/{id}/messages`` (JSON, or Server-Sent Events with ``?stream=true``), ``GET
/v1/sessions/{id}`` (the transcript) and ``DELETE /v1/sessions/{id}``.

A message carries a ``message_id`` (one is made when it has none): sent again, it gets the same
reply, so a client whose time budget ran out (504) sends the same message again to collect it.

Example::

    curl -s localhost:8080/v1/sessions -X POST -H 'content-type: application/json' -d '{}'
    curl -s localhost:8080/v1/sessions/s-1a2b/messages -H 'content-type: application/json' \\
        -d '{"question": "What is BM25?", "message_id": "m1"}'
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ragstate.client.session import ChatSession
from ragstate.errors import OverBudgetError, RagError
from ragstate.gateway.deps import GatewayDep
from ragstate.gateway.errors import ApiError, GatewayError, api_error_of
from ragstate.gateway.principal import requires
from ragstate.gateway.schemas import COLLECTION_NAME, QueryResponse, documented_errors
from ragstate.gateway.service import Gateway
from ragstate.gateway.sse import stream_events
from ragstate.models.keys import Scope
from ragstate.models.session import SessionMessage, Transcript, check_id

router = APIRouter(tags=["sessions"], dependencies=[requires(Scope.query)])

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"


class SessionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    session_id: str | None = Field(default=None, pattern=_ID_PATTERN, description="default: a new id")
    collection: str | None = Field(default=None, pattern=COLLECTION_NAME.pattern, description="default collection")


class SessionCreated(BaseModel):
    session_id: str
    messages_url: str
    ui_link: str


class MessageBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"question": "What is BM25?"}]}
    )

    question: str = Field(description="the next question of the conversation")
    message_id: str | None = Field(default=None, pattern=_ID_PATTERN, description="sent again: the same reply")
    top_k: int | None = Field(default=None, ge=1, le=50)
    timeout_s: float | None = Field(default=None, gt=0, le=3600, allow_inf_nan=False)


class MessageReply(BaseModel):
    session_id: str
    turn: int
    message_id: str
    answer: QueryResponse


class SessionDeleted(BaseModel):
    session_id: str
    erased: bool = True


async def _session(gateway: Gateway, session_id: str, collection: str | None = None) -> ChatSession:
    rag = await gateway.rag()
    try:
        check_id(session_id)
        return rag.session(session_id, collection)  # a tenant's: under its own prefix
    except (ValueError, RagError) as e:
        raise ApiError(GatewayError.INVALID_REQUEST, str(e)) from None


@router.post("/v1/sessions", status_code=201, response_model=SessionCreated, responses=documented_errors(400, 429, 503))
async def create_session(request: Request, body: SessionBody, gateway: GatewayDep) -> Any:
    """Start a conversation (its first message may also start it)."""
    chat = await _session(gateway, body.session_id or f"s-{uuid.uuid4().hex[:16]}", body.collection)
    async with gateway.held():
        await chat.start()
    return SessionCreated(
        session_id=chat.name,
        messages_url=gateway.url(request, "/v1/sessions", chat.name) + "/messages",
        ui_link=chat.rag.ui_link(chat.workflow_id),
    )


@router.post(
    "/v1/sessions/{session_id}/messages",
    response_model=MessageReply,
    summary="The next message of a conversation: its answer (or its events with ?stream=true)",
    responses=documented_errors(400, 429, 502, 503, 504),
)
async def post_message(
    request: Request,
    session_id: str,
    body: MessageBody,
    gateway: GatewayDep,
    stream: Annotated[bool, Query(description="answer as Server-Sent Events")] = False,
) -> Any:
    chat = await _session(gateway, session_id)
    message_id = body.message_id or uuid.uuid4().hex[:16]
    if stream:

        async def start():
            return chat.turn_id(message_id), chat.ask_stream(body.question, message_id, body.top_k)

        return await stream_events(gateway, request, start)
    message = SessionMessage(message_id=message_id, question=body.question, top_k=body.top_k)
    budget = gateway.budget(request, body.timeout_s, None)
    async with gateway.held():
        try:
            reply = await asyncio.wait_for(chat.send(message), budget)
        except TimeoutError:
            raise ApiError(
                GatewayError.TIMEOUT,
                f"no answer within {budget:g} s; the turn goes on: send the same message_id again for its reply",
                message_id=message_id,
            ) from None
        except OverBudgetError as e:
            raise api_error_of(e) or ApiError.of(e) from None
        except RagError as e:
            raise ApiError.of(e, message_id=message_id) from None
    link = chat.rag.ui_link(reply.answer.workflow_id, reply.answer.run_id or None)
    return MessageReply(
        session_id=chat.name, turn=reply.turn, message_id=message_id, answer=QueryResponse.of(reply.answer, link)
    )


@router.get("/v1/sessions/{session_id}", response_model=Transcript, responses=documented_errors(400, 404, 429, 503))
async def get_session(session_id: str, gateway: GatewayDep) -> Any:
    """The transcript: every turn, with the standalone question each became and its sources."""
    chat = await _session(gateway, session_id)
    async with gateway.held():
        transcript = await chat.transcript()
        if not transcript.turns and not await chat.exists():
            raise ApiError(GatewayError.NOT_FOUND, f"no session {session_id!r}")
    return transcript


@router.delete("/v1/sessions/{session_id}", response_model=SessionDeleted, responses=documented_errors(400, 429, 503))
async def delete_session(session_id: str, gateway: GatewayDep) -> Any:
    """Erase the transcript and end the session (docs/sessions.md: what stays in Temporal)."""
    chat = await _session(gateway, session_id)
    async with gateway.held():
        await chat.delete()
    return SessionDeleted(session_id=chat.name)
