"""ragstate.client: what the client refuses before anything reaches Temporal."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.errors import RequestTooLargeError
from ragstate.models import IngestRequest
from ragstate.settings import Settings


async def test_an_oversized_ingest_request_is_refused_before_it_reaches_the_server(client: Client, settings: Settings):
    """Before: 3 MB reached the server ("Blob data size exceeds limit"); 1.5 MB went into history."""
    rag = RagClient(client, settings)
    paths = [f"/data/{'x' * 200}/{n}.txt" for n in range(8000)]  # about 1.7 MB as JSON
    with pytest.raises(RequestTooLargeError, match="RAGSTATE_MAX_PAYLOAD_BYTES"):
        await rag.start_ingest(IngestRequest(paths=paths))
    assert [wf async for wf in client.list_workflows(f"TaskQueue = '{settings.workflow_task_queue}'")] == []


def test_the_payload_limit_stays_under_temporals_blob_limit():
    with pytest.raises(ValueError):
        Settings(max_payload_bytes=3 * 1024 * 1024, _env_file=None)
