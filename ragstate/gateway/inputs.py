"""Request bodies checked and turned into workflow inputs, before anything starts: the query by
ParseQuery's own rules (:func:`ragstate.models.validation.validate`), ingest paths against the roots
the gateway may read (none configured: no ingest).

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
from ragstate.models.validation import InvalidQuery, validate
from ragstate.settings import Settings


def _invalid(message: str) -> ApiError:
    return ApiError(GatewayError.INVALID_REQUEST, message)


def check_text(value: str, name: str, control: bool = True) -> None:
    """Strings go into workflow history as JSON: no lone surrogates; and, with ``control``, no
    control characters (the question's own rules are :func:`ragstate.models.validation.validate`'s)."""
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


def _within(path: Path, roots: list[Path]) -> bool:
    """Whether the real path (every link the gateway can see resolved) lies under a root's; the
    workers check each file they find again, on their own filesystem (``IngestRequest.roots``)."""
    real = Path(os.path.realpath(path))
    real_roots = [Path(os.path.realpath(root)) for root in roots]
    return any(real == root or root in real.parents for root in real_roots)


def ingest_request(body: IngestBody, roots: list[Path]) -> IngestRequest:
    """Only with roots (403 otherwise: any file the workers can read could be indexed, then asked
    about); relative paths are taken under the first, and every path must lie under one."""
    if not roots:
        raise ApiError(
            GatewayError.INGEST_FORBIDDEN,
            "ingest over HTTP is off: set RAGSTATE_GATEWAY_INGEST_ROOTS to the folders it may read",
        )
    if not 1 <= len(body.paths) <= MAX_INGEST_PATHS:
        raise _invalid(f"paths needs 1 to {MAX_INGEST_PATHS} entries, got {len(body.paths)}")
    paths = []
    for path in body.paths:
        check_text(path, "paths")
        if not path.strip():
            raise _invalid("paths must be non-empty strings")
        full = Path(os.path.normpath(path if os.path.isabs(path) else roots[0] / path))
        if not _within(full, roots):
            raise _invalid(
                f"path {path!r} is outside the folders this gateway may ingest (RAGSTATE_GATEWAY_INGEST_ROOTS)"
            )
        paths.append(str(full))
    if body.collection is not None and not COLLECTION_NAME.match(body.collection):
        raise _invalid("collection must be 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    return IngestRequest(
        paths=paths, collection=body.collection, roots=[str(r) for r in roots], summarize=body.summarize
    )
