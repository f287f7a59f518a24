"""The stack the fault suite breaks: a Temporal dev server with a persistent SQLite database on
fixed ports (so it can be SIGKILLed and started again where it was), worker subprocesses, the
local Messages-API server (:class:`ragstate.testing.FakeAnthropic`) and a RagClient, all under one
scratch directory.

Workers run as the real entry points (``python -m ragstate.workers.local --roles
workflows,embeddings`` holds the embedded store and the model, ``python -m ragstate.workers.llm``
calls the fake API), configured by RAGSTATE_* variables only, as in production.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.service import RPCError

from ragstate.client import RagClient
from ragstate.testing import RestartableServer, isolated_settings, process_env
from ragstate.testing.probes import pollers

from .fake import CountingFake

#: The checkout the suite runs from (or the unpacked revision of ``--snapshot``).
ROOT = Path(__file__).resolve().parents[2]

KEY = "sk-ant-chaos-0123456789"
MODEL = "claude-chaos-model"
#: The SDK's own timeout for one LLM request: a hung API costs one attempt of this long.
LLM_TIMEOUT_S = 4.0
#: What every worker gets (the two roles of the main worker share the embedded store).
MAIN_ROLES = "workflows,embeddings"


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class ChaosStack:
    """Everything the scenarios start, kill and restart. Usage::

    async with ChaosStack(scratch) as stack:
        stack.start_worker("main"); stack.start_worker("llm")
        await stack.wait_ready("main", "llm")
        answer = await stack.rag.ask("...")
    """

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.data_dir = scratch / "data"
        self.logs = scratch / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.fake = CountingFake()
        self.server = RestartableServer(scratch / "temporal", start=False)
        self.settings = isolated_settings(
            self.data_dir,
            self.server.address,
            prefix="chaos",
            temporal_ui_url=self.server.ui_url,
            anthropic_api_key=SecretStr(KEY),
            anthropic_model=MODEL,
            anthropic_timeout_s=LLM_TIMEOUT_S,
            anthropic_stream=True,
        )
        self.workers: dict[str, subprocess.Popen] = {}
        self.roles: dict[str, str] = {}
        self.rag: RagClient | None = None

    # --- environment ---------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """The driver's environment without RAGSTATE_*/TEMPORAL_* or real keys, plus this stack's
        settings: a worker or CLI started with it talks to this server, store and fake API only."""
        workers = {
            "anthropic_base_url": self.fake.url,
            "log_level": "INFO",
            # Small ingest batches: a kill lands with some batches done and most not.
            "ingest_batch_docs": 10,
        }
        return process_env(self.settings.model_copy(update=workers), **extra)

    # --- the server ------------------------------------------------------------------------------

    async def __aenter__(self) -> ChaosStack:
        self.fake.start()
        self.server.start()
        await self.reconnect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for name in list(self.workers):
            self.stop_worker(name, grace_s=20)
        self.server.stop()
        self.fake.stop()

    async def reconnect(self) -> None:
        """A fresh RagClient (after a server restart the driver's own checks start clean)."""
        self.rag = await RagClient.connect(self.settings)

    def kill_server(self) -> None:
        """SIGKILL the Temporal server: no shutdown, the SQLite file as it was."""
        self.server.kill()

    def restart_server(self) -> None:
        """The same database on the same ports."""
        self.server.restart(timeout_s=60)

    # --- workers ---------------------------------------------------------------------------------

    def start_worker(self, name: str, roles: str | None = None, **env: str) -> subprocess.Popen:
        """``main`` (workflows and embeddings: the store and the model), ``llm`` (Synthesize), or
        any name with explicit ``roles`` (``ragstate.workers.local --roles ...``)."""
        if name == "llm" and roles is None:
            cmd, roles = [sys.executable, "-m", "ragstate.workers.llm"], "llm"
        else:
            roles = roles or MAIN_ROLES
            cmd = [sys.executable, "-m", "ragstate.workers.local", "--roles", roles]
        self.roles[name] = roles
        log = (self.logs / f"worker-{name}.log").open("ab")
        proc = subprocess.Popen(
            cmd, cwd=self.scratch, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self.workers[name] = proc
        return proc

    def kill_worker(self, name: str) -> float:
        """SIGKILL; returns the monotonic time of the kill."""
        proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        at = time.monotonic()
        proc.wait(timeout=10)
        return at

    def stop_worker(self, name: str, grace_s: float = 60) -> None:
        """SIGTERM (drains in-flight tasks and closes the store), SIGKILL past ``grace_s``."""
        proc = self.workers.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log_tail(self, name: str, n: int = 2000) -> str:
        try:
            return (self.logs / f"worker-{name}.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    async def poller_identities(self, queue: str, workflows: bool) -> list[str]:
        kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if workflows else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
        return await asyncio.wait_for(pollers(self.rag.client, queue, kind), timedelta(seconds=5).total_seconds())

    def queues_of(self, roles: str) -> dict[str, bool]:
        s = self.settings
        table = {
            "workflows": (s.workflow_task_queue, True),
            "embeddings": (s.embeddings_task_queue, False),
            "llm": (s.llm_task_queue, False),
        }
        return dict(table[r] for r in roles.split(","))

    async def wait_ready(self, *names: str, timeout_s: float = 180) -> float:
        """Until each named worker process polls every queue of its roles (told by the poller
        identity, ``pid@host``: the server lists a dead worker's pollers for a while); the
        seconds waited. Fails early when a worker exited."""
        t0 = time.monotonic()
        pending = {name: self.queues_of(self.roles[name]) for name in names}
        while pending:
            for name in list(pending):
                proc = self.workers[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"worker {name} exited with {proc.returncode}:\n{self.log_tail(name)}")
                try:
                    ok = True
                    for queue, wf in pending[name].items():
                        ok &= any(i.startswith(f"{proc.pid}@") for i in await self.poller_identities(queue, wf))
                except RPCError:  # the server is still coming up
                    ok = False
                if ok:
                    del pending[name]
            if pending and time.monotonic() - t0 > timeout_s:
                raise RuntimeError(f"workers {list(pending)} not polling after {timeout_s:.0f} s")
            if pending:
                await asyncio.sleep(0.3)
        return time.monotonic() - t0

    # --- the gateway -----------------------------------------------------------------------------

    @asynccontextmanager
    async def gateway(self, start_timeout_s: float = 60) -> AsyncIterator[int]:
        """`ragstate serve` on a free loopback port (no API key), as a user runs it; yields the
        port once it accepts connections, and stops it after (its log: logs/gateway.log)."""
        from ragstate.temporal.devserver import free_port, port_open

        port = free_port()
        log = (self.logs / "gateway.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            bin_path("ragstate"), "serve", "--port", str(port), env=self.env(), stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + start_timeout_s
            while not port_open("127.0.0.1", port):
                if time.monotonic() > deadline or proc.returncode is not None:
                    tail = (self.logs / "gateway.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the gateway did not start:\n{tail}")
                await asyncio.sleep(0.2)
            yield port
        finally:
            if proc.returncode is None:
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
            log.close()

    # --- CLI -------------------------------------------------------------------------------------

    async def cli(self, *args: str, timeout_s: float, **env: str) -> tuple[int | None, str, float]:
        """``ragstate ARGS`` as a user runs it: (exit code or None when it hung, output, seconds)."""
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            bin_path("ragstate"),
            *args,
            cwd=self.scratch,
            env=self.env(RAGSTATE_LOG_LEVEL="WARNING", COLUMNS="200", **env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
            code = proc.returncode
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
            code = None
        text = out.decode(errors="replace")
        with (self.logs / "cli.log").open("a", encoding="utf-8") as log:  # every command, for --keep
            log.write(f"$ ragstate {' '.join(args)}  -> exit {code}\n{text}\n")
        return code, text, time.monotonic() - t0
