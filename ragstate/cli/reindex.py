"""`ragstate reindex`: rebuild a collection into a new version beside the live one (queries keep
the live one), switch atomically, optionally only if an nDCG@10 gate holds or a person approves,
and drop the old version after a grace period.

ragstate reindex --collection docs --set chunk_tokens=128 --gate judged/ --approve
ragstate reindex approve rag-reindex-docs-1a2b3c4d --note "alice: the gate's table looks right"
ragstate reindex reject rag-reindex-docs-1a2b3c4d --note "bob: wait for the new sources"
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ragstate.cli._common import cli_settings, collection_option, connect_client, console, fail
from ragstate.contracts import Query, Update, Workflow
from ragstate.models import IndexParams, ReindexDecision, ReindexRequest, ReindexResult

if TYPE_CHECKING:  # temporalio loads when a command runs, not for --help
    from temporalio.client import WorkflowHandle

#: Exit code when the gate kept the live version.
EXIT_REFUSED = 3
#: The phases at which the starting command stops: the run goes on (grace, or the wait for a decision).
STOP_PHASES = ("switched", "refused", "rejected", "awaiting-approval")

#: Its help is the callback's docstring: the start command's, with its exit codes.
reindex_app = typer.Typer()


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


@reindex_app.callback(invoke_without_command=True)
def reindex(
    ctx: typer.Context,
    collection: str | None = collection_option("the collection to rebuild (queries keep using it meanwhile)"),
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
    approve: bool = typer.Option(
        False, "--approve", help="after the build and the gate, wait for `ragstate reindex approve|reject ID`"
    ),
    approval_timeout: float = typer.Option(
        86400.0, min=1.0, help="seconds to wait for a decision; none in time keeps the live version"
    ),
) -> None:
    """Rebuild a collection blue/green: build a new version, switch to it atomically, drop the old
    one after --grace seconds. With --approve the switch waits for a person's decision.

    Exit codes: 0 switched, or waiting for a decision (--approve); 1 the re-index could not run;
    3 the gate kept the live version."""
    import uuid

    from pydantic import ValidationError

    if ctx.invoked_subcommand:
        return
    if collection is None:
        fail("Missing option '--collection' (or a command: approve, reject)")

    try:
        request = ReindexRequest(
            collection=collection,
            params=IndexParams(**parse_sets(set_)),
            gate=str(gate.resolve()) if gate else None,
            tolerance=tolerance,
            grace_s=grace,
            approve=approve,
            approval_timeout_s=approval_timeout,
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
        if state.phase == "awaiting-approval":
            console.print(
                f"waiting for a decision (the live version stays if none comes in {approval_timeout:g} s):\n"
                f"  ragstate reindex approve {handle.id}\n  ragstate reindex reject {handle.id}"
            )
            return 0
        if state.switched and state.phase != "done":
            console.print(f"the old version {state.live} is dropped in {grace:g} s by the workflow {handle.id}")
        return 0 if state.switched else EXIT_REFUSED

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)


async def _until_decided(handle: WorkflowHandle) -> ReindexResult:
    """The run's state once it has switched, refused or stopped for approval (it ends only after
    the grace period or the decision, so the CLI stops there), or its result if it ends first; a failed run exits 1."""
    from temporalio.client import WorkflowFailureError

    done = asyncio.create_task(handle.result())
    state = ReindexResult()
    while not done.done():
        await asyncio.wait([done], timeout=2.0)
        try:
            state = await handle.query(Query.REINDEX_STATE, result_type=ReindexResult)
        except Exception:
            continue
        if state.phase in STOP_PHASES:
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


def _decide(workflow_id: str, update: str, note: str) -> ReindexResult:
    """Send the decision and wait for what it did (the switch, or the new version dropped)."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    async def run() -> ReindexResult:
        rag = await connect_client(cli_settings())
        handle = rag.client.get_workflow_handle(workflow_id)
        return await handle.execute_update(update, ReindexDecision(note=note), result_type=ReindexResult)

    try:
        return asyncio.run(run())
    except WorkflowUpdateFailedError as e:
        fail(f"{workflow_id}: {e.cause or e}")
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            fail(f"no running re-index {workflow_id!r} (`ragstate reindex` printed its id)")
        raise


NOTE_HELP = "who decides and why: shown with the run's state"


@reindex_app.command("approve")
def approve_(
    workflow_id: str = typer.Argument(..., metavar="ID", help="the re-index's workflow id"),
    note: str = typer.Option("", help=NOTE_HELP),
) -> None:
    """Switch a re-index that waits for a decision to its new version."""
    state = _decide(workflow_id, Update.APPROVE_REINDEX, note)
    console.print(f"approved: {state.reason}")


@reindex_app.command("reject")
def reject_(
    workflow_id: str = typer.Argument(..., metavar="ID", help="the re-index's workflow id"),
    note: str = typer.Option("", help=NOTE_HELP),
) -> None:
    """Keep the live version of a re-index that waits for a decision, and drop the new one."""
    state = _decide(workflow_id, Update.REJECT_REINDEX, note)
    console.print(f"rejected: {state.reason}")
