"""One registry for every worker shape (ragstate/workers/registry.py): what each role registers,
the workers build_workers makes from it, the ``replace`` hook, and the Lambda worker's config."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client

from ragstate.contracts import Activity, Workflow
from ragstate.models import StatsRequest, StoreStats
from ragstate.settings import Settings
from ragstate.workers.registry import ALL_ROLES, activity_name, parse_roles, worker_specs
from ragstate.workers.runtime import build_workers


def names(activities) -> set[str]:
    return set(map(activity_name, activities))


LIGHT = {
    Activity.CONDENSE_QUESTION,  # a follow-up's context (workflows/query.py, with history only)
    Activity.PARSE_QUERY,
    Activity.DISCOVER_DOCUMENTS,
    Activity.KEYWORD_SEARCH,
    Activity.MERGE,
    Activity.INDEX_CHUNKS,
    Activity.COMMIT_DOCUMENTS,
    Activity.OPTIMIZE_STORE,
    Activity.STORE_STATS,
    Activity.PRUNE_DOCUMENTS,
    Activity.LIST_DOCUMENTS,
    Activity.DELETE_DOCUMENTS,
    Activity.LIST_COLLECTIONS,
    Activity.DROP_COLLECTION,
    Activity.EXTRACTIVE_ANSWER,
    Activity.QUEUE_POLLERS,
    # the summarize stage (workflows/summarize.py), next to the store
    Activity.PLAN_SUMMARIES,
    Activity.EXTRACTIVE_SUMMARIES,
    Activity.COPY_SUMMARIES,  # a re-index carries summaries over
    Activity.SUMMARIZE_DOCUMENT,
    Activity.CREATE_SUMMARY_BATCH,
    Activity.POLL_SUMMARY_BATCH,
    Activity.COLLECT_SUMMARY_BATCH,
    # blue/green re-index (workflows/reindex.py)
    Activity.PLAN_REINDEX,
    Activity.SWITCH_COLLECTION,
    Activity.DROP_COLLECTION_VERSION,
    Activity.LOAD_GATE,
    # ratings of answers (workflows/feedback.py), beside the store
    Activity.RECORD_FEEDBACK,
    Activity.LIST_FEEDBACK,
    # session transcripts (workflows/session.py), beside the store
    Activity.APPEND_TURN,
    Activity.READ_TRANSCRIPT,
    Activity.ERASE_TRANSCRIPT,
}
MODEL = {Activity.VECTOR_SEARCH, Activity.EMBED_CHUNKS, Activity.STORE_CACHED_ANSWER}


def test_each_role_registers_its_steps_on_its_queue(settings: Settings):
    specs = {s.role: s for s in worker_specs(settings, ALL_ROLES)}
    assert next(iter(specs)) == "workflows"  # the worker the Lambda contrib creates comes first
    assert {role: (s.task_queue, names(s.activities)) for role, s in specs.items()} == {
        # Other roles' steps served by this process also run as local activities of the query workflow.
        "workflows": (settings.workflow_task_queue, LIGHT | {Activity.VECTOR_SEARCH, Activity.SYNTHESIZE}),
        "llm": (settings.llm_task_queue, {Activity.SYNTHESIZE}),
        "embeddings": (settings.embeddings_task_queue, MODEL),
        "gpu-embeddings": (settings.gpu_embeddings_task_queue, MODEL),
    }
    assert {w.__temporal_workflow_definition.name for w in specs["workflows"].workflows} == {
        Workflow.QUERY,
        Workflow.INGEST,
        Workflow.STATS,
        Workflow.LIST_DOCUMENTS,
        Workflow.DELETE_DOCUMENTS,
        Workflow.LIST_COLLECTIONS,
        Workflow.DROP_COLLECTION,
        Workflow.REINDEX,
        Workflow.SUMMARIZE_DOCUMENTS,
        Workflow.FEEDBACK,
        Workflow.LIST_FEEDBACK,
        Workflow.SESSION,
        Workflow.SESSION_TRANSCRIPT,
        Workflow.KEYS,
        Workflow.BUDGET,
    }
    assert not any(s.workflows for role, s in specs.items() if role != "workflows")
    assert specs["llm"].options == {
        "max_concurrent_activities": settings.llm_max_concurrent,
        "max_task_queue_activities_per_second": settings.llm_queue_rate_per_s,
    }
    # Alone, the workflow worker has its own steps, and stand-ins for the local steps of the
    # other roles (another worker's ParseQuery may route them here: activities/elsewhere.py).
    (alone,) = worker_specs(settings, ["workflows"])
    assert names(alone.activities) == LIGHT | {Activity.VECTOR_SEARCH, Activity.SYNTHESIZE}
    stand_ins = {activity_name(a) for a in alone.activities if a.__module__ == "ragstate.activities.elsewhere"}
    assert stand_ins == {Activity.VECTOR_SEARCH, Activity.SYNTHESIZE}
    # None on a queue the step shares with the workflows: it would take the step's tasks.
    shared = settings.model_copy(update={"embeddings_task_queue": settings.workflow_task_queue})
    (alone,) = worker_specs(shared, ["workflows"])
    assert names(alone.activities) == LIGHT | {Activity.SYNTHESIZE}


@activity.defn(name="StoreStats")
def broken_store_stats(req: StatsRequest) -> StoreStats:
    raise RuntimeError("injected")


async def test_build_workers_makes_the_specs_workers_and_replaces_by_name(client: Client, settings: Settings):
    roles = {"workflows", "llm"}
    workers = build_workers(client, settings, roles, replace=[broken_store_stats])
    specs = worker_specs(settings, roles, replace=[broken_store_stats])
    assert [w.task_queue for w in workers] == [s.task_queue for s in specs]
    for worker, spec in zip(workers, specs, strict=True):
        config = worker.config()
        assert names(config["activities"]) == names(spec.activities)
        assert list(config.get("workflows") or []) == list(spec.workflows)
        # The runner is compared by type: the Worker hands it its failure exception types.
        options = {k: v for k, v in spec.options.items() if k != "workflow_runner"}
        assert {k: config[k] for k in options} == options
        if "workflow_runner" in spec.options:
            assert type(config["workflow_runner"]) is type(spec.options["workflow_runner"])
        assert config["graceful_shutdown_timeout"] == timedelta(seconds=settings.worker_shutdown_grace_s)
    assert broken_store_stats in workers[0].config()["activities"]
    assert broken_store_stats not in worker_specs(settings, roles)[0].activities


def test_unknown_roles_are_refused_with_the_choices(settings: Settings):
    with pytest.raises(ValueError, match=r"unknown worker roles \['gpu'\]: choose from"):
        worker_specs(settings, ["workflows", "gpu"])
    assert parse_roles(" workflows, llm ", ALL_ROLES) == ["workflows", "llm"]
    with pytest.raises(Exception, match="subset of workflows,llm \\(unknown: gpu\\)"):
        parse_roles("gpu", ("workflows", "llm"))
