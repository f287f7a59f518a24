"""The MCP tools: ``ask``, ``search``, ``chat`` (a turn of a durable conversation), ``ingest``,
``ingest_status``, ``documents`` and ``feedback``, each a thin layer over
:class:`~ragstate.client.RagClient` (a tool call is a workflow run). Arguments are checked by
:mod:`.inputs`; every failure is a tool error (``isError``) with the CLI's message.

Example::

    tools = RagTools(Settings(), RagClient.connect)
    tools.register(server)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field
from temporalio.service import RPCError

from ragstate.client import RagClient
from ragstate.errors import RagError, RequestTooLargeError
from ragstate.mcp.inputs import collection_name, ingest_request, query_run_id, rag_query, text_ok
from ragstate.mcp.inputs import source_prefix as source_prefix_of
from ragstate.mcp.runs import run_query, tool_error
from ragstate.mcp.schemas import AskResult, ChatResult, CitedSource, IngestRun, RankedSource, SearchResult, document_uri
from ragstate.models import DocumentList, FeedbackRecord, IngestStatus, RagAnswer
from ragstate.models.session import SessionMessage
from ragstate.settings import Settings

RagFactory = Callable[[Settings], Awaitable[RagClient]]

Question = Annotated[str, Field(description="the question, in words")]
TopK = Annotated[int | None, Field(description="how many sources (default: the deployment's RAGSTATE_DEFAULT_TOP_K)")]
CollectionArg = Annotated[str | None, Field(description="the collection (default: the server's RAGSTATE_COLLECTION)")]
RequestId = Annotated[
    str | None,
    Field(
        description="your id for this call: asked again with the same id (say after a disconnect), the "
        "same run answers instead of a second one"
    ),
]


class DocumentItem(BaseModel):
    doc_id: str
    title: str
    source: str
    chunks: int
    ingested_at: str | None
    resource: str = Field(description="the document as an MCP resource (its chunks)")


class DocumentsResult(BaseModel):
    collection: str
    total: int = Field(description="documents that matched, listed or not")
    documents: list[DocumentItem]


class RagTools:
    """The tools over one lazily connected client (the server starts, and lists its tools, while
    Temporal is still unreachable). ``ingest_roots`` None: ingest reads any absolute path (stdio);
    a list: only under those folders (HTTP; empty: no ingest)."""

    def __init__(self, settings: Settings, connect: RagFactory, ingest_roots: list[Path] | None = None):
        self.settings = settings
        self.connect = connect
        self.ingest_roots = ingest_roots
        self._rag: RagClient | None = None
        self._lock = asyncio.Lock()

    async def rag(self) -> RagClient:
        async with self._lock:
            if self._rag is None:
                try:
                    rag = await self.connect(self.settings)
                    # RAGSTATE_TENANT: the agent acts for that tenant only (its runs, its namespace).
                    self._rag = rag.for_tenant(self.settings.tenant) if self.settings.tenant else rag
                except (RuntimeError, RPCError, OSError) as e:
                    raise ToolError(
                        f"cannot reach Temporal at {self.settings.temporal_address} ({e}). Start it with "
                        "`ragstate up`, or set RAGSTATE_TEMPORAL_ADDRESS."
                    ) from None
            return self._rag

    async def ask(
        self,
        question: Question,
        ctx: Context,
        top_k: TopK = None,
        collection: CollectionArg = None,
        request_id: RequestId = None,
    ) -> AskResult:
        """Answer a question from the indexed documents, citing them as [n]: the answer, its
        citations (each with the document's resource URI), mode, cost and the run's Temporal UI link."""
        query = rag_query(self.settings, question, top_k, collection)
        rag = await self.rag()
        answer = await run_query(rag, query, query_run_id("ask", request_id), ctx, total=4)
        return AskResult(**self._answered(rag, answer, collection))

    async def chat(
        self,
        question: Question,
        session_id: Annotated[
            str | None, Field(description="the conversation (default: a new one, whose id is returned)")
        ] = None,
        message_id: Annotated[
            str | None, Field(description="your id for this message: sent again, the same reply")
        ] = None,
        collection: CollectionArg = None,
    ) -> ChatResult:
        """The next question of a conversation: follow-ups ("and how is it tuned?") are searched
        as the standalone questions they stand for, and the answer sees the earlier turns."""
        query = rag_query(self.settings, question, None, collection)
        rag = await self.rag()
        try:
            chat = rag.session(session_id, query.collection)
            reply = await chat.send(
                SessionMessage(message_id=message_id or uuid.uuid4().hex[:16], question=query.question)
            )
        except ValueError as e:
            raise ToolError(str(e)) from None
        except (RagError, RequestTooLargeError) as e:
            raise tool_error(rag, e) from None
        answer = reply.answer
        return ChatResult(
            **self._answered(rag, answer, collection),
            session_id=chat.id,
            turn=reply.turn,
            message_id=reply.message_id,
            standalone_question=answer.standalone_question if answer.standalone_question != question else "",
        )

    @staticmethod
    def _answered(rag: RagClient, answer: RagAnswer, collection: str | None) -> dict[str, Any]:
        """An answer's fields as the ask and chat tools return them."""
        return dict(
            answer=answer.answer,
            citations=[
                CitedSource(
                    **c.model_dump(include=set(CitedSource.model_fields)), resource=document_uri(c.doc_id, collection)
                )
                for c in answer.citations
            ],
            mode=answer.mode,
            cost=answer.cost,
            degraded=answer.degraded,
            degraded_reasons=answer.degraded_reasons,
            no_answer=answer.no_answer,
            workflow_id=answer.workflow_id,
            ui_link=rag.ui_link(answer.workflow_id, answer.run_id),
        )

    async def search(
        self,
        question: Question,
        ctx: Context,
        top_k: TopK = None,
        collection: CollectionArg = None,
        request_id: RequestId = None,
    ) -> SearchResult:
        """Retrieval only, no LLM: the passages that best match, ranked (dense vectors and BM25
        fused), each with its text and its document's resource URI."""
        query = rag_query(self.settings, question, top_k, collection, synthesize=False)
        rag = await self.rag()
        answer = await run_query(rag, query, query_run_id("search", request_id), ctx, total=3)
        hits = answer.ranking[: top_k or self.settings.default_top_k]
        texts: dict[str, str] = {}
        docs: dict[str, tuple[str, str]] = {}
        if hits:  # the passages' text, read by the ListDocuments workflow
            try:
                listing = await rag.documents(
                    collection=query.collection,
                    doc_ids=list(dict.fromkeys(h.doc_id for h in hits)),
                    with_chunks=True,
                    chunk_ids=[h.chunk_id for h in hits],
                )
            except RagError as e:
                raise tool_error(rag, e) from None
            for d in listing.documents:
                docs[d.doc_id] = (d.title, d.source)
                texts.update({c.chunk_id: c.text for c in d.content or []})
        return SearchResult(
            sources=[
                RankedSource(
                    rank=i,
                    doc_id=h.doc_id,
                    chunk_id=h.chunk_id,
                    title=docs.get(h.doc_id, ("", ""))[0],
                    source=docs.get(h.doc_id, ("", ""))[1],
                    text=texts.get(h.chunk_id, ""),
                    score=h.score,
                    resource=document_uri(h.doc_id, collection),
                )
                for i, h in enumerate(hits, 1)
            ],
            workflow_id=answer.workflow_id,
            ui_link=rag.ui_link(answer.workflow_id, answer.run_id),
        )

    async def ingest(
        self,
        paths: Annotated[list[str], Field(description="files or folders on the workers' machine (absolute paths)")],
        collection: CollectionArg = None,
        summarize: Annotated[bool, Field(description="an LLM summary of each document, stored and searchable")] = False,
    ) -> IngestRun:
        """Start indexing files or folders (.txt .md .html, BEIR .jsonl); returns at once with the
        run's id: follow it with ingest_status. The same paths and collection join a running ingest."""
        request = ingest_request(paths, collection, self.ingest_roots, summarize)
        rag = await self.rag()
        handle = await rag.start_ingest(request, origin="MCP")
        return IngestRun(workflow_id=handle.id, state="running", ui_link=rag.ui_link(handle.id))

    async def ingest_status(
        self, workflow_id: Annotated[str, Field(description="the id the ingest tool returned")]
    ) -> IngestRun:
        """Where an ingest stands: running with its progress, completed with its result (documents,
        chunks, failures each with its reason), or failed."""
        rag = await self.rag()
        try:
            status: IngestStatus = await rag.ingest_status(text_ok(workflow_id, "workflow_id"))
        except RagError as e:
            raise ToolError(str(e)) from None
        return IngestRun(**status.model_dump(), ui_link=rag.ui_link(workflow_id))

    async def documents(
        self,
        source_prefix: Annotated[
            str | None, Field(description="only documents whose source starts with this path")
        ] = None,
        collection: CollectionArg = None,
        limit: Annotated[int, Field(ge=1, le=10_000, description="list at most this many")] = 100,
    ) -> DocumentsResult:
        """The documents of a collection: id, title, source, chunks, when ingested, resource URI."""
        collection = collection_name(collection)
        prefix = source_prefix_of(source_prefix, self.ingest_roots)
        rag = await self.rag()
        listing: DocumentList = await rag.documents(prefix, collection, limit)
        return DocumentsResult(
            collection=listing.collection,
            total=listing.total,
            documents=[
                DocumentItem(
                    **d.model_dump(include=set(DocumentItem.model_fields)), resource=document_uri(d.doc_id, collection)
                )
                for d in listing.documents
            ],
        )

    async def feedback(
        self,
        query_id: Annotated[str, Field(description="the workflow_id an ask returned")],
        good: Annotated[bool, Field(description="whether the answer was good")],
        sources: Annotated[list[str], Field(description="doc ids it should have cited")] = [],  # noqa: B006 - copied by the client
        note: Annotated[str, Field(description="what was wrong or right, in a few words")] = "",
    ) -> FeedbackRecord:
        """Rate a finished answer (stored durably with the question, what it cited and your note)."""
        rag = await self.rag()
        try:
            return await rag.feedback(text_ok(query_id, "query_id"), good, sources, text_ok(note, "note"))
        except RagError as e:
            raise ToolError(str(e)) from None

    def register(self, server: MCPServer) -> None:
        """Add every tool to ``server``; reads are marked read-only, ingest and feedback are not."""
        reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
        writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
        tools: list[tuple[Callable[..., Any], ToolAnnotations]] = [
            (self.ask, reads),
            (self.chat, writes),
            (self.search, reads),
            (self.ingest_status, reads),
            (self.documents, reads),
            (self.ingest, writes),
            (self.feedback, writes),
        ]
        for tool, hints in tools:
            server.add_tool(tool, annotations=hints, structured_output=True)
