"""Temporal workflows. They import only the standard library, temporalio and the sandbox-safe
ragstate modules (contracts, models, conventions and pure helpers: the list and its test are in
tests/test_package.py); activities are referenced by their names in :mod:`ragstate.contracts`,
so no heavy module is loaded.

The names below load their module on first use: the workflow sandbox imports a run's workflow
module afresh for every run, and through this package's ``__init__`` it would otherwise
re-import every workflow module, most of the sandbox's cost per query
(``bench/query_throughput.py --sandbox both``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragstate.workflows.budget import RagBudgetWorkflow
    from ragstate.workflows.feedback import ListFeedbackWorkflow, RagFeedbackWorkflow
    from ragstate.workflows.ingest import IngestWorkflow
    from ragstate.workflows.keys import RagKeysWorkflow
    from ragstate.workflows.lifecycle import (
        DeleteDocumentsWorkflow,
        DropCollectionWorkflow,
        ListCollectionsWorkflow,
        ListDocumentsWorkflow,
    )
    from ragstate.workflows.query import RagQueryWorkflow
    from ragstate.workflows.reindex import ReindexWorkflow
    from ragstate.workflows.session import RagSessionWorkflow
    from ragstate.workflows.stats import StoreStatsWorkflow
    from ragstate.workflows.summarize import SummarizeDocumentsWorkflow
    from ragstate.workflows.transcript import SessionTranscriptWorkflow

    ALL_WORKFLOWS: list[type]

#: Each public name and the module that defines it.
_MODULES = {
    "RagBudgetWorkflow": "budget",
    "RagKeysWorkflow": "keys",
    "ListFeedbackWorkflow": "feedback",
    "RagFeedbackWorkflow": "feedback",
    "IngestWorkflow": "ingest",
    "LIFECYCLE_WORKFLOWS": "lifecycle",
    "DeleteDocumentsWorkflow": "lifecycle",
    "DropCollectionWorkflow": "lifecycle",
    "ListCollectionsWorkflow": "lifecycle",
    "ListDocumentsWorkflow": "lifecycle",
    "RagQueryWorkflow": "query",
    "ReindexWorkflow": "reindex",
    "RagSessionWorkflow": "session",
    "SessionTranscriptWorkflow": "transcript",
    "StoreStatsWorkflow": "stats",
    "SummarizeDocumentsWorkflow": "summarize",
}


def __getattr__(name: str) -> Any:
    if name == "ALL_WORKFLOWS":
        names = (
            "RagQueryWorkflow",
            "IngestWorkflow",
            "StoreStatsWorkflow",
            "ReindexWorkflow",
            "SummarizeDocumentsWorkflow",
            "RagFeedbackWorkflow",
            "ListFeedbackWorkflow",
            "RagSessionWorkflow",
            "SessionTranscriptWorkflow",
            "RagKeysWorkflow",
            "RagBudgetWorkflow",
        )
        return [*map(__getattr__, names), *__getattr__("LIFECYCLE_WORKFLOWS")]
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALL_WORKFLOWS",
    "DeleteDocumentsWorkflow",
    "DropCollectionWorkflow",
    "IngestWorkflow",
    "ListCollectionsWorkflow",
    "ListDocumentsWorkflow",
    "ListFeedbackWorkflow",
    "RagBudgetWorkflow",
    "RagFeedbackWorkflow",
    "RagKeysWorkflow",
    "RagQueryWorkflow",
    "RagSessionWorkflow",
    "ReindexWorkflow",
    "SessionTranscriptWorkflow",
    "StoreStatsWorkflow",
    "SummarizeDocumentsWorkflow",
]
