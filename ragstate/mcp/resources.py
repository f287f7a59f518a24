"""Documents as MCP resources: ``ragstate://documents/{id}`` (the doc id percent-encoded whole;
``?collection=NAME`` for another collection than the server's) reads the document's title,
source, version and every chunk's text, through the ListDocuments workflow (its ``doc_ids`` and
``with_chunks``): the same run, on the worker that holds the store, as ``ragstate documents list``.

Example::

    await session.read_resource("ragstate://documents/%2Fsrv%2Fdocs%2Fbm25.md")
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer, ResourceSecurity
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from ragstate.errors import RagError
from ragstate.mcp.inputs import collection_name, text_ok
from ragstate.mcp.schemas import DOCUMENT_TEMPLATE
from ragstate.mcp.tools import RagTools


def register_documents(server: MCPServer, tools: RagTools) -> None:
    """The document resource template. A doc id is often an absolute path: the template's
    path-safety checks (meant for servers that open files) are off for it, as the id is only
    looked up in the store, never opened."""

    async def document(id: str, collection: str | None = None) -> str:
        """A document of the index: title, source, version and its chunks' text, in order."""
        try:
            name = collection_name(collection)
            rag = await tools.rag()
            listing = await rag.documents(
                collection=name, doc_ids=[text_ok(id, "the doc id")], with_chunks=True, limit=1
            )
        except ToolError as e:
            raise ResourceError(str(e)) from None
        except RagError as e:
            raise ResourceError(f"{e} (workflow {e.workflow_id})") from None
        if not listing.documents:
            raise ResourceNotFoundError(f"no document {id!r} in collection {listing.collection!r}")
        return listing.documents[0].model_dump_json(indent=1)

    server.resource(
        DOCUMENT_TEMPLATE,
        name="document",
        title="An indexed document",
        description="A document of the index with its chunks and source; id: the doc id (a file's absolute "
        "path, a .jsonl record's id), percent-encoded",
        mime_type="application/json",
        security=ResourceSecurity(exempt_params={"id"}),
    )(document)
