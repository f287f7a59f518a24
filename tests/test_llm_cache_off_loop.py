"""Synthesize reads and writes its answer cache (file write, fsync, rename, directory scan) off
the worker's event loop: a slow or network volume (the cache's shared-volume deployment) would
otherwise stall every workflow task and activity of the worker meanwhile."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.common import RetryPolicy
from temporalio.testing import ActivityEnvironment

from ragstate.activities.anthropic_llm import AnthropicActivities
from ragstate.models import Source, SynthesisInput
from ragstate.settings import Settings
from ragstate.testing import FakeAnthropic, ok


def on_event_loop() -> bool:
    """Whether the calling thread is running an asyncio event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class FileCalls:
    """The cache's file calls under ``directory``: their names and whether each ran on a loop."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path):
        self.seen: list[tuple[str, bool]] = []
        inside = str(directory)

        def recorded(name, real, path_of):
            def call(*args, **kwargs):
                if str(path_of(args)).startswith(inside):
                    self.seen.append((name, on_event_loop()))
                return real(*args, **kwargs)

            return call

        real_fsync = os.fsync

        def fsync(fd):
            if os.path.realpath(f"/proc/self/fd/{fd}").startswith(inside):
                self.seen.append(("fsync", on_event_loop()))
            return real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", recorded("replace", os.replace, lambda a: a[1]))
        monkeypatch.setattr(os, "scandir", recorded("scandir", os.scandir, lambda a: a[0] if a else ""))
        monkeypatch.setattr(Path, "read_bytes", recorded("read_bytes", Path.read_bytes, lambda a: a[0]))

    def names(self) -> set[str]:
        return {name for name, _ in self.seen}

    def on_loop(self) -> list[str]:
        return [name for name, loop in self.seen if loop]


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n, retry_policy=RetryPolicy(maximum_attempts=6))
    return env


async def test_the_answer_cache_is_written_and_read_off_the_event_loop(
    fake_anthropic: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        anthropic_api_key=SecretStr("sk-ant-test"),
        anthropic_base_url=fake_anthropic.url,
        anthropic_stream=False,
        anthropic_timeout_s=10.0,
    )
    fake_anthropic.plan(ok("RRF sums reciprocal ranks [1]."))
    activities = AnthropicActivities(settings)
    inp = SynthesisInput(
        question="How does RRF combine rankings?",
        sources=[
            Source(
                number=1,
                chunk_id="c1",
                doc_id="d1",
                title="RRF",
                source="rrf.md",
                text="Reciprocal rank fusion sums 1/(k+rank) over the rankings.",
                score=0.9,
            )
        ],
    )
    calls = FileCalls(monkeypatch, settings.llm_cache_path)

    first = await attempt(1).run(activities.synthesize, inp)  # writes the cache (and prunes it)
    again = await attempt(2).run(activities.synthesize, inp)  # a retry: reads it

    assert again.answer == first.answer and len(fake_anthropic.requests) == 1
    assert {"fsync", "replace", "scandir", "read_bytes"} <= calls.names(), calls.seen
    assert not calls.on_loop(), f"cache file calls on the event loop: {calls.on_loop()}"
