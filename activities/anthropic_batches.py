"""The Anthropic side of the summarize stage: one document through the Messages API, or many
through the Message Batches API at half the price.

The batch is waited for by the workflow (a timer between short :data:`Activity.POLL_SUMMARY_BATCH`
activities), never inside an activity, so it can take its 24 hours and survive any worker or
server restart. Creating it must not make a second one on a retry: every request's
``custom_id`` is derived from its document version, the batch id is heartbeat the moment the
API returns it and also written to ``<data_dir>/summary-batches/<key>.json``, and a retried
attempt returns that id instead of creating another. The workflow records it in history
before it starts waiting.

Temporal owns retries: the SDK's ``max_retries`` is 0 and failures are mapped as for
Synthesize (:func:`ragstate.activities.llm_errors.to_application_error`). Usage and cost are
recorded per document (a batch request at :data:`ragstate.answers.pricing.BATCH_MULTIPLIER`).

Example::

    acts = BatchActivities(settings)
    Worker(client, task_queue=..., activities=acts.all())
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.activities.heartbeat import heartbeating
from ragstate.activities.llm_errors import check_stop_reason, rejected, to_application_error
from ragstate.activities.llm_request import usage_of
from ragstate.activities.summaries import StoredDocument, SummaryStore
from ragstate.answers.pricing import llm_cost, price_table
from ragstate.contracts import Activity
from ragstate.ingest.summaries import custom_id, summary_params
from ragstate.models import DocumentFailure, SummaryRecord
from ragstate.models.summaries import (
    SummaryBatchInput,
    SummaryBatchStatus,
    SummaryCollectInput,
    SummaryDocInput,
    SummaryWritten,
)
from ragstate.settings import Settings

if TYPE_CHECKING:
    import anthropic

__all__ = ["BatchActivities"]

_clients: dict[tuple, anthropic.Anthropic] = {}
_clients_lock = threading.Lock()


def _client(settings: Settings) -> anthropic.Anthropic:
    """One synchronous SDK client per process and key (these activities run on threads)."""
    import anthropic

    key = settings.anthropic_key()
    if key is None:
        raise rejected("summaries through the Anthropic API need RAGSTATE_ANTHROPIC_API_KEY")
    where = (key, settings.anthropic_base_url, settings.anthropic_timeout_s)
    with _clients_lock:
        if where not in _clients:
            _clients[where] = anthropic.Anthropic(
                api_key=key, base_url=settings.anthropic_base_url, max_retries=0, timeout=settings.anthropic_timeout_s
            )
        return _clients[where]


def _text_of(message: Any) -> str:
    return "".join(getattr(b, "text", "") for b in message.content if getattr(b, "type", None) == "text").strip()


class BatchActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.summaries = SummaryStore(settings)
        self.prices = price_table(settings.llm_prices)

    def all(self) -> list[Callable]:
        return [self.summarize_document, self.create_summary_batch, self.poll_summary_batch, self.collect_summary_batch]

    def _record(self, message: Any, mode: str) -> SummaryRecord:
        text = _text_of(message)
        check_stop_reason(message.stop_reason, text)  # a refusal fails; max_tokens keeps what came
        if not text:
            raise rejected("the model returned an empty summary")
        usage = usage_of(message.usage)
        cost = llm_cost(message.model, usage, self.prices, batch=mode == "batch")
        return SummaryRecord(text=text, mode=mode, model=message.model, usage=usage, cost=cost)

    def _written(self, out: SummaryWritten, record: SummaryRecord) -> None:
        u, t = out.usage, record.usage
        u.input_tokens += t.input_tokens
        u.output_tokens += t.output_tokens
        u.cache_read_input_tokens += t.cache_read_input_tokens
        u.cache_creation_input_tokens += t.cache_creation_input_tokens
        out.cost_usd = round(out.cost_usd + record.cost.usd, 8)

    # --- small runs: one call per document ------------------------------------------------------

    @activity.defn(name=Activity.SUMMARIZE_DOCUMENT)
    def summarize_document(self, inp: SummaryDocInput) -> SummaryWritten:
        """One document's summary by the Messages API. Paid once: a retry that finds the summary
        an earlier attempt wrote returns it without calling the API."""
        store = self.summaries.store(inp.collection)
        out = SummaryWritten()
        if self.summaries.existing(store, inp.document) is not None:
            out.already = 1
            return out
        stored = self.summaries.read(store, inp.document)
        if isinstance(stored, DocumentFailure):
            out.failures.append(stored)
            return out
        s = self.settings
        params = summary_params(s.anthropic_model, s.summary_max_tokens, stored.title, stored.text)
        try:
            with heartbeating():
                message = _client(s).messages.create(**params)
        except ApplicationError:
            raise
        except Exception as e:
            raise to_application_error(e) from e
        record = self._record(message, "llm")
        out.written.append(self.summaries.write(store, stored, record))
        self._written(out, record)
        return out

    # --- bulk runs: a Message Batch ------------------------------------------------------------

    def _batch_record(self, key: str):
        folder = self.settings.data_dir / "summary-batches"
        return folder / f"{custom_id(key, 'batch')}.json"

    @activity.defn(name=Activity.CREATE_SUMMARY_BATCH)
    def create_summary_batch(self, inp: SummaryBatchInput) -> str:
        """Create the Message Batch of these documents (those still in the store) and return its
        id; a retried attempt returns the batch an earlier attempt made (heartbeat details, or
        the local record), so one page never makes two batches."""
        details = activity.info().heartbeat_details if activity.in_activity() else ()
        if details:
            return str(details[0])
        record = self._batch_record(inp.key)
        if record.exists():
            return json.loads(record.read_text())["batch_id"]
        s = self.settings
        store = self.summaries.store(inp.collection)
        requests: list[Any] = []  # batch_create_params.Request dicts
        for doc in inp.documents:
            stored = self.summaries.read(store, doc)
            if isinstance(stored, StoredDocument):
                params = summary_params(s.anthropic_model, s.summary_max_tokens, stored.title, stored.text)
                requests.append({"custom_id": custom_id(doc.doc_id, doc.version), "params": params})
        if not requests:
            raise rejected("none of the documents of this batch is in the store any more")
        made: list[str] = []
        try:
            with heartbeating(every_s=1.0, details=lambda: made[0] if made else None):
                batch = _client(s).messages.batches.create(requests=requests)
                made.append(batch.id)
                if activity.in_activity():
                    activity.heartbeat(batch.id)  # at once: a worker lost now leaves the id behind
                record.parent.mkdir(parents=True, exist_ok=True)
                tmp = record.with_suffix(".tmp")
                tmp.write_text(json.dumps({"batch_id": batch.id, "key": inp.key}))
                os.replace(tmp, record)
        except ApplicationError:
            raise
        except Exception as e:
            if made:
                return made[0]
            raise to_application_error(e) from e
        if activity.in_activity():
            activity.logger.info("summary batch %s: %s requests", batch.id, len(requests))
        return batch.id

    @activity.defn(name=Activity.POLL_SUMMARY_BATCH)
    def poll_summary_batch(self, batch_id: str) -> SummaryBatchStatus:
        """One look at the batch (a short call; the workflow waits between looks)."""
        try:
            batch = _client(self.settings).messages.batches.retrieve(batch_id)
        except Exception as e:
            raise to_application_error(e) from e
        c = batch.request_counts
        return SummaryBatchStatus(
            batch_id=batch.id,
            processing_status=batch.processing_status,
            processing=c.processing,
            succeeded=c.succeeded,
            errored=c.errored + c.canceled + c.expired,
        )

    @activity.defn(name=Activity.COLLECT_SUMMARY_BATCH)
    def collect_summary_batch(self, inp: SummaryCollectInput) -> SummaryWritten:
        """Read an ended batch's results and write each document's summary (batch prices);
        errored, canceled and expired requests are failures with the API's reason. Re-run, it
        writes the same points again."""
        store = self.summaries.store(inp.collection)
        by_id = {custom_id(d.doc_id, d.version): d for d in inp.documents}
        out = SummaryWritten()
        seen: set[str] = set()
        try:
            with heartbeating():
                for entry in _client(self.settings).messages.batches.results(inp.batch_id):
                    doc = by_id.get(entry.custom_id)
                    if doc is None or entry.custom_id in seen:
                        continue
                    seen.add(entry.custom_id)
                    result = entry.result
                    if result.type != "succeeded":
                        reason = f"batch request {result.type}"
                        if result.type == "errored":
                            reason += f": {result.error.error.type}: {result.error.error.message}"
                        out.failures.append(DocumentFailure(doc_id=doc.doc_id, source="", reason=reason))
                        continue
                    stored = self.summaries.read(store, doc)
                    if isinstance(stored, DocumentFailure):
                        out.failures.append(stored)
                        continue
                    try:
                        record = self._record(result.message, "batch")
                    except ApplicationError as e:
                        out.failures.append(DocumentFailure(doc_id=doc.doc_id, source=stored.source, reason=str(e)))
                        continue
                    out.written.append(self.summaries.write(store, stored, record))
                    self._written(out, record)
        except ApplicationError:
            raise
        except Exception as e:
            raise to_application_error(e) from e
        for cid, doc in by_id.items():
            if cid not in seen:
                out.failures.append(DocumentFailure(doc_id=doc.doc_id, source="", reason="no result in the batch"))
        return out
