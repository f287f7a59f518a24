"""The fault suite (`make chaos`): break a private local stack in every way issue 11 lists and
print what survived.

    make chaos                                 # every scenario, the table on stdout
    cd tests && python -m chaos                # the same
    python -m chaos --only llm-429             # one scenario (or several: --only a --only b)
    python -m chaos --json                     # the results as JSON
    python -m chaos --list                     # the scenario names
    python -m chaos --snapshot HEAD            # on a committed revision, not the working tree

It starts its own Temporal dev server (a persistent SQLite database on fixed ports, so that it
can be SIGKILLed and started again), worker subprocesses (``python -m ragstate.workers.local``
with the store and the model, ``python -m ragstate.workers.llm``) and a local Messages-API
server that injects faults (:class:`ragstate.testing.FakeAnthropic`), under a scratch directory removed
afterwards (``--keep`` keeps it, with every log). Each scenario has a hard timeout: a hang
counts as not survived. Exit code 1 when any target is missed (see :mod:`chaos.report`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from . import answers, busy, ingest, inputs, llm, sessions, snapshot
from .report import Result, as_json, table
from .stack import ROOT, ChaosStack

Scenario = Callable[[ChaosStack], Awaitable[Result]]

#: name -> (scenario, hard timeout in seconds), in the order they run.
SCENARIOS: dict[str, tuple[Scenario, float]] = {
    "worker-kill-ingest": (ingest.worker_kill_mid_ingest, 300),
    "worker-kill-answer": (answers.worker_kill_mid_answer, 120),
    "server-kill-ingest": (ingest.server_kill_mid_ingest, 300),
    "server-kill-load": (answers.server_kill_under_load, 180),
    "session-worker-kill": (sessions.worker_kill_mid_turn, 240),
    "session-server-kill": (sessions.server_kill_mid_session, 180),
    **{f"llm-{name}": (llm.scenario(name), 90) for name in llm.FAULTS},
    "slow-llm-busy": (busy.slow_llm_busy, 150),
    "no-worker": (inputs.no_worker, 240),
    "bad-files": (inputs.bad_files, 180),
    "bad-http": (inputs.bad_http, 180),
}


async def ensure_corpus(stack: ChaosStack) -> None:
    """examples/corpus in the stack's default collection, for the scenarios that ask."""
    await stack.wait_ready("main", "llm")
    await asyncio.wait_for(stack.rag.ingest([str(ROOT / "examples" / "corpus")]), 120)


async def run(names: list[str], scratch: Path, log: Callable[[str], None]) -> list[Result]:
    results = []
    async with ChaosStack(scratch) as stack:
        stack.start_worker("main")
        stack.start_worker("llm")
        await ensure_corpus(stack)
        for name in names:
            scenario, timeout_s = SCENARIOS[name]
            log(f"-- {name} (at most {timeout_s:.0f} s)")
            t0 = time.monotonic()
            try:
                result = await asyncio.wait_for(scenario(stack), timeout_s)
            except TimeoutError:
                result = Result(name, tried=1, hangs=1, notes=[f"FAILED: hard timeout of {timeout_s:.0f} s"])
            except Exception as e:
                log(traceback.format_exc())
                result = Result(name, tried=1, notes=[f"FAILED: {type(e).__name__}: {str(e)[:300]}"])
            result.seconds = time.monotonic() - t0
            log(f"   {result.survived}/{result.tried} survived in {result.seconds:.0f} s; {'; '.join(result.notes)}")
            results.append(result)
            await recover_stack(stack, log)
    return results


async def recover_stack(stack: ChaosStack, log: Callable[[str], None]) -> None:
    """Whatever a scenario left down comes back up before the next one: server, then workers."""
    stack.fake.clear_plan()
    if not stack.server.running:
        log("   (restarting the server the scenario left down)")
        stack.restart_server()
    await stack.reconnect()
    for name in ("main", "llm"):
        proc = stack.workers.get(name)
        if proc is None or proc.poll() is not None:
            stack.workers.pop(name, None)
            stack.start_worker(name)
    for name in [n for n in stack.workers if n not in ("main", "llm")]:
        stack.stop_worker(name)


def quiet_core_logs() -> None:
    """The driver's Temporal client warns on stdout at every call it retries while the server is
    down, which the suite does on purpose; errors only, so that stdout stays the table (or JSON)."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=quiet)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", metavar="SCENARIO", help="run only this scenario (repeatable)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    p.add_argument("--list", action="store_true", help="print the scenario names and exit")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, databases)")
    p.add_argument(
        "--snapshot",
        metavar="REV",
        help="run on a committed revision (git archive REV) instead of the working tree, which others may be editing",
    )
    args = p.parse_args(argv)
    if args.snapshot and not os.environ.get(snapshot.CODE_DIR_VAR):
        rest = list(sys.argv[1:] if argv is None else argv)
        i = rest.index("--snapshot") if "--snapshot" in rest else -1
        rest = rest[:i] + rest[i + 2 :] if i >= 0 else [a for a in rest if not a.startswith("--snapshot=")]
        snapshot.reexec(ROOT, args.snapshot, rest)
    if args.list:
        print("\n".join(SCENARIOS))
        snapshot.cleanup()  # the unpacked revision, when --snapshot listed its scenarios
        return 0
    names = args.only or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    quiet_core_logs()
    scratch = Path(tempfile.mkdtemp(prefix="ragstate-chaos-"))

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    log(f"scratch directory {scratch}")
    t0 = time.monotonic()
    try:
        results = asyncio.run(run(names, scratch, log))
    finally:
        if args.keep:
            log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        snapshot.cleanup()
    print(as_json(results) if args.json else table(results))
    log(f"suite took {time.monotonic() - t0:.0f} s")
    return 1 if any(r.misses() for r in results) else 0
