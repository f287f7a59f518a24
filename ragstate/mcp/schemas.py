"""What the MCP tools return (their output schemas) and the document resource's URI.

Each is a pydantic model, so a tool's result is structured content an agent can rely on, with
the same JSON as text beside it for clients that read only text.

Example::

    document_uri("/srv/docs/bm25.md")          # 'ragstate://documents/%2Fsrv%2Fdocs%2Fbm25.md'
"""

from __future__ import annotations

from urllib.parse import quote

from pydantic import BaseModel, Field

from ragstate.models import AnswerMode, Cost, IngestStatus

#: The document resource: a doc id (a file's absolute path, a record's id) percent-encoded whole.
DOCUMENT_TEMPLATE = "ragstate://documents/{id}{?collection}"


def document_uri(doc_id: str, collection: str | None = None) -> str:
    """The resource URI of a document (``collection``: other than the server's default)."""
    uri = f"ragstate://documents/{quote(doc_id, safe='')}"
    return f"{uri}?collection={quote(collection, safe='')}" if collection else uri


class CitedSource(BaseModel):
    """One source an answer cites as ``[number]``."""

    number: int
    doc_id: str
    title: str
    source: str = Field(description="the file (or .jsonl) the document came from")
    snippet: str = Field(description="the cited span, or the start of the passage")
    score: float
    resource: str = Field(description="the document as an MCP resource (its chunks and source)")


class AskResult(BaseModel):
    """An answer with its citations, how it was produced and what it cost."""

    answer: str
    citations: list[CitedSource]
    mode: AnswerMode = Field(description="llm, offline-extractive (no API key: quoted sentences) or retrieval-only")
    cost: Cost
    degraded: bool = Field(description="a step failed and the answer was made without it (degraded_reasons)")
    degraded_reasons: list[str]
    no_answer: bool = Field(description="nothing retrieved supports an answer: the answer says so")
    workflow_id: str = Field(description="the query run; the same request_id gets the same run")
    ui_link: str = Field(description="the run in the Temporal UI: every step with its inputs, retries and timings")


class ChatResult(AskResult):
    """A turn of a conversation: its answer, and where it stands in its session."""

    session_id: str = Field(description="pass it again for the next turn: follow-ups keep their context")
    turn: int
    message_id: str = Field(description="sent again with the same session, the same reply (no second turn)")
    standalone_question: str = Field(description="the follow-up as retrieval searched it ('' if unchanged)")


class RankedSource(BaseModel):
    """One passage of a retrieval-only search, best first."""

    rank: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    text: str = Field(description="the passage as indexed ('' if its document changed since the search)")
    score: float = Field(description="the fused score of both branches (RAGSTATE_FUSION_METHOD)")
    resource: str = Field(description="the document as an MCP resource")


class SearchResult(BaseModel):
    """Hybrid retrieval (vectors and BM25, fused) without an LLM call."""

    sources: list[RankedSource]
    workflow_id: str
    ui_link: str


class IngestRun(IngestStatus):
    """An ingest run: running with its progress, completed with its result, or failed."""

    ui_link: str = ""
