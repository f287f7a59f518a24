"""What a worker registers for each role: one table for every deployment shape.

Roles map to task queues (names from settings):

- ``workflows``: all workflows and the light activities (parse, files, store, merge)
- ``embeddings``: the model (VectorSearch, EmbedChunks); the only role that imports torch
- ``llm``: Synthesize, on its own queue so that its rate can be limited
- ``gpu-embeddings``: EmbedChunks/VectorSearch on the GPU queue (``settings.gpu_embeddings``)

Long-lived workers (:func:`ragstate.workers.runtime.build_workers`, behind every ``python -m
ragstate.workers.*`` entry point and ``ragstate worker``) and the Lambda worker
(:mod:`ragstate.workers.aws_lambda`) build their ``Worker`` objects from these specs, so a role
registers the same things whatever runs it.

Example::

    for spec in worker_specs(settings, {"workflows", "llm"}):
        Worker(client, **spec.worker_config())
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from temporalio.activity import _Definition
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import ragstate
from ragstate.contracts import Activity
from ragstate.settings import Settings

ROLES = ("workflows", "embeddings", "llm")
#: Roles a process can take: the three above (what `ragstate up` runs) and a GPU embedding worker.
ALL_ROLES = (*ROLES, "gpu-embeddings")
#: Roles that hold the embedding model (torch, seconds to load).
EMBEDDING_ROLES = frozenset({"embeddings", "gpu-embeddings"})


def activity_name(fn: Callable) -> str:
    """The activity type name of an ``@activity.defn`` callable."""
    defn = _Definition.from_callable(fn)
    if defn is None:
        raise ValueError(f"{fn!r} is not an activity (missing @activity.defn)")
    if defn.name is None:
        raise ValueError(f"{fn!r} is a dynamic activity: it has no name to register or replace")
    return defn.name


def passthrough_modules() -> tuple[str, ...]:
    """Every ragstate package but the workflows: what a workflow may import from them
    (contracts, models, conventions, pure helpers; the rule is tests/test_package.py's) is
    stateless and deterministic, so the sandbox can share the worker's loaded copy instead of
    importing pydantic models and settings again for every run."""
    found = (m.name for m in pkgutil.iter_modules(ragstate.__path__, "ragstate."))
    return tuple(sorted(name for name in found if name != "ragstate.workflows"))


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox with ragstate's shared modules passed through. The workflow modules
    themselves stay inside it: each run imports them afresh (no state leaks between runs) and
    their calls are checked (no clock, randomness, I/O or threads outside ``workflow.*``)."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*passthrough_modules())
    return SandboxedWorkflowRunner(restrictions=restrictions)


def task_queue(settings: Settings, role: str) -> str:
    """The task queue a role's worker polls."""
    return {
        "workflows": settings.workflow_task_queue,
        "embeddings": settings.embeddings_task_queue,
        "llm": settings.llm_task_queue,
        "gpu-embeddings": settings.gpu_embeddings_task_queue,
    }[role]


def check_roles(roles: Iterable[str]) -> set[str]:
    """``roles`` as a set; ValueError naming the choices when one is unknown."""
    roles = set(roles)
    unknown = roles - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown worker roles {sorted(unknown)}: choose from {list(ALL_ROLES)}")
    return roles


def parse_roles(text: str, allowed: Sequence[str]) -> list[str]:
    """A ``--roles`` value: a comma-separated, non-empty subset of ``allowed`` (argparse type)."""
    roles = [r.strip() for r in text.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(allowed))
    if not roles or unknown:
        raise argparse.ArgumentTypeError(
            f"roles must be a comma-separated subset of {','.join(allowed)}"
            + (f" (unknown: {','.join(unknown)})" if unknown else "")
        )
    return roles


def add_roles_option(parser: argparse.ArgumentParser, allowed: Sequence[str], default: Sequence[str]) -> None:
    """``--roles``: a comma-separated subset of ``allowed``, parsed into a list."""
    parser.add_argument(
        "--roles",
        type=lambda text: parse_roles(text, allowed),
        default=list(default),
        help=f"comma-separated subset of {','.join(allowed)} (default: {','.join(default)})",
    )


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
        return {
            "task_queue": self.task_queue,
            "workflows": list(self.workflows),
            "activities": list(self.activities),
            **self.options,
        }

    def replacing(self, replacements: Mapping[str, Callable]) -> WorkerSpec:
        """This spec with each activity whose name is in ``replacements`` swapped for that one."""
        activities = tuple(replacements.get(activity_name(fn), fn) for fn in self.activities)
        return dataclasses.replace(self, activities=activities)


def worker_specs(settings: Settings, roles: Iterable[str], replace: Sequence[Callable] = ()) -> list[WorkerSpec]:
    """The workers a process serving ``roles`` runs, the workflow worker first. ``replace`` swaps
    in activities with the same names (fault injection in tests, custom implementations in
    deployments). Imports a role's activities only when it is asked for: a light worker never
    loads torch."""
    roles = check_roles(roles)
    specs: list[WorkerSpec] = []
    synthesize = vector_search = None
    if "llm" in roles:
        llm = _llm_spec(settings)
        [synthesize] = llm.activities
        specs.append(llm)
    if roles & EMBEDDING_ROLES:
        embedding = _embedding_specs(settings, roles)
        vector_search = embedding[0].activities[0]
        specs += embedding
    if "workflows" in roles:
        specs.insert(0, _workflows_spec(settings, roles, vector_search, synthesize))
    replacements = {activity_name(fn): fn for fn in replace}
    return [spec.replacing(replacements) for spec in specs] if replacements else specs


def _llm_spec(settings: Settings) -> WorkerSpec:
    """The ``llm`` role: Synthesize, with its rate limits."""
    from ragstate.activities.anthropic_llm import AnthropicActivities

    synthesis = AnthropicActivities(settings)
    # Per-worker cap, and an optional server-side cap shared by every LLM worker: many
    # scaled-out workers together still stay under the provider's rate limit.
    return WorkerSpec(
        "llm",
        settings.llm_task_queue,
        activities=(synthesis.synthesize,),
        options={
            "max_concurrent_activities": settings.llm_max_concurrent,
            "max_task_queue_activities_per_second": settings.llm_queue_rate_per_s,
        },
    )


def _embedding_specs(settings: Settings, roles: set[str]) -> list[WorkerSpec]:
    """The embedding roles among ``roles`` (``embeddings``, ``gpu-embeddings``): VectorSearch
    and EmbedChunks of one model, VectorSearch first."""
    from ragstate.activities.embeddings import EmbeddingActivities

    embedding = EmbeddingActivities(settings)
    return [
        WorkerSpec(
            role,
            task_queue(settings, role),
            activities=(embedding.vector_search, embedding.embed_chunks, embedding.store_cached_answer),
            options={"max_concurrent_activities": 4},
        )
        for role in ("embeddings", "gpu-embeddings")
        if role in roles
    ]


def _workflows_spec(
    settings: Settings, roles: set[str], vector_search: Callable | None, synthesize: Callable | None
) -> WorkerSpec:
    """The ``workflows`` role: every workflow and the light activities, plus VectorSearch and
    Synthesize as this process serves them (``None``: it does not)."""
    from ragstate.activities.anthropic_batches import BatchActivities
    from ragstate.activities.condense import CondenseActivities
    from ragstate.activities.elsewhere import not_on_this_worker
    from ragstate.activities.feedback import FeedbackActivities
    from ragstate.activities.files import FileActivities
    from ragstate.activities.lifecycle import LifecycleActivities
    from ragstate.activities.llm_fallback import extractive_answer
    from ragstate.activities.qdrant import QdrantActivities, ReindexActivities
    from ragstate.activities.query_parsing import QueryParsingActivities
    from ragstate.activities.summaries import SummaryActivities
    from ragstate.activities.temporal_queues import queue_pollers
    from ragstate.activities.transcripts import TranscriptActivities
    from ragstate.workflows import ALL_WORKFLOWS

    # Steps of other roles served by this process may run as local activities of the query
    # workflow, so they are registered on the workflow worker too; where this process lacks
    # one, a stand-in sends it to its own queue when another worker's ParseQuery routed it
    # here (a mixed pool). Not on a queue it shares: the stand-in would take its tasks.
    also_local = [
        fn or not_on_this_worker(name)
        for name, fn, queue in (
            (Activity.VECTOR_SEARCH, vector_search, settings.embeddings_task_queue),
            (Activity.SYNTHESIZE, synthesize, settings.llm_task_queue),
        )
        if fn or queue != settings.workflow_task_queue
    ]
    q, f = QdrantActivities(settings), FileActivities(settings)
    p = QueryParsingActivities(settings, in_process_roles=frozenset(roles))
    return WorkerSpec(
        "workflows",
        settings.workflow_task_queue,
        workflows=tuple(ALL_WORKFLOWS),
        activities=(
            p.parse_query,
            CondenseActivities(settings).condense_question,  # a follow-up's context, before ParseQuery
            f.discover_documents,
            q.keyword_search,
            q.merge,
            q.index_chunks,
            q.commit_documents,
            q.optimize_store,
            q.store_stats,
            extractive_answer,  # the query's fallback when Synthesize fails for good
            queue_pollers,  # a step no worker started: a busy queue or an empty one?
            *LifecycleActivities(settings).all(),  # sync pruning, documents and collections
            *ReindexActivities(settings).all(),  # blue/green re-index (workflows/reindex.py)
            f.load_gate,
            # ingest --summarize (workflows/summarize.py): next to the store, which they read
            *SummaryActivities(settings).all(),
            *BatchActivities(settings).all(),
            *FeedbackActivities(settings).all(),  # ratings of answers, beside the store (workflows/feedback.py)
            *TranscriptActivities(settings).all(),  # session transcripts (workflows/session.py)
            *also_local,
        ),
        options={
            "workflow_runner": workflow_runner(),
            # Input no model accepts (a collection named "../x" from a caller that skipped the
            # models) fails its run with the model's message; by default it would fail the
            # workflow task, retried for ever on a payload that can never decode.
            "workflow_failure_exception_types": [ValidationError],
        },
    )
