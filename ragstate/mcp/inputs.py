"""Tool arguments checked and turned into workflow inputs before anything starts, with the CLI's
messages: the question by ParseQuery's own rules (:func:`ragstate.models.validation.validate`),
collection names by the store's, request ids into workflow ids, ingest paths against the folders
this server may read. Every refusal is a :class:`ToolError` (the tool call's ``isError``).

Example::

    query = rag_query(settings, "What is BM25?", top_k=3)              # or ToolError
    query_run_id("ask", "agent-42")                                   # 'rag-query-mcp-ask-agent-42'
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError

from ragstate.models import IngestRequest, RagQuery
from ragstate.models.validation import InvalidQuery, validate
from ragstate.settings import Settings
from ragstate.store import check_collection_name
from ragstate.store.records import source_under

#: What a request id may hold: it becomes part of a workflow id (and of the UI's link).
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
#: The most paths one ingest call names (the gateway's bound).
MAX_INGEST_PATHS = 100


def text_ok(value: str, name: str) -> str:
    """``value`` if it can travel as JSON (no lone surrogates), else ToolError."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ToolError(f"{name} is not valid UTF-8 text (undecodable character at position {e.start})") from None
    return value


def collection_name(name: str | None) -> str | None:
    """A collection name as the CLI checks it; None: the server's default."""
    if name is None:
        return None
    try:
        return check_collection_name(name)
    except ValueError as e:
        raise ToolError(str(e)) from None


def rag_query(
    settings: Settings, question: str, top_k: int | None = None, collection: str | None = None, synthesize: bool = True
) -> RagQuery:
    """The query, refused here with ParseQuery's message when the workflow would refuse it."""
    query = RagQuery(
        question=text_ok(question, "the question"),
        top_k=top_k,
        collection=collection_name(collection),
        synthesize=synthesize,
    )
    try:
        validate(query, settings)
    except InvalidQuery as e:
        raise ToolError(str(e)) from None
    return query


def query_run_id(tool: str, request_id: str | None) -> str | None:
    """The workflow id of a tool call that names a ``request_id`` (asked again, the same run);
    None without one (every call a new run)."""
    if request_id is None:
        return None
    if not REQUEST_ID.fullmatch(request_id):
        raise ToolError(
            "request_id must be 1-100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
        )
    return f"rag-query-mcp-{tool}-{request_id}"


def ingest_request(
    paths: list[str], collection: str | None, roots: list[Path] | None, summarize: bool = False
) -> IngestRequest:
    """Paths on the workers' filesystem. ``roots`` None (stdio: the user's own machine): absolute
    paths, anywhere; a list (HTTP): only under those folders, relative ones taken under the first,
    and none at all when the list is empty (RAGSTATE_GATEWAY_INGEST_ROOTS, as the gateway)."""
    if roots is not None and not roots:
        raise ToolError("ingest over HTTP is off: set RAGSTATE_GATEWAY_INGEST_ROOTS to the folders it may read")
    if not 1 <= len(paths) <= MAX_INGEST_PATHS:
        raise ToolError(f"paths needs 1 to {MAX_INGEST_PATHS} entries, got {len(paths)}")
    full = []
    for path in paths:
        if not text_ok(path, "a path").strip():
            raise ToolError("paths must be non-empty strings")
        if not os.path.isabs(path) and roots is None:
            raise ToolError(f"path {path!r} is relative: give an absolute path (the server's folder is not yours)")
        absolute = os.path.normpath(path if os.path.isabs(path) else str(roots[0] / path))  # type: ignore[index]
        if roots is not None and not any(source_under(os.path.realpath(absolute), os.path.realpath(r)) for r in roots):
            raise ToolError(
                f"path {path!r} is outside the folders this server may ingest (RAGSTATE_GATEWAY_INGEST_ROOTS)"
            )
        full.append(absolute)
    return IngestRequest(
        paths=full,
        collection=collection_name(collection),
        roots=[str(r) for r in roots] if roots is not None else None,
        summarize=summarize,
    )


def source_prefix(prefix: str | None, roots: list[Path] | None) -> str | None:
    """A ``documents`` source prefix as the store holds sources: absolute (a relative one is
    taken under the first ingest root, as the gateway does; with none, refused: the server's
    working directory is not the agent's); a trailing separator kept ("docs/" is that folder)."""
    if prefix is None:
        return None
    if not text_ok(prefix, "source_prefix").strip():
        raise ToolError("source_prefix must not be empty")
    folder = os.sep if prefix.endswith(("/", os.sep)) else ""
    if not os.path.isabs(prefix):
        if not roots:
            raise ToolError(f"source_prefix {prefix!r} is relative: give an absolute path")
        prefix = str(roots[0] / prefix)
    return os.path.normpath(prefix) + folder
