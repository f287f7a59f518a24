"""ragstate: durable hybrid-RAG pipelines as Temporal workflows.

Shared pieces: settings, pydantic models, analyzer, chunking, fusion, store backends, the
client API and the CLI. Workflows live in ``workflows``, activities in ``activities``, worker
entry points in ``workers``.
"""

from ragstate.models import IngestRequest, IngestResult, RagAnswer, RagQuery
from ragstate.settings import Settings

__all__ = ["IngestRequest", "IngestResult", "RagAnswer", "RagClient", "RagQuery", "Settings"]


def __getattr__(name: str):
    # Import the client lazily: `import ragstate` stays cheap for workflows and workers.
    if name == "RagClient":
        from ragstate.client import RagClient

        return RagClient
    raise AttributeError(name)
