"""The ``ragstate`` command line as a person runs it: the installed console script in a
subprocess, configured by ``RAGSTATE_*`` variables only."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ragstate.settings import Settings
from ragstate.testing.environment import process_env

#: The console script installed beside this interpreter (the venv's ``bin/ragstate``).
RAGSTATE = str(Path(sys.executable).with_name("ragstate"))


async def run_cli(
    settings: Settings, *args: str | bytes, cwd: Path | None = None, limit_s: float = 120, **env: str
) -> tuple[int, str]:
    """``ragstate ARGS`` with exactly ``settings`` (and ``env``), stdin closed: its exit code and
    its output, stdout and stderr interleaved. Fails after ``limit_s``."""
    process = await asyncio.create_subprocess_exec(
        RAGSTATE,
        *args,
        cwd=cwd,
        env=process_env(settings, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), limit_s)
    finally:
        if process.returncode is None:  # timed out or cancelled: no orphan left behind
            process.kill()
            await process.wait()
    return process.returncode or 0, out.decode("utf-8", "replace")
