"""The ``ragstate`` command line as a person runs it: the installed console script in a
subprocess, configured by ``RAGSTATE_*`` variables only."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from pathlib import Path

from ragstate.settings import Settings
from ragstate.testing.environment import FOREIGN_PREFIXES, FOREIGN_VARIABLES, OFFLINE, process_env, settings_env

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


async def run_cli_in_process(
    settings: Settings, *args: str, cwd: Path | None = None, stdin: str | None = None, **env: str
) -> tuple[int, str]:
    """``ragstate ARGS`` in this process, for a test about what a command does rather than about
    its process (its start, signals, a closed pipe): typer's runner on a thread (the commands run
    their own event loop), with exactly ``settings`` (and ``env``) as the environment's
    ``RAGSTATE_*`` variables. Its exit code and output (stdout and stderr interleaved), as
    :func:`run_cli`; an exception the command leaves unhandled is raised here (a person would see
    its traceback). Its log lines are those of its own threads (not of the test's workers running
    beside it), and the logging it configures is put back after it; with ``cwd``, the
    process's working directory is that one for the command's duration (relative paths); with
    ``stdin``, the command reads that text as its input (a pipe, not a terminal)."""
    return await asyncio.to_thread(_invoke, settings, args, cwd, env, stdin)


def _invoke(
    settings: Settings, args: tuple[str, ...], cwd: Path | None, env: dict[str, str], stdin: str | None = None
) -> tuple[int, str]:
    from typer.testing import CliRunner

    from ragstate.cli import app
    from ragstate.observability import logs

    caller = threading.get_ident()

    def its_own(record: logging.LogRecord) -> bool:  # the command's thread, or its event loop's to_thread
        return record.thread == caller or (record.threadName or "").startswith("asyncio_")

    def configure_logging(*args, **kwargs) -> None:
        real_configure(*args, **kwargs)
        for handler in logging.getLogger().handlers:
            if handler.get_name() == "ragstate":
                handler.addFilter(its_own)

    foreign = {k: None for k in os.environ if k.startswith(FOREIGN_PREFIXES) or k in FOREIGN_VARIABLES}
    variables: dict[str, str | None] = {**foreign, **OFFLINE, **settings_env(settings), **env}
    root = logging.getLogger()
    handlers, level, here = root.handlers[:], root.level, Path.cwd()
    real_configure, logs.configure_logging = logs.configure_logging, configure_logging
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(app, list(args), env=variables, input=stdin)
    finally:  # the command routes the root logger to its own (captured, then closed) stderr
        logs.configure_logging = real_configure
        os.chdir(here)
        root.handlers[:] = handlers
        root.setLevel(level)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output
