"""Ingest and ask with the typed client. Needs a running stack: `ragstate up` in another shell.

python examples/ask_with_client.py "What does reciprocal rank fusion do?"
"""

import asyncio
import sys
from pathlib import Path

from ragstate import RagClient


async def main(question: str) -> None:
    rag = await RagClient.connect()  # RAGSTATE_* settings: address, namespace, task queues
    result = await rag.ingest([str(Path(__file__).parent / "corpus")])
    print(f"{result.documents} documents, {result.chunks} chunks, {result.failed} failed")

    answer = await rag.ask(question)  # a RagAnswer (pydantic)
    print(f"[{answer.mode.value}] {answer.answer}")
    for c in answer.citations:
        print(f"  [{c.number}] {c.title}: {c.snippet[:80]}")
    print("steps:", ", ".join(f"{t.step} {t.duration_ms:.0f} ms" for t in answer.timings))
    print("UI:", rag.ui_link(answer.workflow_id, answer.run_id))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "What does reciprocal rank fusion do?"))
