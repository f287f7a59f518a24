"""`ragstate mcp` end to end: the official MCP SDK's own client (stdio and streamable HTTP,
``ClientSession``) against the server started as a person starts it, on the real dev server
with real workers and examples/corpus ingested: an agent-style loop (examples/mcp_agent.py),
bad input as tool errors, the API key, and one run per request id."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
from entry_points import stop
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from paths import EXAMPLES_CORPUS, ROOT
from temporalio.client import Client

from ragstate.mcp.inputs import ingest_request, query_run_id, rag_query, source_prefix
from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port
from ragstate.testing import RAGSTATE, process_env, run_cli_in_process
from ragstate.testing.probes import http_answer, wait_for
from ragstate.workers.runtime import running_workers

KEY = "mcp-test-key"


def _example():
    spec = importlib.util.spec_from_file_location("mcp_agent", ROOT / "examples" / "mcp_agent.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@contextlib.asynccontextmanager
async def stdio_session(settings: Settings) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=RAGSTATE, args=["mcp"], env=process_env(settings))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@contextlib.contextmanager
def mcp_process(settings: Settings, port: int) -> Iterator[subprocess.Popen]:
    """`ragstate mcp --http` with the gateway's API key, killed afterwards."""
    env = process_env(settings, RAGSTATE_GATEWAY_API_KEYS=KEY)
    process = subprocess.Popen([RAGSTATE, "mcp", "--http", "--port", str(port)], env=env)
    try:
        yield process
    finally:
        stop(process)


@contextlib.asynccontextmanager
async def http_server(settings: Settings) -> AsyncIterator[str]:
    """The server on a free port; its /mcp URL once it answers."""
    port = free_port()
    with mcp_process(settings, port) as process:
        # Without a key: 401 (the gateway's error body), before the SDK sees the request.
        _, body = await wait_for(lambda: http_answer(port, "/mcp", 401), 60, "the MCP server", alive=process)
        assert body["error"]["type"] == "Unauthorized"
        yield f"http://127.0.0.1:{port}/mcp"


@contextlib.asynccontextmanager
async def http_session(url: str, key: str = KEY) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers={"x-api-key": key}, timeout=120) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def tool_error(session: ClientSession, tool: str, args: dict) -> str:
    result = await session.call_tool(tool, args)
    assert result.is_error, (tool, args, result)
    return result.content[0].text  # type: ignore[union-attr]


