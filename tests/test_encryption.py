"""Payload encryption end to end: with keys set, neither the server's database nor any history
holds a question, a chunk or an answer; the runs replay with a rotated key set; the codec
server decodes them for a valid credential only."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from paths import EXAMPLES_CORPUS
from pydantic import SecretStr
from temporalio.api.common.v1 import Payloads
from temporalio.worker import Replayer

from ragstate.client import RagClient
from ragstate.security.codec import codec_for, data_converter
from ragstate.security.codec_server import create_codec_app
from ragstate.security.tenant_keys import KeyResolver
from ragstate.settings import Settings
from ragstate.temporal.connection import connect
from ragstate.temporal.devserver import DevServer, free_port
from ragstate.workers.runtime import running_workers
from ragstate.workflows import ALL_WORKFLOWS

QUESTION = "What do the BM25 parameters k1 and b control?"
#: A sentence of examples/corpus/bm25.md, which the ingest chunks and the answer quotes.
CHUNK_TEXT = "controls how quickly repeated occurrences of a term stop adding to the score"
SECRETS = (QUESTION, "BM25 parameters", CHUNK_TEXT, "Karen Sp")


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def leaks(blob: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in blob]


@pytest.mark.timeout(300)
async def test_nothing_readable_in_the_database_or_histories_and_replay_after_rotation(tmp_path: Path):
    old_key = new_key("k1")
    server = DevServer(tmp_path / "server", port=free_port(), ui_port=free_port())
    settings = Settings(
        data_dir=tmp_path / "data",
        collection="secret",
        payload_keys=old_key,
        _env_file=None,
        temporal_address="placeholder",
    )
    with server:
        settings = settings.model_copy(update={"temporal_address": server.address})
        client = await connect(settings)
        rag = RagClient(client, settings)
        async with running_workers(client, settings):
            result = await rag.ingest([str(EXAMPLES_CORPUS)])
            answer = await rag.ask(QUESTION)
        assert result.documents == 8 and CHUNK_TEXT in answer.answer  # decrypted for the client itself

        histories = [
            await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
            async for wf in client.list_workflows()
        ]
        assert len(histories) >= 2  # the ingest and the query
        words = {w.strip("?").lower() for w in QUESTION.split() if len(w) > 3}
        for history in histories:
            assert leaks(history.to_json().encode()) == [], history.workflow_id
            assert not words & set(history.workflow_id.lower().split("-")), history.workflow_id

        rotated = settings.model_copy(update={"payload_keys": SecretStr(f"{new_key('k2')},{old_key}")})
        replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=data_converter(rotated))
        for history in histories:
            await replayer.replay_workflow(history)

        codec = codec_for(rotated)
        assert codec is not None
        app = create_codec_app(codec, KeyResolver(["ui-token"]), allowed_hosts=["codec"])
        query_history = next(h for h in histories if h.workflow_id == answer.workflow_id)
        start = query_history.events[0].workflow_execution_started_event_attributes.input
        body = json_format.MessageToDict(start)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
            assert (await http.post("/decode", json=body)).status_code == 401
            decoded = await http.post("/decode", json=body, headers={"Authorization": "Bearer ui-token"})
        assert QUESTION in json_format.ParseDict(decoded.json(), Payloads()).payloads[0].data.decode()

    database = b"".join(p.read_bytes() for p in (tmp_path / "server").glob("temporal.db*"))
    assert len(database) > 100_000
    assert leaks(database) == []
