"""Conversations on the real dev server (workflows/session.py): a session per conversation whose
messages are Updates (update-with-start), one RagQuery child per turn carrying the last turns, a
message sent again answered once, a failed turn that leaves the session usable, the chain of
runs when it continues as new, the transcript outside history, resume after an end, erase."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus

from ragstate.client import InvalidQueryError, RagClient
from ragstate.contracts import Workflow
from ragstate.models.session import SessionMessage, SessionSummary
from ragstate.settings import Settings
from ragstate.temporal.conventions import session_workflow_id, turn_query_id
from ragstate.testing import FakeAnthropic, ok
from ragstate.workers.runtime import running_workers


async def _query_runs(client: Client, session_id: str) -> list[str]:
    prefix = turn_query_id(session_id, "")
    query = f'WorkflowType = "{Workflow.QUERY}" AND WorkflowId STARTS_WITH "{prefix}"'
    return [wf.id async for wf in client.list_workflows(query)]


async def _runs_of(client: Client, session_id: str) -> int:
    query = f'WorkflowId = "{session_workflow_id(session_id)}"'
    return len([wf async for wf in client.list_workflows(query)])


@pytest.mark.timeout(300)
async def test_a_conversation_answers_each_message_once_and_keeps_its_context(
    client: Client, corpus_settings: Settings
):
    settings = corpus_settings.model_copy(update={"session_turns_per_run": 3})
    rag = RagClient(client, settings)
    chat = rag.session("walrus-chat")
    async with running_workers(client, settings):
        first = await chat.ask("What is BM25?", message_id="m1")
        assert first.answer and first.citations

        # The same message again (a client retrying): the same reply, no second turn.
        follow = await chat.send(SessionMessage(message_id="m2", question="How are its parameters tuned?"))
        again = await chat.send(SessionMessage(message_id="m2", question="How are its parameters tuned?"))
        assert (again.turn, again.answer.answer, again.answer.workflow_id) == (
            2,
            follow.answer.answer,
            follow.answer.workflow_id,
        )
        assert sorted(await _query_runs(client, chat.id)) == [turn_query_id(chat.id, m) for m in ("m1", "m2")]

        # A turn that fails raises its own error class; the next one is answered.
        with pytest.raises(InvalidQueryError, match="characters long"):
            await chat.ask("x" * (settings.max_query_chars + 1), message_id="m3")
        fourth = await chat.ask("What does reciprocal rank fusion do?", message_id="m4")
        assert fourth.answer

        # Three turns per run: the fourth message ran in the second run of the chain, with the
        # recent turns carried over (the fifth sees them), and old replies still remembered.
        assert await _runs_of(client, chat.id) >= 2
        fifth = await chat.send(SessionMessage(message_id="m5", question="And how does it rank them?"))
        assert fifth.turn == 5
        assert (
            await chat.send(SessionMessage(message_id="m2", question="ignored"))
        ).answer.answer == follow.answer.answer

        transcript = await chat.transcript()
        assert [t.turn for t in transcript.turns] == [1, 2, 3, 4, 5]
        assert transcript.turns[2].error and "characters long" in transcript.turns[2].error
        assert transcript.turns[1].query_id == turn_query_id(chat.id, "m2")

        handle = client.get_workflow_handle(session_workflow_id(chat.id))
        details = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
        assert "| 5 | And how does it rank them?" in details and "5 turns (1 failed)" in details, details

        # Ended, then spoken to again: a new run goes on from the transcript (turn 6).
        summary = await chat.end()
        assert summary is not None and summary.totals.turns == 5 and summary.ended == "ended"
        sixth = await chat.send(SessionMessage(message_id="m6", question="What is chunking?"))
        assert sixth.turn == 6

        # Deleted: the transcript is erased and the session ended.
        await chat.delete()
        assert (await chat.transcript()).turns == []
        assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
        listed = {s.session_id: s for s in await rag.sessions()}
        assert chat.id in listed and listed[chat.id].ended == "completed"


def test_session_and_message_ids_are_checked_before_anything_starts(settings: Settings):
    rag = RagClient.__new__(RagClient)  # no connection: the checks come first
    rag.settings = settings
    for bad in ("../x", "", "a b", "x" * 101):
        with pytest.raises(ValueError, match="invalid id"):
            rag.session(bad)
        with pytest.raises(ValueError, match="invalid id"):
            SessionMessage(message_id=bad, question="q")


@pytest.mark.timeout(300)
async def test_a_follow_up_is_rewritten_by_the_llm_and_its_prompt_carries_the_earlier_turns(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = corpus_settings.model_copy(
        update={"anthropic_api_key": SecretStr("sk-ant-test"), "anthropic_base_url": fake_anthropic.url}
    )
    chat = RagClient(client, settings).session("llm-chat")
    rewritten = "How are the k1 and b parameters of BM25 tuned?"
    async with running_workers(client, settings):
        fake_anthropic.plan(
            ok("BM25 ranks documents by term frequency.", input_tokens=500, output_tokens=20),
            ok(rewritten, input_tokens=60, output_tokens=12),  # CondenseQuestion's rewrite
            ok("Its k1 and b are tuned on held-out queries.", input_tokens=700, output_tokens=30),
        )
        first = await chat.ask("What is BM25?", message_id="m1")
        second = await chat.ask("How are its parameters tuned?", message_id="m2")
        transcript = await chat.transcript()
    rewrite, follow_up = [r for r in fake_anthropic.requests if r.path.endswith("/messages")][-2:]
    assert rewrite.system.startswith("You rewrite") and "What is BM25?" in rewrite.prompt, rewrite.body
    assert second.standalone_question == rewritten
    assert (second.usage.input_tokens, second.usage.output_tokens) == (760, 42)  # the rewrite is paid by the turn
    assert second.cost.usd > 0

    # The synthesis prompt: the earlier turn (without its [n] markers), then this turn's sources.
    messages = follow_up.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"], messages
    assert messages[0]["content"] == "What is BM25?"
    earlier = messages[1]["content"][0]
    assert earlier["text"] == re.sub(r"\s*\[\d+\]", "", first.answer).strip() and earlier["cache_control"], earlier
    assert any(b.get("type") == "search_result" for b in messages[2]["content"])
    assert messages[2]["content"][-1]["text"].endswith("How are its parameters tuned?")
    assert transcript.turns[1].standalone == rewritten


@pytest.mark.timeout(120)
async def test_a_session_with_no_message_for_its_idle_timeout_ends_and_keeps_its_transcript(
    client: Client, corpus_settings: Settings
):
    settings = corpus_settings.model_copy(update={"session_idle_timeout_s": 1.0})
    chat = RagClient(client, settings).session("idle-chat")
    async with running_workers(client, settings):
        await chat.ask("What is BM25?", message_id="m1")
        summary = await client.get_workflow_handle(session_workflow_id(chat.id), result_type=SessionSummary).result()
        assert (summary.ended, summary.totals.turns) == ("idle", 1), summary
        assert [t.question for t in (await chat.transcript()).turns] == ["What is BM25?"]
