"""examples/chat.py as a user runs it (its own process, RAGSTATE_* settings), against the real dev
server: the three turns, the transcript, and the session deleted at the end."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from paths import ROOT
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.settings import Settings
from ragstate.testing import process_env
from ragstate.workers.runtime import running_workers


@pytest.mark.timeout(300)
async def test_the_chat_example_holds_a_conversation_and_deletes_it(
    client: Client, corpus_settings: Settings, tmp_path: Path
):
    output = tmp_path / "chat.out"
    async with running_workers(client, corpus_settings):
        # Its output to a file: read back whole even when it hangs (then killed at the bound).
        with output.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-u",
                str(ROOT / "examples" / "chat.py"),
                "example-chat",
                env=process_env(corpus_settings),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                await asyncio.wait_for(proc.wait(), 180)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        transcript = await RagClient(client, corpus_settings).session("example-chat").transcript()
    text = output.read_text(errors="replace")
    assert proc.returncode == 0, text
    assert "session example-chat" in text and "deleted session example-chat" in text, text
    turns = [line.split(":")[0] for line in text.splitlines() if line.startswith("turn ")]
    assert turns == ["turn 1", "turn 2", "turn 3"], text
    assert transcript.turns == []  # erased
