"""`ragstate schedule add|list|pause|resume|trigger|delete`: re-ingest or sync folders on a
Temporal Schedule (ragstate/ingest/schedules.py), visible on the UI's Schedules page.

ragstate schedule add docs/ --every 1h --sync     # the same roots again: that schedule, updated
ragstate schedule list
ragstate schedule pause rag-schedule-default-docs-1a2b3c4d5e --note "disk migration"
ragstate schedule trigger rag-schedule-default-docs-1a2b3c4d5e   # run now (skipped if one runs)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from ragstate.cli._common import cli_settings, collection_option, connect_client, console, fail

if TYPE_CHECKING:
    from ragstate.client import RagClient
    from ragstate.ingest.schedules import ScheduleInfo

T = TypeVar("T")

schedule_app = typer.Typer(
    no_args_is_help=True, help="Re-ingest or sync folders on a Temporal Schedule (never two runs of one at once)."
)

ID_HELP = "the schedule's id (`ragstate schedule list` shows them)"


def _run(action: Callable[[RagClient], Awaitable[T]]) -> T:
    """Connect, run ``action``, and turn a missing schedule into a clear error."""
    from ragstate.ingest.schedules import ScheduleNotFoundError

    async def run() -> T:
        return await action(await connect_client(cli_settings()))

    try:
        return asyncio.run(run())
    except ScheduleNotFoundError as e:
        fail(str(e))


def _describe(info: ScheduleInfo) -> None:
    what = "sync" if info.sync else "ingest"
    state = f"[yellow]paused[/yellow] ({info.note})" if info.paused else "active"
    console.print(f"[bold]{info.id}[/bold]  {state}")
    console.print(f"  {what} every {info.every} into {info.collection!r}: {', '.join(info.paths)}")
    if info.next_runs and not info.paused:
        console.print(f"  next run {info.next_runs[0]:%Y-%m-%d %H:%M:%S} UTC")
    if info.running:
        console.print(f"  running: {', '.join(info.running)}")
    elif info.last_runs:
        console.print(f"  last run: {info.last_runs[-1]}")
    console.print(f"  {info.ui_link}")


@schedule_app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="files or folders to ingest on each run"),
    every: str = typer.Option(..., "--every", metavar="INTERVAL", help="how often: 30m, 1h, 1h30m, 1d (at least 1m)"),
    sync: bool = typer.Option(
        False, "--sync", help="each run also removes the collection's documents whose files are gone"
    ),
    collection: str | None = collection_option(),
) -> None:
    """Ingest (or sync) PATHs on a schedule; the same PATHs and collection again update it."""
    from ragstate.ingest.discovery import printable
    from ragstate.ingest.schedules import add_schedule, parse_every
    from ragstate.models import IngestRequest
    from ragstate.store import check_collection_name

    try:
        interval = parse_every(every)
        if collection is not None:
            check_collection_name(collection)
    except ValueError as e:
        fail(str(e))
    named = [os.path.abspath(os.path.expanduser(p)) for p in paths]  # as `ragstate ingest` names them
    unnamed = [printable(p) for p in named if printable(p) != p]
    if unnamed:
        fail(f"file names must be valid UTF-8 to be ingested; rename: {', '.join(unnamed)}")
    request = IngestRequest(paths=named, collection=collection, sync=sync)
    info, created = _run(lambda rag: add_schedule(rag, request, interval))
    console.print("scheduled" if created else "updated the schedule of these paths")
    _describe(info)


@schedule_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="print the schedules as a JSON list")) -> None:
    """The ragstate schedules of the namespace (Temporal lists them a moment after a change)."""
    from ragstate.ingest.schedules import list_schedules

    found = _run(list_schedules)
    if as_json:
        console.print_json(data=[s.model_dump(mode="json") for s in found])
        return
    if not found:
        console.print("no schedules (add one with `ragstate schedule add PATH... --every 1h`)")
    for info in found:
        _describe(info)


@schedule_app.command("pause")
def pause(
    schedule_id: str = typer.Argument(..., metavar="ID", help=ID_HELP),
    note: str | None = typer.Option(None, "--note", metavar="TEXT", help="why (shown in the UI and in the list)"),
) -> None:
    """Stop a schedule's runs until it is resumed (a run already going finishes)."""
    from ragstate.ingest.schedules import pause_schedule

    _describe(_run(lambda rag: pause_schedule(rag, schedule_id, note)))


@schedule_app.command("resume")
def resume(schedule_id: str = typer.Argument(..., metavar="ID", help=ID_HELP)) -> None:
    """Let a paused schedule run again."""
    from ragstate.ingest.schedules import resume_schedule

    _describe(_run(lambda rag: resume_schedule(rag, schedule_id)))


@schedule_app.command("trigger")
def trigger(schedule_id: str = typer.Argument(..., metavar="ID", help=ID_HELP)) -> None:
    """Run a schedule now (nothing starts while one of its runs is still going)."""
    from ragstate.ingest.schedules import trigger_schedule

    _run(lambda rag: trigger_schedule(rag, schedule_id))
    console.print(f"triggered {schedule_id} (`ragstate schedule list` shows the run)")


@schedule_app.command("delete")
def delete(schedule_id: str = typer.Argument(..., metavar="ID", help=ID_HELP)) -> None:
    """Delete a schedule; a run already going finishes, and the index stays as it is."""
    from ragstate.ingest.schedules import delete_schedule

    _run(lambda rag: delete_schedule(rag, schedule_id))
    console.print(f"deleted schedule {schedule_id}")
