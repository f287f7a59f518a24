"""ragstate: durable hybrid-RAG pipelines as Temporal workflows.

Example::

    from ragstate import InvalidQueryError, RagClient, SyncRagClient

    rag = await RagClient.connect()                  # settings from RAGSTATE_* env
    answer = await rag.ask("What does RRF do?")
    print(SyncRagClient().ask("What is BM25?").answer)  # the same without asyncio

Shared pieces live here: settings, pydantic models, contracts (names every part agrees on),
errors, analyzer, chunking, fusion, store backends, the client API and the CLI. Workflows are
installed as ``ragstate.workflows``, activities as ``ragstate.activities`` and worker entry
points as ``ragstate.workers`` (the folders ``workflows/``, ``activities/`` and ``workers/`` of
the repository), so a project's own ``workflows`` package is never shadowed.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

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
from ragstate.models import IngestRequest, IngestResult, RagAnswer, RagQuery
from ragstate.settings import Settings

if TYPE_CHECKING:
    from ragstate.client import RagClient, SyncRagClient

try:
    __version__ = version("ragstate")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "IngestRequest",
    "IngestResult",
    "InvalidQueryError",
    "LLMRateLimitedError",
    "LLMRejectedError",
    "LLMUnavailableError",
    "RagAnswer",
    "RagClient",
    "RagError",
    "RagQuery",
    "RequestTooLargeError",
    "RetrievalFailedError",
    "RunNotFoundError",
    "Settings",
    "SyncRagClient",
    "__version__",
]

_LAZY = {"RagClient", "SyncRagClient"}


def __getattr__(name: str) -> Any:
    # The clients load lazily: `import ragstate` stays cheap for workflows and workers.
    if name in _LAZY:
        from ragstate import client

        return getattr(client, name)
    raise AttributeError(f"module 'ragstate' has no attribute {name!r}")
