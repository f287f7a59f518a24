"""Task priority and fairness of the activities a run schedules (Temporal Priority): a tenant's
questions outrank bulk ingest batches on a shared task queue, and within each level the
server hands tasks out fairly between tenants (``fairness_key``: the run's tenant).

The server acts on it only where tasks wait in a backlog (more tasks than free worker slots)
and only with its priority matcher and fairness on (``ragstate.temporal.devserver``'s
``FAIRNESS_CONFIG``; Temporal Cloud and self-hosted servers: the same dynamic config). On one
machine the steps of a question mostly run as local activities, which no queue orders: there
the embedding model's encode thread puts questions first
(:class:`ragstate.retrieval.embedding.EncodeThread`). Options only: no command is added or
removed, so recorded histories replay unchanged.
"""

from __future__ import annotations

from temporalio.common import Priority

from ragstate.models.tenancy import DEFAULT_TENANT

__all__ = ["BULK", "INTERACTIVE", "bulk", "interactive"]

#: Priority keys (1 goes first; the server's default, 3, is what a run started without one has).
INTERACTIVE = 2
BULK = 4


def interactive(tenant: str | None) -> Priority:
    """A question's steps: before bulk work, fair between tenants."""
    return Priority(priority_key=INTERACTIVE, fairness_key=tenant or DEFAULT_TENANT)


def bulk(tenant: str | None) -> Priority:
    """An ingest's batches: after questions, fair between tenants."""
    return Priority(priority_key=BULK, fairness_key=tenant or DEFAULT_TENANT)
