"""Conversations through every interface on the real dev server: HTTP (JSON, Server-Sent Events,
the transcript, delete, bad ids, unknown sessions), `ragstate chat` at a piped prompt,
`ragstate sessions list|show|delete`, and SyncRagClient."""

from __future__ import annotations

import json

import pytest
from gateway_client import app_on, assert_error, http
from temporalio.client import Client

from ragstate.client import SyncRagClient
from ragstate.settings import Settings
from ragstate.testing import run_cli_in_process
from ragstate.workers.runtime import running_workers


def _sse(text: str) -> list[tuple[str, dict]]:
    events, kind = [], None
    for line in text.splitlines():
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[len("data: ") :])))
    return events


@pytest.mark.timeout(300)
async def test_sessions_over_http(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    async with running_workers(client, settings), http(app_on(client, settings)) as h:
        r = await h.post("/v1/sessions", json={"session_id": "web-1"})
        assert r.status_code == 201, r.text
        assert r.json()["messages_url"].endswith("/v1/sessions/web-1/messages")

        messages = "/v1/sessions/web-1/messages"
        r = await h.post(messages, json={"question": "What is BM25?", "message_id": "a"})
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["turn"] == 1 and first["answer"]["citations"], first
        again = (await h.post(messages, json={"question": "What is BM25?", "message_id": "a"})).json()
        assert (again["turn"], again["answer"]["answer"]) == (1, first["answer"]["answer"])  # not a second turn

        r = await h.post(
            f"{messages}?stream=true",
            json={"question": "How are its parameters tuned?", "message_id": "b"},
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
        assert r.headers["x-workflow-id"].endswith("-msg-b")
        events = _sse(r.text)
        assert events[0][0] == "step" and events[-1][0] == "final", events
        assert [k for k, _ in events].count("final") == 1

        transcript = (await h.get("/v1/sessions/web-1")).json()
        assert [(t["turn"], t["message_id"]) for t in transcript["turns"]] == [(1, "a"), (2, "b")]

        assert_error(await h.get("/v1/sessions/nobody-here"), 404)
        assert_error(await h.get("/v1/sessions/bad.id"), 400)
        assert_error(await h.post(messages, json={"question": "q", "message_id": "../x"}), 400)
        assert_error(await h.post(messages, json={"question": "x" * 5000}), 400)

        r = await h.delete("/v1/sessions/web-1")
        assert r.status_code == 200 and r.json()["erased"], r.text
        assert (await h.get("/v1/sessions/web-1")).json()["turns"] == []


@pytest.mark.timeout(300)
async def test_chat_at_a_piped_prompt_and_the_sessions_commands(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    async with running_workers(client, settings):
        lines = "What is BM25?\n/sources\nHow are its parameters tuned?\n/history\n/bogus\n/quit\n"
        code, out = await run_cli_in_process(settings, "chat", "--session", "cli-1", stdin=lines)
        assert code == 0, out
        assert "session cli-1" in out and "citations" in out and "unknown command '/bogus'" in out, out
        assert "1. What is BM25?" in out and "2. How are its parameters tuned?" in out, out  # /history

        code, out = await run_cli_in_process(settings, "sessions", "show", "cli-1", "--json")
        assert code == 0 and len(json.loads(out)["turns"]) == 2, out
        code, out = await run_cli_in_process(settings, "sessions", "list", "--json")
        assert code == 0 and "cli-1" in {s["session_id"] for s in json.loads(out)}, out
        code, out = await run_cli_in_process(settings, "sessions", "delete", "cli-1")
        assert code == 0 and "transcript erased" in out, out
        code, out = await run_cli_in_process(settings, "sessions", "show", "../x")
        assert code == 1 and "invalid id" in out, out


@pytest.mark.timeout(300)
async def test_the_sync_client_holds_a_conversation(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    async with running_workers(client, settings):

        def converse() -> tuple[str, list[str], int]:
            with SyncRagClient(settings) as rag:
                chat = rag.session("sync-1")
                first = chat.ask("What is BM25?").answer
                kinds = [e.type.value for e in chat.ask_stream("How are its parameters tuned?")]
                turns = len(chat.transcript().turns)
                chat.delete()
                return first, kinds, turns

        import asyncio

        first, kinds, turns = await asyncio.to_thread(converse)
    assert first and kinds[-1] == "final" and turns == 2, (first, kinds, turns)
