"""CondenseQuestion: the offline rewrite of a follow-up (ragstate.conversations.condense), pure
and deterministic, and the step in the query workflow, which only a question with history runs
(on the real dev server)."""

from __future__ import annotations

import re

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from test_replay import replay_failures
from test_run_details import details_of

from ragstate.client import RagClient
from ragstate.contracts import Activity
from ragstate.conversations.condense import condense_offline, current_topic, is_topic_switch
from ragstate.models import CondenseMode, PriorTurn, RagQuery
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers

OPENING = "How is blood pressure measured in patients with kidney disease?"


def test_an_elliptical_follow_up_takes_the_earlier_turn_as_context():
    c = condense_offline("What about in children?", [OPENING])
    assert not c.topic_switch and c.mode is CondenseMode.offline
    assert c.standalone == "What about in children?"  # offline keeps the question as asked
    assert {"blood", "pressur", "kidney"} <= set(c.context_terms)
    assert c.context_text == OPENING and c.turns_used == 1


def test_a_referring_follow_up_is_not_a_new_topic_even_with_words_of_its_own():
    question = "Which drugs lower it most effectively?"
    assert not is_topic_switch(question, [OPENING])
    assert condense_offline(question, [PriorTurn(question=OPENING)]).context_terms


def test_a_new_topic_drags_nothing_in():
    switch = "What methods are used to evaluate the effectiveness of library catalog indexing systems?"
    c = condense_offline(switch, [OPENING])
    assert c.topic_switch and c.context_terms == [] and c.context_text == "" and c.standalone == switch


def test_no_history_no_context_and_no_switch():
    c = condense_offline("What is BM25?", [])
    assert (c.topic_switch, c.context_terms, c.context_text, c.turns_used) == (False, [], "", 0)


def test_the_topic_restarts_at_a_switch_in_the_earlier_turns():
    switch = "What methods are used to evaluate the effectiveness of library catalog indexing systems?"
    assert current_topic([OPENING, "What about in children?", switch]) == [switch]
    c = condense_offline("And how are they compared?", [OPENING, switch])
    assert c.context_text == switch and c.turns_used == 1


def test_an_llm_rewritten_turn_holds_its_own_context():
    history = [
        PriorTurn(question=OPENING),
        PriorTurn(question="And in children?", standalone="How is blood pressure measured in children?"),
    ]
    assert current_topic(history) == ["How is blood pressure measured in children?"]


def test_the_rewrite_is_deterministic():
    history = [OPENING, "What about in children?"]
    assert condense_offline("Which drugs?", history) == condense_offline("Which drugs?", list(history))


async def test_only_a_follow_up_runs_condense_question(client: Client, corpus_settings: Settings):
    rag = RagClient(client, corpus_settings)
    async with running_workers(client, corpus_settings):
        alone = await rag.ask(RagQuery(question="What is BM25?", top_k=3, synthesize=False))
        follow = await rag.ask(
            RagQuery(
                question="How are its parameters tuned?",
                top_k=3,
                synthesize=False,
                history=[PriorTurn(question="What is BM25 and how does it rank documents?")],
            )
        )
        # The run's details table (a query: needs the worker) lists the step first, with what it
        # took from the earlier turn.
        rows, _ = await details_of(client, follow.workflow_id)
    assert next(iter(rows)) == Activity.CONDENSE_QUESTION
    assert re.fullmatch(r"offline: \d+ context terms from 1 earlier turns", rows[Activity.CONDENSE_QUESTION][3])

    async def steps(workflow_id: str) -> list[str]:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        return [
            e.marker_recorded_event_attributes.details["data"].payloads[0].data.decode()
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and "data" in e.marker_recorded_event_attributes.details
        ]

    assert not any(Activity.CONDENSE_QUESTION in s for s in await steps(alone.workflow_id))
    assert any(Activity.CONDENSE_QUESTION in s for s in await steps(follow.workflow_id))
    # The new branch is deterministic: the follow-up's run replays (the committed histories,
    # all without history, replay in tests/test_replay.py).
    history = await client.get_workflow_handle(follow.workflow_id).fetch_history()
    assert not await replay_failures({"follow-up": history})
    assert alone.standalone_question == ""
    assert follow.standalone_question == "How are its parameters tuned?"
    assert next(t.step for t in follow.timings) == Activity.CONDENSE_QUESTION