async def runs_of(client: Client, workflow_id: str) -> int:
    return len([w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


@pytest.mark.timeout(300)
async def test_agent_session_over_stdio(client: Client, corpus_settings: Settings, tmp_path: Path):
    """List tools, search, ask about the top source (with progress), read its document; ingest
    and follow it; bad input is a tool error with the CLI's message, and nothing starts for it."""
    shutil.copy(EXAMPLES_CORPUS / "bm25.md", tmp_path / "bm25.md")
    async with running_workers(client, corpus_settings), stdio_session(corpus_settings) as session:
        started = await session.call_tool("ingest", {"paths": [str(tmp_path)], "collection": "mcp-ingest"})
        assert not started.is_error and started.structured_content, started.content
        ingest_id = started.structured_content["workflow_id"]
        transcript = await _example().agent_session(session, request_id="stdio-agent-1")
        assert transcript[0] == "> tools/list -> ask, chat, search, ingest_status, documents, ingest, feedback"
        assert any(line.startswith("  progress 4/4") for line in transcript), transcript
        assert any("bm25.md" in line and "chunks" in line for line in transcript), transcript
        assert "question is empty" in await tool_error(session, "ask", {"question": "  "})
        assert "top_k must be between 1 and" in await tool_error(session, "search", {"question": "BM25", "top_k": 0})
        assert "invalid collection name" in await tool_error(session, "ask", {"question": "x", "collection": "../x"})
        assert "request_id must be" in await tool_error(session, "ask", {"question": "x", "request_id": "a b"})
        assert "absolute path" in await tool_error(session, "ingest", {"paths": ["docs"]})

        # A conversation: the follow-up is a second turn of the same session; sent again, the same reply.
        first = (await session.call_tool("chat", {"question": "What is BM25?"})).structured_content
        assert first and first["turn"] == 1 and first["citations"], first
        follow = {"question": "How are its parameters tuned?", "session_id": first["session_id"], "message_id": "f1"}
        second = (await session.call_tool("chat", follow)).structured_content
        again = (await session.call_tool("chat", follow)).structured_content
        assert second and again and (second["turn"], again["turn"], again["answer"]) == (2, 2, second["answer"])
        assert "invalid id" in await tool_error(session, "chat", {"question": "x", "session_id": "../x"})
        assert "no query with workflow id" in await tool_error(session, "feedback", {"query_id": "nope", "good": True})
        listing = (
            await session.call_tool("documents", {"source_prefix": str(EXAMPLES_CORPUS / "faq.jsonl")})
        ).structured_content
        assert (
            listing
            and listing["total"] == 3
            and listing["documents"][0]["resource"].startswith("ragstate://documents/")
        )

        async def ingested() -> dict | None:
            status = (await session.call_tool("ingest_status", {"workflow_id": ingest_id})).structured_content
            return status if status and status["state"] != "running" else None

        status = await wait_for(ingested, 60, "the ingest started through MCP")
        assert (status["state"], status["result"]["documents"], status["result"]["failed"]) == ("completed", 1, 0)
        assert "no ingest with workflow id" in await tool_error(session, "ingest_status", {"workflow_id": "nope"})
    save_transcript(transcript)


def save_transcript(lines: list[str]) -> None:
    """With RAGSTATE_MCP_TRANSCRIPT=FILE, the agent session's transcript (docs/mcp.md's comes from here)."""
    if path := os.environ.get("RAGSTATE_MCP_TRANSCRIPT"):
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.timeout(300)
async def test_http_needs_the_key_and_one_request_id_is_one_run(client: Client, corpus_settings: Settings):
    """Over streamable HTTP: 401 without the key (http_server), a wrong key too; the agent loop;
    the same request_id asked twice at once and once more later is one workflow run, one
    answer, which the feedback tool then rates."""
    async with running_workers(client, corpus_settings), http_server(corpus_settings) as url:
        with pytest.raises(Exception):  # noqa: B017 - the SDK's transport error for a 401
            async with http_session(url, key="wrong"):
                pass
        async with http_session(url) as session:
            transcript = await _example().agent_session(session, "How does reciprocal rank fusion combine rankings?")
            assert any(line.startswith("> resources/read ragstate://documents/") for line in transcript), transcript
            args = {"question": "What does reciprocal rank fusion do?", "request_id": "agent-7"}
            first, second = await asyncio.gather(session.call_tool("ask", args), session.call_tool("ask", args))
            again = await session.call_tool("ask", args)
            answers = [r.structured_content for r in (first, second, again)]
            assert all(a is not None for a in answers), [r.content for r in (first, second, again)]
            workflow_id = query_run_id("ask", "agent-7")
            assert {a["workflow_id"] for a in answers} == {workflow_id}  # type: ignore[index]
            assert len({(a["answer"], a["ui_link"]) for a in answers}) == 1  # type: ignore[index]  # the link names the run
            assert await wait_for(lambda: runs_of(client, workflow_id), 10, "the run in the visibility store") == 1
            other = {**args, "question": "What is BM25?"}
            assert "was used for another question" in await tool_error(session, "ask", other)
            rated = await session.call_tool("feedback", {"query_id": workflow_id, "good": True, "note": "clear"})
            record = rated.structured_content
            assert not rated.is_error and record, rated.content
            assert (record["query_id"], record["good"], record["note"]) == (workflow_id, True, "clear")
            assert record["cited"] == list(dict.fromkeys(c["doc_id"] for c in answers[0]["citations"]))  # type: ignore[index]
            assert "ingest over HTTP is off" in await tool_error(session, "ingest", {"paths": [str(EXAMPLES_CORPUS)]})


def test_inputs_refuse_what_the_cli_refuses(settings: Settings, tmp_path: Path):
    from mcp.server.mcpserver.exceptions import ToolError

    assert rag_query(settings, "What is BM25?", top_k=2).top_k == 2
    for bad, message in (("", "question is empty"), ("a\x00b", "control characters"), ("\ud800", "not valid UTF-8")):
        with pytest.raises(ToolError, match=message):
            rag_query(settings, bad)
    assert query_run_id("search", None) is None
    with pytest.raises(ToolError, match="request_id"):
        query_run_id("ask", "x" * 101)
    request = ingest_request(["sub/a.md"], None, [tmp_path])
    assert request.paths == [str(tmp_path / "sub" / "a.md")] and request.roots == [str(tmp_path)]
    with pytest.raises(ToolError, match="outside the folders"):
        ingest_request(["/etc/passwd"], None, [tmp_path])
    with pytest.raises(ToolError, match="paths needs 1 to"):
        ingest_request([], None, None)
    assert source_prefix("docs/", [tmp_path]) == f"{tmp_path}/docs/" and source_prefix("/a/b", None) == "/a/b"
    with pytest.raises(ToolError, match="relative"):
        source_prefix("docs/", None)


async def test_cli_refuses_a_public_bind_without_keys_and_names_the_extra(settings: Settings, monkeypatch):
    code, out = await run_cli_in_process(settings, "mcp", "--http", "--host", "0.0.0.0")
    assert code == 1 and "refusing to serve the MCP server on 0.0.0.0 without API keys" in " ".join(out.split())
    for name in [m for m in sys.modules if m == "ragstate.mcp" or m.startswith(("ragstate.mcp.", "mcp.", "mcp"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if the extra were not installed
    code, out = await run_cli_in_process(settings, "mcp")
    assert code == 1 and "pip install 'ragstate[mcp]'" in " ".join(out.split())
