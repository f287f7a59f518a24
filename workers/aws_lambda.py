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
import inspect
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.aws.lambda_worker import LambdaWorkerConfig, run_worker
from temporalio.worker import Plugin, Worker, WorkerDeploymentConfig

from ragstate.settings import Settings, WorkflowVersioning

log = logging.getLogger("ragstate.lambda")
#: What run_worker reserves after the drain for shutdown hooks (the contrib's default).
HOOK_BUFFER = timedelta(seconds=2)
MIN_POLLING_S = 60.0

#: Secret ARN variable -> the variables it fills (only those not set already).
SECRET_VARIABLES: dict[str, tuple[str, ...]] = {
    "RAGSTATE_ANTHROPIC_API_KEY_SECRET_ARN": ("RAGSTATE_ANTHROPIC_API_KEY",),
    "RAGSTATE_TEMPORAL_API_KEY_SECRET_ARN": ("TEMPORAL_API_KEY", "RAGSTATE_TEMPORAL_API_KEY"),
    "RAGSTATE_QDRANT_API_KEY_SECRET_ARN": ("RAGSTATE_QDRANT_API_KEY",),
}


# --- what to register for each role, as data ----------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    """One worker of a role: its task queue, registrations and role-specific options (the
    keyword arguments of :class:`temporalio.worker.Worker`, without the client)."""

    role: str
    task_queue: str
    workflows: Sequence[type] = ()
    activities: Sequence[Callable] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def sync_activities(self) -> bool:
        """Whether any activity is a plain function (run on a thread pool)."""
        return any(not inspect.iscoroutinefunction(a) for a in self.activities)

    def worker_config(self) -> dict[str, Any]:
        return {"task_queue": self.task_queue, "workflows": list(self.workflows),
                "activities": list(self.activities), **self.options}


def worker_specs(settings: Settings, roles: Iterable[str]) -> list[WorkerSpec]:
    """The registrations :func:`ragstate.workers.runtime.build_workers` makes for ``roles``, as data;
    the workflow worker first. Imports a role's activities only when it is asked for."""
    from ragstate.workers.runtime import ALL_ROLES

    roles = set(roles)
    unknown = roles - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown worker roles {sorted(unknown)}: choose from {list(ALL_ROLES)}")
    specs: list[WorkerSpec] = []
    embedding = synthesis = None
    if "llm" in roles:
        from ragstate.activities.anthropic_llm import AnthropicActivities

        synthesis = AnthropicActivities(settings)
        specs.append(WorkerSpec("llm", settings.llm_task_queue, activities=(synthesis.synthesize,), options={
            "max_concurrent_activities": settings.llm_max_concurrent,
            "max_task_queue_activities_per_second": settings.llm_queue_rate_per_s}))
    if roles & {"embeddings", "gpu-embeddings"}:
        from ragstate.activities.embeddings import EmbeddingActivities

        embedding = EmbeddingActivities(settings)
        for role, queue in (("embeddings", settings.embeddings_task_queue),
                            ("gpu-embeddings", settings.gpu_embeddings_task_queue)):
            if role in roles:
                specs.append(WorkerSpec(role, queue, activities=(embedding.vector_search, embedding.embed_chunks),
                                        options={"max_concurrent_activities": 4}))
    if "workflows" in roles:
        from ragstate.activities.files import FileActivities
        from ragstate.activities.qdrant import QdrantActivities
        from ragstate.activities.query_parsing import QueryParsingActivities
        from ragstate.workflows import ALL_WORKFLOWS

        also_local = [a for a in (embedding and embedding.vector_search, synthesis and synthesis.synthesize) if a]
        q, f = QdrantActivities(settings), FileActivities(settings)
        p = QueryParsingActivities(settings, in_process_roles=frozenset(roles))
        specs.insert(0, WorkerSpec("workflows", settings.workflow_task_queue, workflows=tuple(ALL_WORKFLOWS),
                                   activities=(p.parse_query, f.discover_documents, q.keyword_search, q.merge,
                                               q.index_chunks, q.commit_documents, q.optimize_store,
                                               q.store_stats, *also_local)))
    return specs


