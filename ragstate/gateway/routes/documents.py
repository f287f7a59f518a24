"""``GET /v1/documents`` (a collection's documents, by source prefix) and ``DELETE
/v1/documents/{doc_id}``: the ListDocuments and DeleteDocuments workflows behind the API keys.

A doc id of a file is its absolute path, so ``{doc_id}`` may hold slashes (sent as they are or
as ``%2F``). A relative ``source`` prefix is taken under the first ingest root, as POST
/v1/ingest takes relative paths: the gateway's own working directory means nothing to a caller.

Example::

    curl -s 'localhost:8080/v1/documents?source=/srv/docs/&limit=50' -H 'x-api-key: ...'
    curl -s -X DELETE localhost:8080/v1/documents/%2Fsrv%2Fdocs%2Fold.md -H 'x-api-key: ...'
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ragstate.gateway.deps import GatewayDep
from ragstate.gateway.errors import ApiError, GatewayError
from ragstate.gateway.inputs import check_text
from ragstate.gateway.principal import audit, requires
from ragstate.gateway.schemas import COLLECTION_NAME, documented_errors
from ragstate.gateway.service import Gateway
from ragstate.models import DeleteResult, DocumentList
from ragstate.models.keys import Scope

router = APIRouter(tags=["documents"], dependencies=[requires(Scope.query)])

#: The most one listing returns (ListDocumentsRequest's bound: the result travels through history).
MAX_LIMIT = 10_000

CollectionParam = Annotated[
    str | None,
    Query(
        pattern=COLLECTION_NAME.pattern, description="the collection (default: the deployment's RAGSTATE_COLLECTION)"
    ),
]


def source_prefix(gateway: Gateway, source: str | None) -> str | None:
    """The prefix as the store holds sources: absolute and normalised, a trailing separator kept
    ("docs/" means that folder, not "docs-old/"). Relative: under the first ingest root, or 400
    when there is none."""
    if source is None:
        return None
    check_text(source, "source")
    if not source.strip():
        raise ApiError(GatewayError.INVALID_REQUEST, "source must not be empty")
    if not os.path.isabs(source):
        roots = gateway.config.roots()
        if not roots:
            raise ApiError(
                GatewayError.INVALID_REQUEST,
                "source must be an absolute path (no RAGSTATE_GATEWAY_INGEST_ROOTS to take a relative one under)",
            )
        source = str(roots[0] / source)
    keep_slash = source.endswith(("/", os.sep))
    return os.path.normpath(source) + (os.sep if keep_slash else "")


@router.get(
    "/v1/documents",
    response_model=DocumentList,
    summary="The documents of a collection (id, title, source, chunks, version, ingested at)",
    responses=documented_errors(400, 429, 502, 503),
)
async def list_documents(
    gateway: GatewayDep,
    collection: CollectionParam = None,
    source: Annotated[
        str | None,
        Query(description="only documents whose source starts with this path (relative: under the first ingest root)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="list at most this many; `total` counts all")] = 1000,
) -> Any:
    prefix = source_prefix(gateway, source)
    async with gateway.held():
        rag = await gateway.rag()
        found = await rag.documents(prefix, collection, limit)
    return found.model_copy(update={"collection": rag.tenant_collection(found.collection)})


@router.delete(
    "/v1/documents/{doc_id:path}",
    dependencies=[requires(Scope.admin)],
    response_model=DeleteResult,
    summary="Delete one document (every chunk of it, from keyword and vector search)",
    responses={
        **documented_errors(400, 404, 429, 502, 503),
        404: {**documented_errors(404)[404], "description": "no such document"},
    },
)
async def delete_document(
    doc_id: Annotated[str, Path(description="the document's id (for a file, its absolute path)")],
    gateway: GatewayDep,
    collection: CollectionParam = None,
) -> Any:
    check_text(doc_id, "doc_id")
    if not doc_id:
        raise ApiError(GatewayError.INVALID_REQUEST, "doc_id must not be empty")
    async with gateway.held():
        rag = await gateway.rag()
        result = await rag.delete_document_ids([doc_id], collection)
    target = f"{rag.tenant_collection(result.collection)}/{doc_id}"
    audit("delete document", "deleted" if result.documents else "not found", target=target)
    if result.documents == 0:
        raise ApiError(GatewayError.NOT_FOUND, f"no document {doc_id!r} in collection {collection or 'default'!r}")
    return result.model_copy(update={"collection": rag.tenant_collection(result.collection)})
