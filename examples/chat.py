"""A conversation with the typed client: a question, a follow-up that needs it, a streamed turn,
the transcript, then the session deleted. Needs a running stack (`ragstate up` in another shell)
and an ingested corpus (`ragstate ingest examples/corpus`).

python examples/chat.py
python examples/chat.py chat-42        # a session id of your own (`ragstate sessions show chat-42`)
"""

import asyncio
import sys

from ragstate import RagClient


async def main(session_id: str | None) -> None:
    rag = await RagClient.connect()  # RAGSTATE_* settings: address, namespace, task queues
    chat = rag.session(session_id)  # one durable RagSession workflow; a new id when None
    print(f"session {chat.id} (workflow {chat.workflow_id})")

    # A message id makes a retry safe: the same id sent again gets the same reply, no new turn.
    first = await chat.ask("What do the BM25 parameters k1 and b control?", message_id="m1")
    print(f"[{first.mode.value}] {first.answer}\n")
    follow = await chat.ask("How are they usually tuned?", message_id="m2")  # carries turn 1
    print(f"[{follow.mode.value}] searched: {follow.standalone_question or '(as asked)'}\n{follow.answer}\n")

    async for event in chat.ask_stream("And what does reciprocal rank fusion add?", message_id="m3"):
        if event.type == "step":
            print(f"· {event.step}")
        elif event.type == "token":
            print(event.text, end="", flush=True)
        elif event.type == "final":
            print(f"\n[{event.answer.mode.value}] {event.answer.answer}\n")
        elif event.type == "error":
            sys.exit(f"failed ({event.error_type}): {event.error}")

    # The transcript lives outside the workflow's history (one JSON line per turn).
    for turn in (await chat.transcript()).turns:
        print(f"turn {turn.turn}: {turn.question} -> {len(turn.citations)} sources, {turn.duration_ms} ms")
    print("UI:", rag.ui_link(chat.workflow_id))

    await chat.delete()  # the session ended and its transcript erased
    print(f"deleted session {chat.id}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
