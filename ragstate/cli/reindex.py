"""`ragstate reindex`: rebuild a collection into a new version beside the live one (queries keep
the live one), switch atomically, optionally only if an nDCG@10 gate holds, and drop the old
version after a grace period."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ragstate.cli._common import cli_settings, connect_client, console, fail
from ragstate.contracts import Query, Workflow
from ragstate.models import IndexParams, ReindexRequest, ReindexResult

if TYPE_CHECKING:  # temporalio loads when a command runs, not for --help
    from temporalio.client import WorkflowHandle

#: Exit code when the gate kept the live version.
EXIT_REFUSED = 3


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


_SETTABLE: dict[str, Callable[[str], object]] = {"chunk_tokens": int, "chunk_overlap": int, "titles": _flag}


def parse_sets(items: list[str]) -> dict:
    """``["chunk_tokens=120", "titles=false"]`` -> ``{"chunk_tokens": 120, "titles": False}``."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in _SETTABLE:
            fail(f"--set {item!r}: use KEY=VALUE with KEY one of {', '.join(_SETTABLE)}")
        try:
            out[key.strip()] = _SETTABLE[key.strip()](value.strip())
        except ValueError:
            fail(f"--set {item!r}: {value!r} is not a number")
    return out


def reindex(
    collection: str = typer.Option(..., help="the collection to rebuild (queries keep using it meanwhile)"),
    set_: list[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        help="indexing parameter of the new version: chunk_tokens, chunk_overlap, titles",
    ),
    gate: Path | None = typer.Option(
        None, help="BEIR-layout folder: switch only if nDCG@10 holds (read by the worker)"
    ),
    tolerance: float = typer.Option(0.005, min=0.0, max=1.0, help="how far below the live nDCG@10 the new one may be"),
    grace: float = typer.Option(300.0, min=0.0, help="seconds before the old version is dropped after the switch"),
) -> None:
    """Rebuild a collection blue/green: build a new version, switch to it atomically, drop the old
    one after --grace seconds.

    Exit codes: 0 switched; 1 the re-index could not run; 3 the gate kept the live version."""
    import uuid

    from pydantic import ValidationError

    try:
        request = ReindexRequest(
            collection=collection,
            params=IndexParams(**parse_sets(set_)),
            gate=str(gate.resolve()) if gate else None,
            tolerance=tolerance,
            grace_s=grace,
        )
    except ValidationError as e:
        fail(f"invalid re-index request: {e.errors()[0]['msg']}")

    async def run() -> int:
        rag = await connect_client(cli_settings())
        handle = await rag.client.start_workflow(
            Workflow.REINDEX,
            request,
            id=f"rag-reindex-{collection}-{uuid.uuid4().hex[:8]}",
            task_queue=rag.settings.workflow_task_queue,
            result_type=ReindexResult,
            static_summary=f"re-index {collection}",
        )
        console.print(f"re-indexing {collection!r}: {rag.ui_link(handle.id)}")
        state = await _until_decided(handle)
        _report(state, tolerance)
        if state.switched and state.phase != "done":
            console.print(f"the old version {state.live} is dropped in {grace:g} s by the workflow {handle.id}")
        return 0 if state.switched else EXIT_REFUSED

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)


async def _until_decided(handle: WorkflowHandle) -> ReindexResult:
    """The run's state once it has switched or refused (it ends only after the grace period, so
    the CLI stops at the decision), or its result if it ends first; a failed run exits 1."""
    from temporalio.client import WorkflowFailureError

    done = asyncio.create_task(handle.result())
    state = ReindexResult()
    while not done.done():
        await asyncio.wait([done], timeout=2.0)
        try:
            state = await handle.query(Query.REINDEX_STATE, result_type=ReindexResult)
        except Exception:
            continue
        if state.phase in ("switched", "refused"):
            break
    if not done.done():
        done.cancel()
        return state
    try:
        return done.result()
    except WorkflowFailureError as e:
        fail(f"re-index failed: {e.cause or e}")


def _report(state: ReindexResult, tolerance: float) -> None:
    console.print(
        f"built {state.new} beside {state.live}: {state.documents} documents, {state.chunks} chunks, "
        f"{state.failed} failed ({state.params.model_dump() if state.params else {}})"
    )
    if state.live_ndcg is not None:
        console.print(f"nDCG@10: live {state.live_ndcg:.4f}, new {state.new_ndcg:.4f} (tolerance {tolerance})")
    console.print(state.reason)
