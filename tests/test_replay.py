"""Replay: every committed history (tests/histories/, real runs recorded by earlier versions of
the workflow code with tests/record_histories.py) against the current code, so a change that
would break a run in flight fails here whatever else runs; and a fresh run of every workflow
type on the dev server, replayed, so the recording still works and the current code is
deterministic too."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from record_histories import HISTORIES, fetch, load, run_every_workflow_type
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from ragstate.settings import Settings
from ragstate.workers.registry import workflow_runner
from ragstate.workflows import ALL_WORKFLOWS

#: A history past this is a sign that whole rankings or texts went into it (the largest now: ~70 KB).
MAX_HISTORY_BYTES = 300_000


def workflow_types() -> set[str]:
    """The type names of the worker's workflows (what each history's start event names)."""
    return {workflow._Definition.must_from_class(cls).name for cls in ALL_WORKFLOWS}


def type_of(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


async def replay_failures(histories: dict[str, WorkflowHistory]) -> dict[str, str]:
    # The workers' own runner (the sandbox with ragstate's shared modules passed through).
    replayer = Replayer(
        workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    failures = {}
    for name, history in histories.items():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[name] = str(result.replay_failure)
    return failures


def committed() -> dict[str, WorkflowHistory]:
    return {p.name: load(p) for p in sorted(HISTORIES.glob("*.json"))}


async def test_every_committed_history_replays_and_every_workflow_type_has_one():
    histories = committed()
    missing = workflow_types() - {type_of(h) for h in histories.values()}
    assert not missing, f"no committed history of {sorted(missing)}: record one with tests/record_histories.py"
    assert not await replay_failures(histories)


def payload_texts(node) -> list[str]:
    """Every payload's data, decoded (history JSON holds it in base64)."""
    if isinstance(node, list):
        return [t for item in node for t in payload_texts(item)]
    if not isinstance(node, dict):
        return []
    own = [base64.b64decode(node["data"]).decode(errors="replace")] if isinstance(node.get("data"), str) else []
    return own + [t for value in node.values() for t in payload_texts(value)]


def test_committed_histories_are_small_and_hold_no_key():
    for path in sorted(HISTORIES.glob("*.json")):
        text = path.read_text()
        assert len(text) < MAX_HISTORY_BYTES, (path.name, len(text))
        payloads = payload_texts(json.loads(text))
        assert payloads, path.name
        leaks = [t for t in [text, *payloads] if "sk-ant" in t or "api_key" in t.lower()]
        assert not leaks, (path.name, leaks[0][:200])


async def test_a_fresh_run_of_every_workflow_type_replays(client: Client, settings: Settings, tmp_path: Path):
    ids = await run_every_workflow_type(client, settings, tmp_path, f"rag-replay-{settings.collection}")
    histories = await fetch(client, ids)
    assert {type_of(h) for h in histories.values()} == workflow_types()
    assert not await replay_failures(histories)
    sizes = {kind: len(h.to_json()) for kind, h in histories.items()}
    print("history sizes (JSON bytes):", sizes)
    assert max(sizes.values()) < MAX_HISTORY_BYTES, sizes
