"""The Python client: :class:`RagClient` (asyncio) and :class:`SyncRagClient` (blocking).

Example::

    from ragstate.client import RagClient, SyncRagClient

    rag = await RagClient.connect()                      # settings from RAGSTATE_* env
    print((await rag.ask("What is BM25?")).answer)
    print(SyncRagClient().ask("What does RRF do?").answer)

Modules: :mod:`.rag_client` (the client), :mod:`.sync` (its blocking wrapper),
:mod:`.ingest_progress` (live ingest progress for the CLI). The error classes are re-exported
here because ``ragstate.client`` was their home before :mod:`ragstate.errors`.
"""

from ragstate.client.base import NOT_FOUND
from ragstate.client.rag_client import RagClient
from ragstate.client.sync import SyncRagClient
from ragstate.errors import (
    InvalidQueryError,
    LLMRateLimitedError,
    LLMRejectedError,
    LLMUnavailableError,
    RagError,
    RequestTooLargeError,
    RetrievalFailedError,
    RunNotFoundError,
)

__all__ = [
    "NOT_FOUND",
    "InvalidQueryError",
    "LLMRateLimitedError",
    "LLMRejectedError",
    "LLMUnavailableError",
    "RagClient",
    "RagError",
    "RequestTooLargeError",
    "RetrievalFailedError",
    "RunNotFoundError",
    "SyncRagClient",
]
