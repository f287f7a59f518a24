"""`ragstate schedule` end to end on the real dev server: a Temporal Schedule per set of roots,
seen by `temporal schedule list`, paused and resumed, a triggered run that ingests, its request that syncs, and
the SKIP overlap policy (never two runs of one schedule at once). The commands run in the test's
process (``run_cli_in_process``): none of these tests is about the CLI's process, and a start of
it cost about 3 s each."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import timedelta

import pytest
from paths import EXAMPLES_CORPUS
from temporalio.client import Client, ScheduleOverlapPolicy

from ragstate.client import RagClient
from ragstate.ingest.schedules import (
    PREFIX,
    ScheduleInfo,
    ScheduleNotFoundError,
    describe_schedule,
    format_every,
    parse_every,
    schedule_id,
)
from ragstate.models import IngestRequest, IngestResult
from ragstate.settings import Settings
from ragstate.temporal.devserver import temporal_cli
from ragstate.testing import run_cli_in_process
from ragstate.testing.probes import wait_for
from ragstate.workers.runtime import running_workers


def test_every_parses_units_and_refuses_the_rest():
    assert parse_every("1h") == timedelta(hours=1)
    assert parse_every("1h30m") == timedelta(minutes=90)
    assert parse_every(" 2D ") == timedelta(days=2)
    assert parse_every("90s") == timedelta(seconds=90)
    assert format_every(timedelta(minutes=90)) == "1h30m" and format_every(timedelta(days=1)) == "1d"
    for bad in ("", "1", "h", "1x", "-1h", "1.5h", "30s"):  # 30s: under the 1m floor
        with pytest.raises(ValueError, match="--every"):
            parse_every(bad)


async def test_bad_arguments_are_clear_errors_before_temporal(settings: Settings):
    code, out = await run_cli_in_process(settings, "schedule", "add", "docs", "--every", "soon")
    assert code == 1 and "e.g. 30m, 1h" in out and "Traceback" not in out
    code, out = await run_cli_in_process(settings, "schedule", "add", "docs", "--every", "1h", "--collection", "../x")
    assert code == 2 and "invalid collection name" in " ".join(out.split()) and "Traceback" not in out
    code, out = await run_cli_in_process(settings, "schedule", "pause", "someone-elses-schedule")
    assert code == 1 and "not a ragstate schedule" in out


def temporal_schedule_list(address: str) -> str:
    return subprocess.run(
        [temporal_cli(), "schedule", "list", "--address", address],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


@pytest.mark.timeout(300)
async def test_schedule_add_list_pause_resume_trigger_delete(client: Client, settings: Settings, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("bm25.md", "chunking.md", "dense-retrieval.txt"):
        shutil.copy(EXAMPLES_CORPUS / name, corpus)
    rag = RagClient(client, settings)
    sid = schedule_id(rag, IngestRequest(paths=[str(corpus)], collection=settings.collection))
    assert sid.startswith(PREFIX + settings.collection + "-corpus-")

    # Added from the command line, then added again: one schedule for these roots, updated.
    code, out = await run_cli_in_process(settings, "schedule", "add", str(corpus), "--every", "1h")
    assert code == 0, out
    assert sid in out and "every 1h" in out and "scheduled" in out
    code, out = await run_cli_in_process(settings, "schedule", "add", str(corpus), "--every", "2h", "--sync")
    assert code == 0, out
    assert sid in out and "updated" in out and "sync every 2h" in out
    desc = await client.get_schedule_handle(sid).describe()
    assert desc.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    info = await describe_schedule(rag, sid)
    assert (info.paths, info.collection, info.sync, info.every, info.paused) == (
        [str(corpus)],
        settings.collection,
        True,
        "2h",
        False,
    )

    # Visible to Temporal's own CLI (and so on the UI's Schedules page), and in `schedule list`.
    address = settings.temporal_address
    await wait_for(
        lambda: asyncio.to_thread(lambda: sid in temporal_schedule_list(address)), 30, "the schedule", every=0.3
    )

    async def listed() -> list[ScheduleInfo] | None:
        code, out = await run_cli_in_process(settings, "schedule", "list", "--json")
        assert code == 0, out
        mine = [ScheduleInfo.model_validate(s) for s in json.loads(out) if s["id"] == sid]
        return mine or None

    [entry] = await wait_for(listed, 30, "the schedule listed", every=0.3)
    assert entry.sync and entry.every == "2h" and entry.next_runs

    code, out = await run_cli_in_process(settings, "schedule", "pause", sid, "--note", "disk migration")
    assert code == 0, out
    assert "paused" in out and "disk migration" in out
    info = await describe_schedule(rag, sid)
    assert info.paused and info.note == "disk migration"
    code, out = await run_cli_in_process(settings, "schedule", "resume", sid)
    assert code == 0 and "active" in out, out
    assert not (await describe_schedule(rag, sid)).paused

    # SKIP: with no worker the first triggered run cannot finish; a second trigger starts nothing.
    handle = client.get_schedule_handle(sid)
    code, out = await run_cli_in_process(settings, "schedule", "trigger", sid)
    assert code == 0, out
    first = (await wait_for(lambda: _running(rag, sid), 30, "a scheduled run", every=0.3))[0]
    await handle.trigger()
    await wait_for(lambda: _skipped(client, sid), 30, "a skipped action", every=0.3)
    assert (await describe_schedule(rag, sid)).running == [first]
    assert first.startswith(rag.ingest_id(IngestRequest(paths=[str(corpus)], collection=settings.collection)))

    async with running_workers(client, settings):
        result = await client.get_workflow_handle(first, result_type=IngestResult).result()
        assert (result.documents, result.failed) == (3, 0)
        assert (await rag.stats()).documents == 3

        # A sync: the file removed since the last run leaves the index on the next one. The run
        # is the schedule's own request (what each of its runs starts), started here: a second
        # trigger of Temporal's scheduler sometimes started nothing within 60 s on a loaded
        # 2-core machine (CI), and the trigger itself is tested above.
        (corpus / "chunking.md").unlink()
        info = await describe_schedule(rag, sid)
        request = IngestRequest(paths=info.paths, collection=info.collection, sync=info.sync)
        result = await rag.ingest(request)
        assert (result.removed, result.unchanged) == (1, 2)
        assert (await rag.stats()).documents == 2

    code, out = await run_cli_in_process(settings, "schedule", "delete", sid)
    assert code == 0 and "deleted" in out, out
    with pytest.raises(ScheduleNotFoundError):
        await describe_schedule(rag, sid)
    code, out = await run_cli_in_process(settings, "schedule", "resume", sid)
    assert code == 1 and "no schedule" in out and "Traceback" not in out


async def _running(rag: RagClient, sid: str) -> list[str] | None:
    return (await describe_schedule(rag, sid)).running or None


async def _skipped(client: Client, sid: str) -> bool:
    return (await client.get_schedule_handle(sid).describe()).info.num_actions_skipped_overlap >= 1
