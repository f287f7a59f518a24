"""The light ragstate worker as an AWS Lambda function (Temporal Serverless Workers).

``handler`` is built with :func:`temporalio.contrib.aws.lambda_worker.run_worker` (on first
access, which the Lambda runtime makes at init). Temporal invokes the function when tasks wait
on its task queues; each invocation connects, polls until the invocation deadline comes near,
drains in-flight tasks and returns. Lambda handler string: ``ragstate.workers.aws_lambda.handler``.
Deployment: ``deploy/aws/template.yaml``, ``docs/deploy-aws.md``.

Roles: ``workflows`` (every workflow and the light activities) and ``llm`` (Synthesize), the
same registrations as :func:`ragstate.workers.runtime.build_workers`, never the embedding model (no
torch in a Lambda package). ``run_worker`` creates one worker per invocation, so the first role
is that worker and the others run next to it on the same client (:class:`CompanionWorkers`),
started and stopped with it. All of them are one worker deployment version, which is what a
Serverless Worker compute config points at.

Environment: the ``RAGSTATE_*`` variables of :class:`ragstate.settings.Settings`, which holds
these Lambda worker options too (validated with the rest when the settings are built), and the
secret ARNs, read from the environment before the settings:

=====================================  ==============================================================
``RAGSTATE_LAMBDA_ROLES``              ``workflows,llm`` (default), ``workflows`` or ``llm``
``RAGSTATE_DEPLOYMENT_NAME``           worker deployment name (default ``ragstate``)
``RAGSTATE_BUILD_ID``                  build id of this code (falls back to the Lambda function
                                       version, then to the package version, with a warning:
                                       :func:`resolve_build_id`)
``RAGSTATE_VERSIONING_BEHAVIOR``       ``auto-upgrade`` (default) or ``pinned``: default for workflows
``RAGSTATE_LAMBDA_TIMEOUT_S``          the function's timeout, checked against the rule below
``RAGSTATE_LAMBDA_OTEL``               ``true``: metrics and traces through the ADOT layer
                                       (needs ``temporalio[lambda-worker-otel]``)
``RAGSTATE_*_SECRET_ARN``              Secrets Manager ARNs read once per cold start for
                                       ``ANTHROPIC_API_KEY``, ``TEMPORAL_API_KEY``, ``QDRANT_API_KEY``
                                       (not settings: :func:`load_secrets`)
=====================================  ==============================================================

Connection: ``RAGSTATE_TEMPORAL_PROFILE`` (a profile of ``temporal.toml``), else an explicit
``RAGSTATE_TEMPORAL_ADDRESS``, else what ``temporal.toml`` (``TEMPORAL_CONFIG_FILE``, then
``$LAMBDA_TASK_ROOT/temporal.toml``) and ``TEMPORAL_*`` variables say, else the defaults of
the settings; always with the pydantic data converter.

Timing rule (checked at cold start, see :func:`check_timing`)::

    grace   = max(RAGSTATE_WORKER_SHUTDOWN_GRACE_S, RAGSTATE_ANTHROPIC_TIMEOUT_S if llm role)
    timeout >= grace + 2 s (shutdown hooks) + max(2 x grace, 60 s) (time spent polling)

Polling stops ``grace + 2 s`` before the deadline; an activity picked up at the last moment
still has ``grace`` to finish, so every activity attempt that runs here must fit in ``grace``:
a Synthesize call by its Anthropic timeout, an ingest batch by ``RAGSTATE_INGEST_BATCH_DOCS``.
Whatever is cut anyway is retried by Temporal on a later invocation, once its heartbeat timeout
(IndexChunks, OptimizeStore 20 s, Synthesize 60 s) or start-to-close timeout (DiscoverDocuments
2 min, CommitDocuments 5 min) has passed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.aws.lambda_worker import LambdaWorkerConfig, run_worker
from temporalio.worker import Plugin, Worker, WorkerDeploymentConfig

from ragstate.settings import Settings, WorkflowVersioning

# Private names here as before the move (tests reach them as aws_lambda._apply_otel, _observing).
from ragstate.workers.lambda_otel import apply_otel as _apply_otel
from ragstate.workers.lambda_otel import observing as _observing
from ragstate.workers.lambda_setup import connect_config, load_secrets
from ragstate.workers.registry import WorkerSpec, worker_specs

log = logging.getLogger("ragstate.lambda")
#: What run_worker reserves after the drain for shutdown hooks (the contrib's default).
HOOK_BUFFER = timedelta(seconds=2)
MIN_POLLING_S = 60.0


# --- deployment version ------------------------------------------------------------------------

VERSIONING_BEHAVIORS = {
    WorkflowVersioning.auto_upgrade: VersioningBehavior.AUTO_UPGRADE,
    WorkflowVersioning.pinned: VersioningBehavior.PINNED,
}


def resolve_build_id(settings: Settings, environ: Mapping[str, str] = os.environ) -> str:
    """``RAGSTATE_BUILD_ID``, else the published Lambda function version (``lambda-N``), else the
    package version, with a warning: a build id should change with every release."""
    if settings.build_id:
        return settings.build_id
    function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "")
    if function_version and function_version != "$LATEST":
        return f"lambda-{function_version}"
    from importlib.metadata import PackageNotFoundError, version

    try:
        fallback = f"ragstate-{version('ragstate')}"
    except PackageNotFoundError:
        fallback = "ragstate-dev"
    log.warning("RAGSTATE_BUILD_ID is not set: using build id %r; set it per release", fallback)
    return fallback


# --- timing -----------------------------------------------------------------------------------


def shutdown_grace(settings: Settings, roles: Iterable[str]) -> timedelta:
    """How long in-flight tasks may finish once polling stops: the settings' grace, at least the
    Anthropic timeout when this worker makes LLM calls."""
    grace = settings.worker_shutdown_grace_s
    if "llm" in set(roles):
        grace = max(grace, settings.anthropic_timeout_s)
    return timedelta(seconds=grace)


def check_timing(settings: Settings, roles: Iterable[str], lambda_timeout_s: float) -> None:
    """Raise ValueError when a function timeout breaks the rule of the module docstring."""
    grace = shutdown_grace(settings, roles).total_seconds()
    needed = grace + HOOK_BUFFER.total_seconds() + max(2 * grace, MIN_POLLING_S)
    if lambda_timeout_s < needed:
        raise ValueError(
            f"Lambda timeout {lambda_timeout_s:.0f}s is too short for a {grace:.0f}s shutdown grace: it needs at "
            f"least {needed:.0f}s (grace + {HOOK_BUFFER.total_seconds():.0f}s + max(2 x grace, {MIN_POLLING_S:.0f}s)). "
            "Raise the timeout, or lower RAGSTATE_WORKER_SHUTDOWN_GRACE_S / RAGSTATE_ANTHROPIC_TIMEOUT_S"
        )


# --- the companion workers and the handler --------------------------------------------------------


class CompanionWorkers(Plugin):
    """Runs more workers (other task queues) on the client of the worker ``run_worker`` creates,
    for exactly as long as that worker runs: when the contrib stops it before the deadline, all
    of them drain at the same time, within the same grace."""

    def __init__(self, configs: Sequence[Mapping[str, Any]]):
        self.configs = [dict(c) for c in configs]

    def configure_worker(self, config):
        return config

    def configure_replayer(self, config):
        return config

    def run_replayer(self, replayer, histories, next):
        return next(replayer, histories)

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        companions = [Worker(worker.client, **cfg) for cfg in self.configs]
        tasks: list[asyncio.Future[None]] = [asyncio.ensure_future(next(worker))]  # next() is any awaitable
        tasks += [asyncio.create_task(c.run(), name=f"worker {c.task_queue}") for c in companions]
        cancelled = False
        try:
            # Until the deadline (the contrib cancels this) or until any worker stops on its own.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            cancelled = True
        await asyncio.gather(*(w.shutdown() for w in (worker, *companions)), return_exceptions=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
        if cancelled:
            raise asyncio.CancelledError()
        if errors:
            raise errors[0]


async def _close_llm_clients() -> None:
    """The Anthropic SDK client is cached per process (``ragstate.activities.anthropic_messages._clients``),
    but its connection pool belongs to the event loop that made it, and each invocation runs a
    new loop: a kept-alive connection reused by the next invocation fails ("Event loop is
    closed"). Closed and forgotten at the end of every invocation, inside its loop."""
    from ragstate.activities.anthropic_llm import close_llm_clients

    await close_llm_clients()


_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragstate-lambda-activity")


def build_handler(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> Callable[[Any, Any], None]:
    """The Lambda handler: ``run_worker`` with ragstate's registrations for ``settings.lambda_roles``."""
    if environ is None:
        # Secret ARNs come from os.environ before Settings is built: they fill variables it reads.
        load_secrets()
        environ = os.environ
    settings = settings or Settings()
    roles = settings.lambda_roles
    _check_settings(settings, roles, environ)
    version = WorkerDeploymentVersion(
        deployment_name=settings.deployment_name, build_id=resolve_build_id(settings, environ)
    )
    grace = shutdown_grace(settings, roles)
    connect = connect_config(settings, environ)
    # Activity objects (and the store and LLM clients they open lazily) live as long as the
    # execution environment; workers and clients are made per invocation by run_worker.
    specs = worker_specs(settings, roles)

    def configure(config: LambdaWorkerConfig) -> None:
        _configure(config, settings, specs, connect, grace)

    log.info(
        "Lambda worker %s/%s: roles %s on %s, grace %ss",
        version.deployment_name,
        version.build_id,
        ",".join(roles),
        connect.get("target_host"),
        grace.total_seconds(),
    )
    return run_worker(version, configure)


def _check_settings(settings: Settings, roles: Sequence[str], environ: Mapping[str, str]) -> None:
    """Cold-start checks: the timing rule when the function's timeout is known, and a warning
    for an index that the function's execution environments cannot share."""
    if settings.lambda_timeout_s is not None:
        check_timing(settings, roles, settings.lambda_timeout_s)
    if environ.get("AWS_LAMBDA_FUNCTION_NAME") and settings.store_backend.value == "edge" and "workflows" in roles:
        log.warning(
            "store backend 'edge' keeps the index inside one Lambda execution environment; "
            "set RAGSTATE_STORE_BACKEND=qdrant and RAGSTATE_QDRANT_URL"
        )


def _configure(
    config: LambdaWorkerConfig,
    settings: Settings,
    specs: Sequence[WorkerSpec],
    connect: Mapping[str, Any],
    grace: timedelta,
) -> None:
    """One invocation's config: the connection, the first spec as the worker run_worker creates
    (with the grace, versioning, shutdown hooks and telemetry) and the others beside it."""
    main, *others = specs
    # The contrib types these as TypedDicts; ragstate builds them as plain dicts of the same keys.
    client_config: dict[str, Any] = config.client_connect_config  # type: ignore[assignment]
    client_config.clear()
    client_config.update(connect)
    wc: dict[str, Any] = config.worker_config  # type: ignore[assignment]
    wc.update(main.worker_config())
    if main.sync_activities():
        wc["activity_executor"] = _executor
    hooks = config.shutdown_deadline_buffer - wc.get("graceful_shutdown_timeout", timedelta(seconds=5))
    wc["graceful_shutdown_timeout"] = grace
    config.shutdown_deadline_buffer = grace + max(hooks, HOOK_BUFFER)
    deployment: WorkerDeploymentConfig = wc["deployment_config"]  # run_worker always sets it
    wc["deployment_config"] = WorkerDeploymentConfig(
        version=deployment.version,
        use_worker_versioning=True,
        default_versioning_behavior=VERSIONING_BEHAVIORS[settings.versioning_behavior],
    )
    if "llm" in settings.lambda_roles:
        config.shutdown_hooks.append(_close_llm_clients)
    if settings.lambda_otel:
        _apply_otel(config)
        wc["interceptors"] = [*wc.get("interceptors", []), *_observing(settings)]
    if others:
        wc["plugins"] = _with_companions(wc, main, others)


def _with_companions(wc: Mapping[str, Any], main: WorkerSpec, others: Sequence[WorkerSpec]) -> list:
    """The main worker's plugins and one more that runs ``others`` beside it: each with the main
    worker's options but its own registrations and role options, and the same plugins."""
    shared = {
        k: v
        for k, v in wc.items()
        if k not in {"task_queue", "workflows", "activities", "plugins", "activity_executor", *main.options}
    }
    plugins = list(wc.get("plugins", []))
    return [
        *plugins,
        CompanionWorkers(
            [
                {
                    **shared,
                    **spec.worker_config(),
                    "plugins": plugins,
                    **({"activity_executor": _executor} if spec.sync_activities() else {}),
                }
                for spec in others
            ]
        ),
    ]


def __getattr__(name: str) -> Any:
    # ``handler`` is built on first access: the Lambda runtime's ``getattr(module, "handler")``
    # during init, so that importing this module's helpers (ragstate.workers.sqs_ingest) stays cheap.
    if name == "handler":
        globals()["handler"] = built = build_handler()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
