"""Running workers for any combination of ragstate's roles, and the process around them.

What each role registers is :func:`ragstate.workers.registry.worker_specs`; this module turns
those specs into workers, runs them until SIGTERM and drains them.

Example::

    client = await ragstate.temporal.connection.connect(settings)
    async with running_workers(client, settings, {"workflows", "embeddings", "llm"}):
        ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import NoReturn

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from ragstate.observability.telemetry import shutdown_tracing, worker_interceptors
from ragstate.settings import Settings
from ragstate.workers.registry import ALL_ROLES, EMBEDDING_ROLES, ROLES, worker_specs

__all__ = [
    "ALL_ROLES",
    "ROLES",
    "build_workers",
    "configure_logging",
    "entry_point_parser",
    "run_and_exit",
    "running_workers",
    "serve",
]

log = logging.getLogger("ragstate.worker")


def build_workers(
    client: Client,
    settings: Settings,
    roles: Iterable[str] = ROLES,
    executor: ThreadPoolExecutor | None = None,
    replace: Sequence[Callable] = (),
    interceptors: Sequence[Interceptor] = (),
) -> list[Worker]:
    """Workers for the given roles. ``replace`` swaps in activities with the same names (fault
    injection in tests, custom implementations in deployments); ``interceptors`` go to every
    worker (benchmarks, tests), after telemetry's (:func:`ragstate.observability.telemetry.worker_interceptors`:
    ragstate's metrics and the LLM span, when metrics or tracing are on)."""
    specs = worker_specs(settings, roles, replace)
    interceptors = [*worker_interceptors(client, settings), *interceptors]
    executor = executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="ragstate-activity")
    # SIGTERM (Lambda, Cloud Run, Kubernetes) lets in-flight activities finish this long.
    grace = timedelta(seconds=settings.worker_shutdown_grace_s)
    return [
        Worker(
            client,
            **spec.worker_config(),
            activity_executor=executor,
            interceptors=interceptors,
            graceful_shutdown_timeout=grace,
        )
        for spec in specs
    ]


@contextlib.asynccontextmanager
async def running_workers(
    client: Client,
    settings: Settings,
    roles: Iterable[str] = ROLES,
    warm_model: bool = True,
    replace: Sequence[Callable] = (),
) -> AsyncIterator[list[Worker]]:
    """Run workers until the block exits; loads the model first so the first query is not slow."""
    roles = set(roles)
    if warm_model and roles & EMBEDDING_ROLES:
        from ragstate.retrieval.embedding import get_embedder

        await asyncio.to_thread(get_embedder, settings.embedding_device)
    workers = build_workers(client, settings, roles, replace=replace)
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield workers


#: A worker process moves through these states; ``serve(on_state=...)`` hears each one.
STARTING, RUNNING, DRAINING, STOPPED = "starting", "running", "draining", "stopped"


async def serve(
    client: Client,
    settings: Settings,
    roles: Iterable[str],
    *,
    replace: Sequence[Callable] = (),
    stop: asyncio.Event | None = None,
    on_state: Callable[[str, list[Worker]], None] | None = None,
) -> None:
    """Run workers for ``roles`` until SIGINT/SIGTERM (or ``stop`` is set), then drain.

    Draining stops every worker's polling at the same moment and gives in-flight activities
    ``settings.worker_shutdown_grace_s`` (the workers' ``graceful_shutdown_timeout``) to finish,
    all workers together rather than one after another; then the store is closed. Returns
    normally after a drain, so the process exits 0. The embedding model, when a role needs it,
    is loaded before polling starts.
    """
    from ragstate.store import close_stores

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    state = on_state or (lambda _state, _workers: None)
    workers: list[Worker] = []
    state(STARTING, workers)
    try:
        async with running_workers(client, settings, roles, replace=replace) as workers:
            state(RUNNING, workers)
            await stop.wait()
            log.info("draining: polling stopped, in-flight tasks get %.0f s", settings.worker_shutdown_grace_s)
            state(DRAINING, workers)
            await asyncio.gather(*(w.shutdown() for w in workers))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        close_stores()
        shutdown_tracing()
        state(STOPPED, workers)


def entry_point_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of ``python -m module``: the module docstring's first paragraph as description,
    its examples kept as written."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def configure_logging() -> None:
    """Every worker process logs the same way as the rest of ragstate: RAGSTATE_LOG_FORMAT
    (text or json) and RAGSTATE_LOG_LEVEL, secrets redacted (:mod:`ragstate.observability.logs`)."""
    from ragstate.observability.logs import configure_logging as configure

    configure(Settings())


def run_and_exit(main: Coroutine) -> NoReturn:
    """``asyncio.run(main)``, then leave the process at once: exit 0 after a clean drain, 1 after
    an error (printed). Skipping interpreter finalization matters: the Temporal core's native
    threads can still call into Python while it tears down and abort the process with
    "PyGILState_Release: thread state must be current" (SIGABRT instead of exit 0;
    temporalio/sdk-python#300), which an orchestrator would count as a crash."""
    from ragstate.temporal.process import exit_code, exit_now

    code = 0
    try:
        asyncio.run(main)
    except SystemExit as e:
        code = exit_code(e)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_now(code)
