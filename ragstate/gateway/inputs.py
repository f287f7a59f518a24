"""Request bodies checked and turned into workflow inputs, before anything starts: the query by
ParseQuery's own rules (:func:`ragstate.validation.validate`), ingest paths against the roots
the gateway may name.

Example::

    query = rag_query(QueryRequest(question="What is BM25?"), Settings())     # or ApiError 400
    ingest = ingest_request(IngestBody(paths=["docs"]), roots=[Path("/srv/shared")])
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from ragstate.contracts import ErrorType
from ragstate.gateway.errors import ApiError, GatewayError
from ragstate.gateway.schemas import COLLECTION_NAME, MAX_INGEST_PATHS, IngestBody, QueryRequest
from ragstate.models import IngestRequest, RagQuery
from ragstate.settings import Settings
from ragstate.validation import InvalidQuery, validate


def _invalid(message: str) -> ApiError:
    return ApiError(GatewayError.INVALID_REQUEST, message)


def check_text(value: str, name: str, control: bool = True) -> None:
    """Strings go into workflow history as JSON: no lone surrogates; and, with ``control``, no
    control characters (the question's own rules are :func:`ragstate.validation.validate`'s)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(f"{name} is not valid Unicode (lone surrogate)") from None
    if control and any(unicodedata.category(c) == "Cc" for c in value):
        raise _invalid(f"{name} contains control characters; remove them")


def rag_query(body: QueryRequest, settings: Settings) -> RagQuery:
    check_text(body.question, "question", control=False)
    for name in ("sources", "doc_ids"):
        for value in getattr(body, name) or ():
            check_text(value, name)
    query = RagQuery(question=body.question, top_k=body.top_k, sources=body.sources, doc_ids=body.doc_ids)
    try:
        validate(query, settings)
    except InvalidQuery as e:
        raise ApiError(ErrorType.INVALID_QUERY, str(e)) from None
    return query


def ingest_request(body: IngestBody, roots: list[Path]) -> IngestRequest:
    """Relative paths are taken under the first root; with roots, every path must lie under one
    (checked lexically: the workers' filesystem is not the gateway's)."""
    if not 1 <= len(body.paths) <= MAX_INGEST_PATHS:
        raise _invalid(f"paths needs 1 to {MAX_INGEST_PATHS} entries, got {len(body.paths)}")
    paths = []
    for path in body.paths:
        check_text(path, "paths")
        if not path.strip():
            raise _invalid("paths must be non-empty strings")
        if roots:
            full = Path(os.path.normpath(path if os.path.isabs(path) else roots[0] / path))
            if not any(full == r or r in full.parents for r in roots):
                raise _invalid(
                    f"path {path!r} is outside the folders this gateway may ingest (RAGSTATE_GATEWAY_INGEST_ROOTS)"
                )
            path = str(full)
        paths.append(path)
    if body.collection is not None and not COLLECTION_NAME.match(body.collection):
        raise _invalid("collection must be 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    return IngestRequest(paths=paths, collection=body.collection)
