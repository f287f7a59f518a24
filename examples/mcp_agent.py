"""An agent-style session with `ragstate mcp`, through the official MCP SDK's own client: list
the tools, search, ask about the top source, then read that document's resource. It prints
the transcript (docs/mcp.md shows one).

Run it against a local stack (`make demo`'s, or `ragstate up` and `ragstate ingest examples/corpus`)::

    python examples/mcp_agent.py "What do the BM25 parameters k1 and b control?"

tests/test_mcp.py runs :func:`agent_session` on both transports.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

QUESTION = "What do the BM25 parameters k1 and b control?"


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def agent_session(session: ClientSession, question: str = QUESTION, request_id: str | None = None) -> list[str]:
    """The loop an agent runs; returns the transcript, one line per message, and fails (an
    AssertionError) when a step does not give the next one what it needs."""
    lines: list[str] = []
    tools = (await session.list_tools()).tools
    lines.append(f"> tools/list -> {', '.join(t.name for t in tools)}")

    found = await session.call_tool("search", {"question": question, "top_k": 3})
    assert not found.is_error and found.structured_content, found.content
    sources = found.structured_content["sources"]
    lines.append(f"> tools/call search {json.dumps({'question': question, 'top_k': 3})}")
    for s in sources:
        lines.append(f"  [{s['rank']}] {s['title']} (score {s['score']:.4f}): {_short(s['text'], 80)}")
    assert sources, "search found nothing"
    top = sources[0]

    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(f"{done:g}/{total:g} {message}")

    follow_up = f"{question} (about {top['title']})"
    args = {"question": follow_up, **({"request_id": request_id} if request_id else {})}
    asked = await session.call_tool("ask", args, progress_callback=on_progress)
    assert not asked.is_error and asked.structured_content, asked.content
    answer = asked.structured_content
    lines.append(f"> tools/call ask {json.dumps(args)}")
    lines.extend(f"  progress {p}" for p in progress)
    lines.append(f"  mode: {answer['mode']}, cost: ${answer['cost']['usd']:.4f}")
    lines.append(f"  answer: {_short(answer['answer'], 300)}")
    lines.extend(f"  [{c['number']}] {c['title']} -> {c['resource']}" for c in answer["citations"])
    lines.append(f"  run: {answer['ui_link']}")

    read = await session.read_resource(top["resource"])
    document = json.loads(read.contents[0].text)  # type: ignore[union-attr]  # a text resource
    lines.append(f"> resources/read {top['resource']}")
    lines.append(
        f"  {document['title']} ({document['source']}), {document['chunks']} chunks, version {document['version']}"
    )
    lines.extend(f"  #{c['position']}: {_short(c['text'], 90)}" for c in document["content"][:3])
    return lines


async def main(question: str) -> None:
    ragstate = str(Path(sys.executable).with_name("ragstate"))
    params = StdioServerParameters(command=ragstate, args=["mcp"])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        print("\n".join(await agent_session(session, question)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else QUESTION))
