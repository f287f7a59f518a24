"""Temporal workflows. They import only the standard library, temporalio and ragstate's
contracts, models, conventions and citations; activities are referenced by their names in
:mod:`ragstate.contracts`, so no heavy module is loaded."""

from ragstate.workflows.ingest import IngestWorkflow
from ragstate.workflows.lifecycle import (
    LIFECYCLE_WORKFLOWS,
    DeleteDocumentsWorkflow,
    DropCollectionWorkflow,
    ListCollectionsWorkflow,
    ListDocumentsWorkflow,
)
from ragstate.workflows.query import RagQueryWorkflow
from ragstate.workflows.reindex import ReindexWorkflow
from ragstate.workflows.stats import StoreStatsWorkflow
from ragstate.workflows.summarize import SummarizeDocumentsWorkflow

ALL_WORKFLOWS = [
    RagQueryWorkflow,
    IngestWorkflow,
    StoreStatsWorkflow,
    ReindexWorkflow,
    SummarizeDocumentsWorkflow,
    *LIFECYCLE_WORKFLOWS,
]

__all__ = [
    "ALL_WORKFLOWS",
    "DeleteDocumentsWorkflow",
    "DropCollectionWorkflow",
    "IngestWorkflow",
    "ListCollectionsWorkflow",
    "ListDocumentsWorkflow",
    "RagQueryWorkflow",
    "ReindexWorkflow",
    "StoreStatsWorkflow",
    "SummarizeDocumentsWorkflow",
]
