"""A small typed client: connect, ingest and ask, returning pydantic models.

Example::

    import asyncio
    from ragstate import RagClient

    async def main():
        rag = await RagClient.connect()                  # settings from RAGSTATE_* env
        await rag.ingest(["examples/corpus"])
        answer = await rag.ask("What does reciprocal rank fusion do?")
        print(answer.answer, [c.title for c in answer.citations])

        async for event in rag.ask_stream("What is BM25?"):   # steps, tokens, then final/error
            if event.type == "token":
                print(event.text, end="", flush=True)

    asyncio.run(main())

Without asyncio, :class:`SyncRagClient` offers the same calls, blocking.

Failures raise :class:`RagError` or its subclass for the failure's type:
:class:`InvalidQueryError` (``InvalidQuery``), :class:`RetrievalFailedError`
(``RetrievalFailed``), :class:`LLMUnavailableError` (``LLMUnavailable``: the API stayed
unreachable or overloaded through every retry) and its subclass :class:`LLMRateLimitedError`
(``LLMRateLimited``: it kept answering 429), :class:`LLMRejectedError` (``LLMRequestRejected``:
key, permission, model or request refused), :class:`RunNotFoundError` (no such run, or a run of
another kind). While a run is still retrying, :meth:`RagClient.llm_rate_limit` says whether its
LLM step is waiting out a rate limit, and for how long.
"""

from __future__ import annotations

from ragstate.client.feedback import FeedbackCalls
from ragstate.client.index import IndexCalls
from ragstate.client.ingests import IngestCalls
from ragstate.client.queries import QueryCalls
from ragstate.client.session import SessionCalls
from ragstate.client.tenants import TenantCalls
from ragstate.settings import Settings
from ragstate.temporal.connection import connect


class RagClient(QueryCalls, IngestCalls, IndexCalls, FeedbackCalls, SessionCalls, TenantCalls):
    """The typed client (module docstring for usage): query, ingest, index, feedback, session and
    tenant calls, each group in its own module over one shared :class:`~ragstate.client.base.ClientBase`.
    :meth:`for_tenant` gives the same client acting for one tenant."""

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> RagClient:
        settings = settings or Settings()
        return cls(await connect(settings), settings)
