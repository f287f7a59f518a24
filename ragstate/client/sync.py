"""The client without asyncio: :class:`SyncRagClient`, every :class:`~ragstate.client.RagClient`
call, blocking."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator
from typing import TypeVar

from ragstate.client.rag_client import RagClient
from ragstate.client.session import ChatSession
from ragstate.models import (
    FeedbackRecord,
    IngestRequest,
    IngestResult,
    IngestStatus,
    QueryStatus,
    RagAnswer,
    RagQuery,
    RateLimitWait,
    StoreStats,
    StreamEvent,
)
from ragstate.models.session import SessionSummary, Transcript
from ragstate.settings import Settings

T = TypeVar("T")


class SyncRagClient:
    """The client without asyncio: the same calls, blocking (scripts, notebooks, WSGI apps).

    Example::

        from ragstate.client import SyncRagClient

        with SyncRagClient() as rag:                     # settings from RAGSTATE_* env
            rag.ingest(["examples/corpus"])
            print(rag.ask("What is BM25?").answer)
            for event in rag.ask_stream("What does RRF do?"):
                ...

    Design: one private event loop runs in a daemon thread for the client's lifetime, and each
    call is handed to it (``asyncio.run_coroutine_threadsafe``). Chosen over ``asyncio.run``
    per call because that would open a new Temporal connection on every call (a client's
    connection is made on, and used from, one event loop), and because ``asyncio.run`` fails
    where the calling thread already runs a loop (Jupyter, async frameworks); here the call
    blocks that thread but runs on the private loop. The client may be shared by threads;
    calls run concurrently on its loop. Do not call it from its own loop's thread (there is
    no reason to: use :class:`RagClient` in async code).
    """

    def __init__(self, settings: Settings | None = None):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ragstate-sync-client", daemon=True)
        self._thread.start()
        try:
            self.rag: RagClient = self._call(RagClient.connect(settings))
        except BaseException:
            self.close()
            raise

    def _call(self, coro: Coroutine[object, object, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("SyncRagClient called from its own event loop: use RagClient there")
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("SyncRagClient is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @staticmethod
    async def _await(awaitable: Awaitable[T]) -> T:
        return await awaitable

    def ask(self, query: RagQuery | str, workflow_id: str | None = None) -> RagAnswer:
        return self._call(self.rag.ask(query, workflow_id))

    def ask_stream(self, query: RagQuery | str, workflow_id: str | None = None) -> Iterator[StreamEvent]:
        """As :meth:`RagClient.ask_stream`; leaving the loop early leaves the workflow running."""
        return self._iterate(self.rag.ask_stream(query, workflow_id))

    def ingest(self, request: IngestRequest | list[str]) -> IngestResult:
        return self._call(self.rag.ingest(request))

    def get_result(self, workflow_id: str) -> QueryStatus:
        return self._call(self.rag.get_result(workflow_id))

    def ingest_status(self, workflow_id: str) -> IngestStatus:
        return self._call(self.rag.ingest_status(workflow_id))

    def llm_rate_limit(self, workflow_id: str) -> RateLimitWait | None:
        return self._call(self.rag.llm_rate_limit(workflow_id))

    def stats(self, collection: str | None = None) -> StoreStats:
        return self._call(self.rag.stats(collection))

    def feedback(self, query_id: str, good: bool, sources: list[str] = [], note: str = "") -> FeedbackRecord:  # noqa: B006 - as RagClient.feedback
        return self._call(self.rag.feedback(query_id, good, sources, note))

    def feedback_records(self, collection: str | None = None) -> list[FeedbackRecord]:
        return self._call(self.rag.feedback_records(collection))

    def session(self, session_id: str | None = None, collection: str | None = None) -> SyncChatSession:
        """As :meth:`RagClient.session`, blocking: ``ask``, ``ask_stream``, ``transcript``, ``delete``."""
        return SyncChatSession(self, self.rag.session(session_id, collection))

    def _iterate(self, events: AsyncIterator[T]) -> Iterator[T]:
        """An async iterator of the private loop, consumed from this thread."""
        try:
            while True:
                try:
                    item = self._call(self._await(events.__anext__()))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None and not self._loop.is_closed():
                self._call(aclose())

    def ui_link(self, workflow_id: str, run_id: str | None = None) -> str:
        return self.rag.ui_link(workflow_id, run_id)

    def close(self) -> None:
        """Stop the private loop and its thread (idempotent)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SyncRagClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncChatSession:
    """A conversation of :class:`SyncRagClient` (``rag.session()``): each call blocks.

    Example::

        chat = rag.session()
        chat.ask("What is BM25?")
        print(chat.ask("How are its parameters tuned?").answer)
    """

    def __init__(self, client: SyncRagClient, session: ChatSession):
        self._client, self.session = client, session
        self.id = session.id

    def ask(self, question: str, message_id: str | None = None, top_k: int | None = None) -> RagAnswer:
        return self._client._call(self.session.ask(question, message_id, top_k))

    def ask_stream(
        self, question: str, message_id: str | None = None, top_k: int | None = None
    ) -> Iterator[StreamEvent]:
        return self._client._iterate(self.session.ask_stream(question, message_id, top_k))

    def transcript(self) -> Transcript:
        return self._client._call(self.session.transcript())

    def end(self) -> SessionSummary | None:
        return self._client._call(self.session.end())

    def delete(self) -> None:
        self._client._call(self.session.delete())