# --- deployment version ------------------------------------------------------------------------

VERSIONING_BEHAVIORS = {WorkflowVersioning.auto_upgrade: VersioningBehavior.AUTO_UPGRADE,
                        WorkflowVersioning.pinned: VersioningBehavior.PINNED}


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


# --- secrets, connection and timing -------------------------------------------------------------


def _read_secret(arn: str) -> str:
    import boto3  # in every Lambda Python runtime; not a dependency of ragstate

    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        return value.strip()
    if isinstance(parsed, dict) and len(parsed) == 1:
        return str(next(iter(parsed.values())))
    if isinstance(parsed, dict) and "api_key" in parsed:
        return str(parsed["api_key"])
    return value.strip()


def load_secrets(environ: dict[str, str] | None = None, read: Callable[[str], str] = _read_secret) -> list[str]:
    """Fill API keys from Secrets Manager once per cold start, before settings and the contrib
    read the environment. A secret is a plain string, or JSON with one value (or ``api_key``).
    Returns the variables set; variables already set are left alone."""
    environ = os.environ if environ is None else environ
    filled = []
    for arn_var, targets in SECRET_VARIABLES.items():
        arn = environ.get(arn_var)
        missing = [t for t in targets if not environ.get(t)]
        if arn and missing:
            value = read(arn)
            for t in missing:
                environ[t] = value
            filled.extend(missing)
    return filled


def config_file(environ: Mapping[str, str] = os.environ) -> Path:
    """``temporal.toml`` as the contrib finds it: TEMPORAL_CONFIG_FILE, $LAMBDA_TASK_ROOT, cwd."""
    if environ.get("TEMPORAL_CONFIG_FILE"):
        return Path(environ["TEMPORAL_CONFIG_FILE"])
    return Path(environ.get("LAMBDA_TASK_ROOT") or ".") / "temporal.toml"


def connect_config(settings: Settings, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect`` (see the module docstring for the order)."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.envconfig import ClientConfigProfile

    cfg: dict[str, Any] | None = None
    if settings.temporal_profile:
        cfg = dict(ClientConfigProfile.load(profile=settings.temporal_profile,
                                            config_source=config_file(environ)).to_client_connect_config())
    elif "temporal_address" not in settings.model_fields_set:
        cfg = dict(ClientConfigProfile.load(config_source=config_file(environ)).to_client_connect_config())
        if not cfg.get("target_host"):
            cfg = None
    if cfg is None:
        api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
        cfg = {"target_host": settings.temporal_address, "namespace": settings.temporal_namespace,
               "api_key": api_key, "tls": settings.temporal_tls or bool(api_key)}
    cfg["data_converter"] = pydantic_data_converter
    return cfg


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
            "Raise the timeout, or lower RAGSTATE_WORKER_SHUTDOWN_GRACE_S / RAGSTATE_ANTHROPIC_TIMEOUT_S")


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
        tasks = [asyncio.create_task(next(worker), name=f"worker {worker.task_queue}")]
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
    """The Anthropic SDK client is cached per process (``ragstate.activities.anthropic_llm._clients``),
    but its connection pool belongs to the event loop that made it, and each invocation runs a
    new loop: a kept-alive connection reused by the next invocation fails ("Event loop is
    closed"). Closed and forgotten at the end of every invocation, inside its loop."""
    from ragstate.activities.anthropic_llm import close_llm_clients

    await close_llm_clients()


_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragstate-lambda-activity")
_otel: dict[str, Any] = {}


