"""What the Temporal UI shows of a query run in the default (local-activity) mode: its current
details table (read, as the UI does, through the ``__temporal_workflow_metadata`` query), its
static summary and details; the answer's cost; and token events in the history only when a
client subscribed. On the real dev server; the LLM through the real SDK against the fake."""

from __future__ import annotations

import re

import pytest
from paths import EXAMPLES_CORPUS
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.models import AnswerMode, RagQuery
from ragstate.settings import Settings
from ragstate.testing import FakeAnthropic, ok, stream_error
from ragstate.workers.runtime import running_workers

STATES = ["ParseQuery", "VectorSearch", "KeywordSearch", "Merge", "Synthesize"]
ROW = re.compile(r"^\| (\w+)\s+\| (\w+)\s+\| ([^|]*)\| ([^|]*)\| ([^|]*)\|$")
ANSWER = "BM25 ranks documents by term frequency and inverse document frequency [1]."


async def details_of(client: Client, workflow_id: str) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """The current details' table rows (state -> status, duration, attempts, figures) and the
    lines under it."""
    meta = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    rows, notes = {}, []
    for line in meta.current_details.splitlines():
        if (match := ROW.match(line)) and match[1] != "state":
            rows[match[1]] = tuple(cell.strip() for cell in match.groups()[1:])
        elif line.startswith("- "):
            notes.append(line[2:])
    return rows, notes


def signal_count(history) -> int:
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in history.events)


async def test_a_default_query_run_lists_its_five_states_with_durations(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        ingested = await rag.ingest([str(EXAMPLES_CORPUS)])
        ingest_meta = await client.get_workflow_handle(ingested.workflow_id).query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
        answer = await rag.ask(RagQuery(question="What is BM25?", top_k=3))
        rows, notes = await details_of(client, answer.workflow_id)
        desc = await client.get_workflow_handle(answer.workflow_id).describe()

    # The ingest's details: phase, documents of the total, chunks embedded, failed, batches.
    ingest_row = [c.strip() for c in ingest_meta.current_details.splitlines()[2].split("|")[1:-1]]
    docs, chunks = ingested.documents, ingested.chunks
    expected = ["done", f"{docs} of {docs}", f"{chunks} embedded of {chunks}", "0", "1 of 1"]
    assert ingest_row[:5] == expected, ingest_meta.current_details

    assert list(rows)[:5] == STATES, rows
    for state in STATES:
        status, duration, attempts, _ = rows[state]
        assert status == "ok", rows[state]
        assert re.fullmatch(r"\d+ ms|\d+\.\d s", duration), rows[state]
        assert attempts == "1", rows[state]
    assert re.fullmatch(r"\d+ terms, top_k 3, depth \d+", rows["ParseQuery"][3]), rows["ParseQuery"]
    assert re.fullmatch(r"\d+ hits", rows["VectorSearch"][3]) and re.fullmatch(r"\d+ hits", rows["KeywordSearch"][3])
    assert re.fullmatch(r"[1-3] sources packed of \d+ candidates", rows["Merge"][3]), rows["Merge"]
    assert rows["Synthesize"][3] == "offline-extractive"
    assert notes[0].startswith("**completed** in ")
    assert "mode offline-extractive; cost $0.0000 (offline extractive mode: no LLM call" in notes[1]
    # The answer says the same of its cost: nothing, and why.
    assert answer.cost.usd == 0 and answer.cost.priced and "offline extractive" in (answer.cost.reason or "")
    assert await desc.static_summary() == "Q: What is BM25?"
    assert await desc.static_details() == f"collection **{settings.collection}**, top_k 3"


async def test_an_llm_run_shows_its_retry_tokens_and_cost(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = corpus_settings.model_copy(
        update={
            "anthropic_api_key": SecretStr("sk-ant-test"),
            "anthropic_base_url": fake_anthropic.url,
            "anthropic_stream": True,
        }
    )
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        # The first attempt's stream breaks off: Synthesize is retried once.
        fake_anthropic.plan(stream_error(text_before="BM25 ranks"), ok(ANSWER, input_tokens=1000, output_tokens=200))
        answer = await rag.ask("What is BM25?")
        rows, notes = await details_of(client, answer.workflow_id)
        plain = await client.get_workflow_handle(answer.workflow_id).fetch_history()

        fake_anthropic.plan(ok(ANSWER, chunks=6))
        events = [e async for e in rag.ask_stream("What is BM25?")]
        streamed = await client.get_workflow_handle(events[-1].answer.workflow_id).fetch_history()

    assert answer.mode is AnswerMode.llm
    status, _, attempts, figures = rows["Synthesize"]
    assert (status, attempts) == ("ok", "2"), rows["Synthesize"]
    assert f"llm {answer.model}" in figures and "1000 in / 200 out tokens" in figures and "$" in figures
    # claude-sonnet-5-5 at $2 / $10 per million tokens: 1000 * 2e-6 + 200 * 1e-5, plus what the
    # (simulated) prompt cache wrote or read at its prices.
    u = answer.usage
    cached = (u.cache_creation_input_tokens * 2.5 + u.cache_read_input_tokens * 0.1) / 1e6
    assert answer.cost.priced and answer.cost.usd == pytest.approx(0.004 + cached)
    assert answer.cost.model == answer.model and answer.cost.prices_taken
    assert f"mode llm {answer.model}; cost ${answer.cost.usd:.4f}" in notes, notes
    # A plain ask keeps the answer's tokens out of its history; a streaming one has them.
    assert signal_count(plain) == 0
    assert signal_count(streamed) > 0 and events[-1].answer.answer == ANSWER


async def test_a_degraded_run_says_which_branch_failed_and_why(client: Client, corpus_settings: Settings):
    settings = corpus_settings.model_copy(update={"step_schedule_to_start_s": 2.0})
    rag = RagClient(client, settings)
    async with running_workers(client, settings, roles=["workflows", "llm"]):  # nobody polls embeddings
        answer = await rag.ask("What is BM25?")
        rows, notes = await details_of(client, answer.workflow_id)

    assert answer.degraded
    assert rows["VectorSearch"][0] == "failed"
    assert rows["VectorSearch"][3] == f"no worker on {settings.embeddings_task_queue}"
    assert rows["KeywordSearch"][0] == "ok" and rows["Synthesize"][0] == "ok"
    assert notes[0].startswith("**degraded** in ")
    assert f"degraded: VectorSearch failed: no worker on {settings.embeddings_task_queue}" in notes
