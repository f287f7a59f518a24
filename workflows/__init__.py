"""Temporal workflows. They import only the standard library, temporalio and ragstate's
models and conventions; activities are referenced by name so no heavy module is loaded."""

from ragstate.workflows.ingest import IngestWorkflow
from ragstate.workflows.query import RagQueryWorkflow
from ragstate.workflows.stats import StoreStatsWorkflow

ALL_WORKFLOWS = [RagQueryWorkflow, IngestWorkflow, StoreStatsWorkflow]

__all__ = ["ALL_WORKFLOWS", "IngestWorkflow", "RagQueryWorkflow", "StoreStatsWorkflow"]
