"""Building workers for any combination of ragstate's task queues.

Roles map to task queues (names from settings):

- ``workflows``: all workflows and the light activities (parse, files, store, merge)
- ``embeddings``: the model (VectorSearch, EmbedChunks); the only role that imports torch
- ``llm``: Synthesize, on its own queue so that its rate can be limited
- ``gpu-embeddings``: EmbedChunks/VectorSearch on the GPU queue (``settings.gpu_embeddings``)

Example::

    client = await ragstate.temporal.connect(settings)
    async with running_workers(client, settings, {"workflows", "embeddings", "llm"}):
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import traceback
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Callable, Coroutine, Iterable, NoReturn, Sequence

from temporalio.activity import _Definition
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from ragstate.settings import Settings

log = logging.getLogger("ragstate.worker")

ROLES = ("workflows", "embeddings", "llm")
#: Roles a process can take: the three above (what `ragstate up` runs) and a GPU embedding worker.
ALL_ROLES = (*ROLES, "gpu-embeddings")


def _activity_name(fn: Callable) -> str:
    defn = _Definition.from_callable(fn)
    if defn is None:
        raise ValueError(f"{fn!r} is not an activity (missing @activity.defn)")
    return defn.name


def build_workers(client: Client, settings: Settings, roles: Iterable[str] = ROLES,
                  executor: ThreadPoolExecutor | None = None, replace: Sequence[Callable] = (),
                  interceptors: Sequence[Interceptor] = ()) -> list[Worker]:
    """Workers for the given roles. ``replace`` swaps in activities with the same names (fault
    injection in tests, custom implementations in deployments); ``interceptors`` go to every
    worker (tracing, benchmarks)."""
    roles = set(roles)
    replacements = {_activity_name(fn): fn for fn in replace}

    def swap(activities: list[Callable]) -> list[Callable]:
        return [replacements.get(_activity_name(fn), fn) for fn in activities]

    unknown = roles - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown worker roles {sorted(unknown)}: choose from {list(ALL_ROLES)}")
    executor = executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="ragstate-activity")

    def make(task_queue: str, activities: list[Callable], **options) -> Worker:
        # SIGTERM (Lambda, Cloud Run, Kubernetes) lets in-flight activities finish this long.
        return Worker(client, task_queue=task_queue, activities=swap(activities), activity_executor=executor,
                      interceptors=interceptors,
                      graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_s), **options)

    workers = []
    embedding = synthesis = None
    if "llm" in roles:
        from ragstate.activities.anthropic_llm import AnthropicActivities

        synthesis = AnthropicActivities(settings)
        # Per-worker cap, and an optional server-side cap shared by every LLM worker: many
        # scaled-out workers together still stay under the provider's rate limit.
        workers.append(make(settings.llm_task_queue, [synthesis.synthesize],
                            max_concurrent_activities=settings.llm_max_concurrent,
                            max_task_queue_activities_per_second=settings.llm_queue_rate_per_s))
    if roles & {"embeddings", "gpu-embeddings"}:
        from ragstate.activities.embeddings import EmbeddingActivities

        embedding = EmbeddingActivities(settings)
        for role, queue in (("embeddings", settings.embeddings_task_queue),
                            ("gpu-embeddings", settings.gpu_embeddings_task_queue)):
            if role in roles:
                workers.append(make(queue, [embedding.vector_search, embedding.embed_chunks],
                                    max_concurrent_activities=4))
    if "workflows" in roles:
        from ragstate.activities.files import FileActivities
        from ragstate.activities.qdrant import QdrantActivities
        from ragstate.activities.query_parsing import QueryParsingActivities
        from ragstate.workflows import ALL_WORKFLOWS

        # Steps of other roles served by this process may run as local activities of the query
        # workflow, so they are registered on the workflow worker too.
        also_local = [a for a in (embedding and embedding.vector_search, synthesis and synthesis.synthesize) if a]
        q, f = QdrantActivities(settings), FileActivities(settings)
        p = QueryParsingActivities(settings, in_process_roles=frozenset(roles))
        workers.append(make(settings.workflow_task_queue,
                            [p.parse_query, f.discover_documents, q.keyword_search, q.merge, q.index_chunks,
                             q.commit_documents, q.optimize_store, q.store_stats, *also_local],
                            workflows=ALL_WORKFLOWS))
    return workers


@contextlib.asynccontextmanager
async def running_workers(client: Client, settings: Settings, roles: Iterable[str] = ROLES,
                          warm_model: bool = True, replace: Sequence[Callable] = ()) -> AsyncIterator[list[Worker]]:
    """Run workers until the block exits; loads the model first so the first query is not slow."""
    roles = set(roles)
    if warm_model and roles & {"embeddings", "gpu-embeddings"}:
        from ragstate.embedding import get_embedder

        await asyncio.to_thread(get_embedder, settings.embedding_device)
    workers = build_workers(client, settings, roles, replace=replace)
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield workers


#: A worker process moves through these states; ``serve(on_state=...)`` hears each one.
STARTING, RUNNING, DRAINING, STOPPED = "starting", "running", "draining", "stopped"


async def serve(client: Client, settings: Settings, roles: Iterable[str], *, replace: Sequence[Callable] = (),
                stop: asyncio.Event | None = None,
                on_state: Callable[[str, list[Worker]], None] | None = None) -> None:
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
        state(STOPPED, workers)


def run_and_exit(main: Coroutine) -> NoReturn:
    """``asyncio.run(main)``, then leave the process at once: exit 0 after a clean drain, 1 after
    an error (printed). Skipping interpreter finalization matters: the Temporal core's native
    threads can still call into Python while it tears down and abort the process with
    "PyGILState_Release: thread state must be current" (SIGABRT instead of exit 0;
    temporalio/sdk-python#300), which an orchestrator would count as a crash."""
    code = 0
    try:
        asyncio.run(main)
    except SystemExit as e:
        if isinstance(e.code, int) or e.code is None:
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - reported, then the exit code says it
        traceback.print_exc()
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


