"""Re-ingest (or sync) folders on a Temporal Schedule: each scheduled action starts the ingest
workflow with the same :class:`~ragstate.models.IngestRequest` as ``ragstate ingest``, so the
runs show in the UI (Schedules page, and each run as ``rag-ingest-...-<time>``).

Two syncs of the same roots never run at once: the schedule's id is derived from the roots and
the collection (adding the same roots again updates that one schedule), and its overlap policy
is SKIP (a run due while the previous one still runs is skipped, not queued).

Example::

    rag = await RagClient.connect()
    request = IngestRequest(paths=["/srv/docs"], sync=True)
    info, created = await add_schedule(rag, request, parse_every("1h"))
    await pause_schedule(rag, info.id, "disk migration")
    await trigger_schedule(rag, info.id)          # run now (skipped when one is running)
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import BaseModel, Field
from temporalio.client import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from ragstate.contracts import Workflow
from ragstate.models import IngestRequest

if TYPE_CHECKING:
    from ragstate.client import RagClient

#: Every ragstate schedule's id starts with this; the commands touch no other schedule.
PREFIX = "rag-schedule-"
#: A sync re-reads every file under its roots: more often than this is a loop, not a schedule.
MIN_EVERY = timedelta(minutes=1)
_RPC_TIMEOUT = timedelta(seconds=10)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"^(?:\d+[smhd])+$")


class ScheduleNotFoundError(LookupError):
    """No ragstate schedule with that id."""


class ScheduleInfo(BaseModel):
    """One ragstate schedule, as ``ragstate schedule list`` shows it."""

    id: str
    paths: list[str]
    collection: str
    sync: bool
    every: str = Field(description="the interval, e.g. 1h or 1h30m")
    paused: bool
    note: str | None = Field(None, description="why it was paused (or the schedule's last note)")
    next_runs: list[datetime] = Field(default_factory=list, description="the next times it is due (UTC)")
    last_runs: list[str] = Field(default_factory=list, description="workflow ids of its latest runs, newest last")
    running: list[str] = Field(default_factory=list, description="workflow ids of its runs still going")
    ui_link: str


def parse_every(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"`` as a timedelta; ValueError (saying what is
    accepted) for anything else or below :data:`MIN_EVERY`."""
    compact = text.strip().lower().replace(" ", "")
    if not _EVERY.match(compact):
        raise ValueError(f"--every {text!r}: give a number and a unit (s, m, h, d), e.g. 30m, 1h, 1h30m, 1d")
    every = timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", compact)))
    if every < MIN_EVERY:
        raise ValueError(f"--every {text!r}: at least {format_every(MIN_EVERY)} (each run re-reads every file)")
    return every


