"""Temporal conventions shared by clients and workflows: readable workflow ids and the status
search attribute.

Imports only the standard library, temporalio and :mod:`ragstate.contracts`, so workflows may use it.
"""

from __future__ import annotations

import re
import uuid

from temporalio import workflow

from ragstate.contracts import RAG_KIND, RAG_STATUS


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:limit].rstrip("-") or "x"


def query_workflow_id(question: str, private: bool = False) -> str:
    """e.g. ``rag-query-what-is-bm25-3f2a9c1d``: readable in the UI, unique per ask. ``private``
    (payload encryption on): ``rag-query-3f2a9c1d5e6f7a8b``, no word of the question."""
    if private:
        return f"rag-query-{uuid.uuid4().hex[:16]}"
    return f"rag-query-{slug(question)}-{uuid.uuid4().hex[:8]}"


def ingest_workflow_id(paths: list[str], collection: str, private: bool = False) -> str:
    """Derived from what is ingested, so starting the same ingest twice joins the running one;
    ``private`` leaves the file name out (an unkeyed hash of the paths stays: it shows no text)."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, "\x00".join([collection, *sorted(paths)])).hex[:10]
    if private:
        return f"rag-ingest-{collection}-{digest}"
    name = slug(paths[0].rstrip("/").rsplit("/", 1)[-1]) if paths else "empty"
    return f"rag-ingest-{collection}-{name}-{digest}"


def set_status(status: str) -> None:
    """Upsert RagStatus from inside a workflow, but only when the client could set RagKind at
    start (so the attributes are registered): upserting an unregistered attribute would fail
    every workflow task of the run."""
    if workflow.info().typed_search_attributes.get(RAG_KIND) is not None:
        workflow.upsert_search_attributes([RAG_STATUS.value_set(status)])


def session_workflow_id(session_id: str) -> str:
    """The RagSession run of a conversation: ``rag-session-<id>``."""
    return f"rag-session-{session_id}"


def turn_query_id(session_id: str, message_id: str) -> str:
    """The RagQuery child run of one message of a session: derived from the message id, so a
    client may follow its stream before the turn's answer is back, and a message sent again
    finds the same run."""
    return f"rag-session-{session_id}-msg-{message_id}"


def keys_workflow_id(task_queue: str) -> str:
    """The RagKeys run of a deployment (its workflow task queue): the tenants' keys and policies.
    Every process of one deployment names the same queue, so they share one registry; two
    deployments in one namespace (or two test stacks) keep theirs apart."""
    return f"rag-keys-{task_queue}"


def budget_workflow_id(tenant: str, task_queue: str) -> str:
    """The RagBudget run of a tenant in a deployment: ``rag-budget-<queue>-<tenant>``."""
    return f"rag-budget-{task_queue}-{tenant}"