def _apply_otel(config: LambdaWorkerConfig) -> None:
    """ADOT metrics and tracing, set up once per execution environment (``apply_defaults`` makes
    a new Runtime and tracer provider each call) and applied to every invocation's config."""
    if not _otel:
        from temporalio.contrib.aws.lambda_worker.otel import apply_defaults

        scratch = LambdaWorkerConfig()
        apply_defaults(scratch)
        _otel.update(runtime=scratch.client_connect_config.get("runtime"),
                     plugins=list(scratch.worker_config.get("plugins", [])), hooks=list(scratch.shutdown_hooks))
    if _otel["runtime"] is not None:
        config.client_connect_config["runtime"] = _otel["runtime"]
    config.worker_config["plugins"] = [*config.worker_config.get("plugins", []), *_otel["plugins"]]
    config.shutdown_hooks.extend(_otel["hooks"])


def build_handler(settings: Settings | None = None,
                  environ: Mapping[str, str] | None = None) -> Callable[[Any, Any], None]:
    """The Lambda handler: ``run_worker`` with ragstate's registrations for ``settings.lambda_roles``."""
    if environ is None:
        # Secret ARNs come from os.environ before Settings is built: they fill variables it reads.
        load_secrets()
        environ = os.environ
    settings = settings or Settings()
    roles = settings.lambda_roles
    if settings.lambda_timeout_s is not None:
        check_timing(settings, roles, settings.lambda_timeout_s)
    if environ.get("AWS_LAMBDA_FUNCTION_NAME") and settings.store_backend.value == "edge" and "workflows" in roles:
        log.warning("store backend 'edge' keeps the index inside one Lambda execution environment; "
                    "set RAGSTATE_STORE_BACKEND=qdrant and RAGSTATE_QDRANT_URL")
    version = WorkerDeploymentVersion(deployment_name=settings.deployment_name,
                                      build_id=resolve_build_id(settings, environ))
    grace = shutdown_grace(settings, roles)
    connect = connect_config(settings, environ)
    # Activity objects (and the store and LLM clients they open lazily) live as long as the
    # execution environment; workers and clients are made per invocation by run_worker.
    main, *others = worker_specs(settings, roles)

    def configure(config: LambdaWorkerConfig) -> None:
        config.client_connect_config.clear()
        config.client_connect_config.update(connect)
        wc = config.worker_config
        wc.update(main.worker_config())
        if main.sync_activities():
            wc["activity_executor"] = _executor
        hooks = config.shutdown_deadline_buffer - wc.get("graceful_shutdown_timeout", timedelta(seconds=5))
        wc["graceful_shutdown_timeout"] = grace
        config.shutdown_deadline_buffer = grace + max(hooks, HOOK_BUFFER)
        deployment: WorkerDeploymentConfig = wc["deployment_config"]
        wc["deployment_config"] = WorkerDeploymentConfig(
            version=deployment.version, use_worker_versioning=True,
            default_versioning_behavior=VERSIONING_BEHAVIORS[settings.versioning_behavior])
        if "llm" in roles:
            config.shutdown_hooks.append(_close_llm_clients)
        if settings.lambda_otel:
            _apply_otel(config)
        if others:
            shared = {k: v for k, v in wc.items()
                      if k not in {"task_queue", "workflows", "activities", "plugins", "activity_executor",
                                   *main.options}}
            plugins = list(wc.get("plugins", []))
            wc["plugins"] = [*plugins, CompanionWorkers(
                [{**shared, **spec.worker_config(), "plugins": plugins,
                  **({"activity_executor": _executor} if spec.sync_activities() else {})} for spec in others])]

    log.info("Lambda worker %s/%s: roles %s on %s, grace %ss", version.deployment_name, version.build_id,
             ",".join(roles), connect.get("target_host"), grace.total_seconds())
    return run_worker(version, configure)


def __getattr__(name: str) -> Any:
    # ``handler`` is built on first access: the Lambda runtime's ``getattr(module, "handler")``
    # during init, so that importing this module's helpers (ragstate.workers.sqs_ingest) stays cheap.
    if name == "handler":
        globals()["handler"] = built = build_handler()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
