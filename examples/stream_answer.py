"""Stream an answer as it is produced: steps, then the text, then citations. Needs a running
stack (`ragstate up` in another shell) and an ingested corpus (`ragstate ingest examples/corpus`).

    python examples/stream_answer.py "How does reciprocal rank fusion work?"
"""

import asyncio
import sys

from ragstate import RagClient


async def main(question: str) -> None:
    rag = await RagClient.connect()  # RAGSTATE_* settings: address, namespace, task queues
    async for event in rag.ask_stream(question):
        if event.type == "step":
            if event.step == "synthesizing" and event.detail.get("attempt", 1) > 1:
                print(f"\n(the LLM call is retried, attempt {event.detail['attempt']}: the answer restarts)")
            else:
                print(f"· {event.step} {event.detail}")
        elif event.type == "token":
            print(event.text, end="", flush=True)
        elif event.type == "final":
            answer = event.answer
            print(f"\n\n[{answer.mode.value}]")
            for c in answer.citations:
                print(f"  [{c.number}] {c.title}: {c.snippet[:80]}")
            print("UI:", rag.ui_link(answer.workflow_id, answer.run_id))
        elif event.type == "error":
            sys.exit(f"\nfailed ({event.error_type}): {event.error}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "How does reciprocal rank fusion work?"))
