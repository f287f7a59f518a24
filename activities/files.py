"""DiscoverDocuments: list what an ingest will read, as small references in pages."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.activities.query_parsing import build_routing
from ragstate.contracts import Activity, ErrorType
from ragstate.ingest.discovery import discover_all
from ragstate.models import DiscoverInput, DiscoverPage, GateSet, SourceRef
from ragstate.settings import Settings

# Keep each page far below Temporal's payload limits (2 MB hard, 256 KB advised), and small
# enough in batches that the workflow's continue-as-new check between pages comes often.
PAGE_BYTES = 100_000
PAGE_BATCHES = 50
#: Judged queries a re-index gate reads at most: each runs twice through the query workflow.
MAX_GATE_QUERIES = 500


class FileActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @activity.defn(name=Activity.DISCOVER_DOCUMENTS)
    def discover_documents(self, inp: DiscoverInput) -> DiscoverPage:
        s = self.settings
        batch_docs = inp.batch_docs or s.ingest_batch_docs
        # A batch costs about its paths' length in the payload; size pages accordingly.
        found = discover_all(inp.paths, batch_docs, inp.cursor, max_batches=None, roots=inp.roots)
        batches, next_cursor, failures = found.batches, found.next_cursor, found.failures
        page: list[list[SourceRef]] = []
        size = used_units = 0
        for batch in batches:
            cost = sum(len(r.path) + 40 for r in batch)
            if page and (size + cost > PAGE_BYTES or len(page) >= PAGE_BATCHES):
                break
            page.append(batch)
            size += cost
            used_units += len(batch)
        if len(page) < len(batches):
            next_cursor = inp.cursor + used_units
        return DiscoverPage(
            batches=page,
            next_cursor=next_cursor,
            failures=failures[:1000],
            skipped_files=found.skipped_files,  # first page only, like failures
            skipped=found.skipped,
            collection=inp.collection or s.collection,
            routing=build_routing(s),
            # discover() lists every batch from the cursor on: from the first page, that is all of
            # them, so the progress total is right from the start instead of growing page by page.
            documents_total=sum(r.documents for b in batches for r in b) if inp.cursor == 0 else None,
        )

    @activity.defn(name=Activity.LOAD_GATE)
    def load_gate(self, directory: str) -> GateSet:
        """The judged queries of a BEIR-layout folder (queries.jsonl, qrels/test.tsv; its corpus
        is the collection's business), for a re-index's evaluation gate."""
        from ragstate.evaluation.beir import BeirDataset

        try:
            data = BeirDataset.load(Path(directory))
        except (OSError, ValueError, KeyError) as e:
            raise ApplicationError(
                f"gate {directory}: {e}", type=ErrorType.INVALID_REQUEST, non_retryable=True
            ) from None
        if not data.queries:
            raise ApplicationError(
                f"gate {directory}: no judged queries", type=ErrorType.INVALID_REQUEST, non_retryable=True
            )
        if len(data.queries) > MAX_GATE_QUERIES:
            raise ApplicationError(
                f"gate {directory}: {len(data.queries)} judged queries, at most {MAX_GATE_QUERIES}: use a slice",
                type=ErrorType.INVALID_REQUEST,
                non_retryable=True,
            )
        return GateSet(queries=data.queries, qrels={q: data.qrels[q] for q in data.queries})