def format_every(every: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``"1h30m"``."""
    seconds, parts = int(every.total_seconds()), []
    for unit, size in sorted(_UNITS.items(), key=lambda u: -u[1]):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def schedule_id(rag: RagClient, request: IngestRequest) -> str:
    """Derived from the roots and the collection like the ingest's own id (without the file name
    when payloads are encrypted): the same roots are always the same schedule."""
    return PREFIX + rag.ingest_id(request).removeprefix("rag-ingest-")


def schedule_link(rag: RagClient, sid: str) -> str:
    base = rag.settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{quote(rag.client.namespace, safe='')}/schedules/{quote(sid, safe='')}"


def _handle(rag: RagClient, sid: str) -> ScheduleHandle:
    if not sid.startswith(PREFIX):
        raise ScheduleNotFoundError(f"{sid!r} is not a ragstate schedule (their ids start with {PREFIX!r})")
    return rag.client.get_schedule_handle(sid)


async def _schedule(rag: RagClient, request: IngestRequest, every: timedelta, state: ScheduleState) -> Schedule:
    # RagKind/RagStatus as a started ingest has them, when the namespace has them registered.
    attributes = await rag._attributes("ingest")
    action = ScheduleActionStartWorkflow(
        Workflow.INGEST,
        request,
        id=rag.ingest_id(request),  # Temporal appends each run's time to it
        task_queue=rag.settings.workflow_task_queue,
        static_summary=f"scheduled {'sync' if request.sync else 'ingest'} of {', '.join(request.paths)}"[:200],
        typed_search_attributes=attributes or TypedSearchAttributes.empty,
    )
    return Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # SKIP: never two runs of this schedule at once. A run missed while Temporal was down is
        # made up within one interval; older ones are dropped (the next sync covers them).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(every, timedelta(seconds=10))),
        state=state,
    )


def _not_found(e: RPCError, sid: str) -> Exception:
    if e.status is RPCStatusCode.NOT_FOUND:
        return ScheduleNotFoundError(f"no schedule {sid!r} (`ragstate schedule list` shows them)")
    return e


async def add_schedule(rag: RagClient, request: IngestRequest, every: timedelta) -> tuple[ScheduleInfo, bool]:
    """Schedule ``request`` every ``every``; ``(info, created)``. The same roots and collection
    again update that schedule (interval, sync) and keep its paused state."""
    request = request.model_copy(update={"collection": request.collection or rag.settings.collection})
    rag.check_size(request, "the scheduled ingest request")
    sid = schedule_id(rag, request)
    try:
        await rag.client.create_schedule(
            sid,
            await _schedule(rag, request, every, ScheduleState(note="added by ragstate schedule add")),
            rpc_timeout=_RPC_TIMEOUT,
        )
        created = True
    except ScheduleAlreadyRunningError:
        new = await _schedule(rag, request, every, ScheduleState())

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            new.state = current.description.schedule.state  # paused stays paused
            return ScheduleUpdate(schedule=new)

        await rag.client.get_schedule_handle(sid).update(update, rpc_timeout=_RPC_TIMEOUT)
        created = False
    return await describe_schedule(rag, sid), created


async def _info(rag: RagClient, desc: ScheduleDescription) -> ScheduleInfo:
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    [request] = await rag.client.data_converter.decode(list(action.args), [IngestRequest])
    intervals = desc.schedule.spec.intervals
    return ScheduleInfo(
        id=desc.id,
        paths=request.paths,
        collection=request.collection or rag.settings.collection,
        sync=request.sync,
        every=format_every(intervals[0].every) if intervals else "?",
        paused=desc.schedule.state.paused,
        note=desc.schedule.state.note or None,
        next_runs=list(desc.info.next_action_times[:3]),
        last_runs=[
            r.action.workflow_id
            for r in desc.info.recent_actions[-3:]
            if isinstance(r.action, ScheduleActionExecutionStartWorkflow)
        ],
        running=[
            r.workflow_id for r in desc.info.running_actions if isinstance(r, ScheduleActionExecutionStartWorkflow)
        ],
        ui_link=schedule_link(rag, desc.id),
    )


async def describe_schedule(rag: RagClient, sid: str) -> ScheduleInfo:
    """One schedule, read from the server (not the eventually consistent list)."""
    try:
        return await _info(rag, await _handle(rag, sid).describe(rpc_timeout=_RPC_TIMEOUT))
    except RPCError as e:
        raise _not_found(e, sid) from None


async def list_schedules(rag: RagClient) -> list[ScheduleInfo]:
    """Every ragstate schedule of the namespace, by id. Temporal lists schedules from its
    visibility store, which trails a change by a moment (each entry is then described afresh)."""
    ids = sorted(
        [s.id async for s in await rag.client.list_schedules(rpc_timeout=_RPC_TIMEOUT) if s.id.startswith(PREFIX)]
    )
    found = []
    for sid in ids:
        try:
            found.append(await describe_schedule(rag, sid))
        except ScheduleNotFoundError:
            continue  # deleted since it was listed
    return found


async def _act(rag: RagClient, sid: str, what: str, note: str | None = None) -> ScheduleInfo:
    handle = _handle(rag, sid)
    try:
        if what == "pause":
            await handle.pause(note=note or "paused by ragstate schedule pause", rpc_timeout=_RPC_TIMEOUT)
        elif what == "resume":
            await handle.unpause(note=note or "resumed by ragstate schedule resume", rpc_timeout=_RPC_TIMEOUT)
        else:
            # The schedule's own policy (SKIP): no second run while one is going.
            await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP, rpc_timeout=_RPC_TIMEOUT)
    except RPCError as e:
        raise _not_found(e, sid) from None
    return await describe_schedule(rag, sid)


async def pause_schedule(rag: RagClient, sid: str, note: str | None = None) -> ScheduleInfo:
    """No runs until resumed (the note says why, in the UI and in ``schedule list``)."""
    return await _act(rag, sid, "pause", note)


async def resume_schedule(rag: RagClient, sid: str) -> ScheduleInfo:
    return await _act(rag, sid, "resume")


async def trigger_schedule(rag: RagClient, sid: str) -> ScheduleInfo:
    """Run it now, unless a run of it is still going (then nothing starts)."""
    return await _act(rag, sid, "trigger")


async def delete_schedule(rag: RagClient, sid: str) -> None:
    """Delete the schedule; runs already started go on, and the index is left as it is."""
    try:
        await _handle(rag, sid).delete(rpc_timeout=_RPC_TIMEOUT)
    except RPCError as e:
        raise _not_found(e, sid) from None
