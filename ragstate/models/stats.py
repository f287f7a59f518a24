"""Models of store statistics.

They travel through workflow history: ids, scores and short texts, never vectors."""

from __future__ import annotations

from ragstate.models.base import _Model
from ragstate.models.ingest import DiscoverPage, IngestRequest
from ragstate.models.names import CollectionName


class StatsRequest(_Model):
    collection: CollectionName | None = None


class StoreStats(_Model):
    backend: str
    collection: str
    chunks: int
    documents: int


DiscoverPage.model_rebuild()
IngestRequest.model_rebuild()
