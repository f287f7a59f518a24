"""The store's filters, built once for both client libraries (qdrant-edge, qdrant-client)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ragstate.store.records import DENSE, GROUPS, SearchFilter, summary_version


@dataclass(frozen=True)
class FilterDialect:
    """The store's filters, built once for both client libraries: qdrant-edge and
    qdrant-client spell the same Qdrant filter with different constructors."""

    condition: Callable[[str, Any], Any]  # (payload key, match) -> field condition
    match_value: Callable[[Any], Any]
    match_any: Callable[[list], Any]
    has_vector: Callable[[str], Any]
    filter: Callable[..., Any]  # filter(must=[...], must_not=[...])
    is_empty: Callable[[str], Any]  # payload key -> "absent, null or []" condition

    def search(self, flt: SearchFilter | None):
        if flt is None or flt.empty:
            return None
        must = [
            self.condition(key, self.match_any(list(values)))
            for key, values in (("source", flt.sources), ("doc_id", flt.doc_ids))
            if values
        ]
        if flt.access_groups is not None:
            must.append(self.visible_to(flt.access_groups))
        return self.filter(must=must)

    def visible_to(self, access_groups: list[str]):
        """Chunks a caller with ``access_groups`` may see: those without groups, or sharing one
        of them (an empty list: only those without groups). ragstate.store.records.visible in Python."""
        should = [self.is_empty(GROUPS)]
        if access_groups:
            should.append(self.condition(GROUPS, self.match_any(sorted(set(access_groups)))))
        return self.filter(should=should)

    def version(self, doc_id: str, version: str, dense: bool | None = None):
        """Chunks of one document version; only those with (True) or without (False) a dense vector."""
        must = [
            self.condition("doc_id", self.match_value(doc_id)),
            self.condition("version", self.match_value(version)),
        ]
        has_dense = [self.has_vector(DENSE)]
        if dense is True:
            return self.filter(must=must + has_dense)
        return self.filter(must=must, must_not=has_dense if dense is False else None)

    def stale(self, doc_id: str, keep_version: str):
        """Chunks of ``doc_id`` of other versions (the kept version's summary is kept too)."""
        return self.filter(
            must=[self.condition("doc_id", self.match_value(doc_id))],
            must_not=[self.condition("version", self.match_any([keep_version, summary_version(keep_version)]))],
        )

    def first_chunks(self):
        """One point per document: its chunk at position 0."""
        return self.filter(must=[self.condition("position", self.match_value(0))])

    def documents(self, doc_ids: list[str], sources: list[str]):
        """Chunks of any of these documents or of any document from one of these sources."""
        should = [
            self.condition(key, self.match_any(list(values)))
            for key, values in (("doc_id", doc_ids), ("source", sources))
            if values
        ]
        return self.filter(should=should)
