"""Event-driven ingestion: an AWS Lambda handler for an SQS queue of documents to ingest.

Lambda handler string ``ragstate.workers.sqs_ingest.handler``, with the event source mapping's
``FunctionResponseTypes: [ReportBatchItemFailures]`` (``deploy/aws/template.yaml``).

Each SQS record starts an ingest workflow (type ``Ingest``) and the handler returns without
waiting for it. A record body is one of:

- ``{"paths": ["/mnt/documents/a.md", ...], "collection": "docs"}``: the fields of
  :class:`ragstate.models.IngestRequest` (``collection``, ``batch_docs``, ``concurrency``
  optional);
- an S3 event notification (``{"Records": [{"eventSource": "aws:s3", "s3": {...}}]}``), also
  wrapped in an SNS notification, or an EventBridge ``Object Created`` event: each object key
  becomes a path through ``RAGSTATE_SQS_S3_PATH`` (default ``/mnt/documents/{key}``; also
  ``{bucket}``), the place where workers read the bucket (an EFS mount, say). S3's
  ``s3:TestEvent`` and object removals are acknowledged and skipped. With
  ``RAGSTATE_SQS_SUMMARIZE=true`` these ingests also summarize each document (a JSON body says
  ``"summarize": true`` itself).

Idempotency: the workflow id is :meth:`ragstate.client.RagClient.ingest_id` of the paths and
collection, started with ``id_conflict_policy=USE_EXISTING`` (a duplicate delivery while the
ingest runs joins that run) and ``id_reuse_policy=ALLOW_DUPLICATE`` (after it closed, a new
run: re-ingesting is idempotent, unchanged documents are skipped and a changed object, as an S3
overwrite sends, is re-indexed).

Failures: a record whose body is not JSON or of no known shape, or whose start fails (Temporal
unreachable), is logged with its reason and listed in ``batchItemFailures``; only those records
return to the queue, and after the queue's ``maxReceiveCount`` they go to its dead-letter queue.

Warm invocations reuse one event loop and one Temporal client (module state).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from pydantic import ValidationError
from temporalio.client import Client

from ragstate.models import IngestRequest
from ragstate.settings import Settings

if TYPE_CHECKING:
    from ragstate.client import RagClient

log = logging.getLogger("ragstate.sqs_ingest")

S3_PATH_TEMPLATE = "/mnt/documents/{key}"
#: Workflow starts in flight at once within one batch.
MAX_CONCURRENT_STARTS = 10
START_RPC_TIMEOUT = timedelta(seconds=10)


class RecordError(ValueError):
    """This record cannot be turned into an ingest: it goes back to the queue (and to the DLQ)."""


# --- parsing ---------------------------------------------------------------------------------------


def _s3_path(bucket: str, key: str, template: str) -> str:
    # S3 event keys are URL-encoded, spaces as '+'.
    return template.format(bucket=bucket, key=unquote_plus(key))


def _s3_paths(body: Mapping[str, Any], template: str) -> list[str] | None:
    """Paths of created objects in an S3 notification or EventBridge event; None if not one."""
    if body.get("source") == "aws.s3" and isinstance(body.get("detail"), dict):  # EventBridge
        if body.get("detail-type") != "Object Created":
            return []
        d = body["detail"]
        return [_s3_path(d["bucket"]["name"], d["object"]["key"], template)]
    records = body.get("Records")
    if (
        isinstance(records, list)
        and records
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records)
    ):
        return [
            _s3_path(r["s3"]["bucket"]["name"], r["s3"]["object"]["key"], template)
            for r in records
            if str(r.get("eventName", "")).startswith("ObjectCreated")
        ]
    return None


def parse_body(text: str, settings: Settings, s3_template: str = S3_PATH_TEMPLATE) -> IngestRequest | None:
    """The ingest a record asks for; None for a message to acknowledge and skip (an S3 test
    event, an object removal); :class:`RecordError` when the record is unusable."""
    try:
        body = json.loads(text)
    except (TypeError, ValueError) as e:
        raise RecordError(f"body is not JSON: {e}") from None
    if isinstance(body, dict) and body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        return parse_body(body["Message"], settings, s3_template)  # SNS envelope
    if not isinstance(body, dict):
        raise RecordError(f"body is JSON {type(body).__name__}, not an object")
    if body.get("Event") == "s3:TestEvent":
        return None
    try:
        paths = _s3_paths(body, s3_template)
    except (KeyError, TypeError) as e:
        raise RecordError(f"S3 event without bucket name or object key: {e!r}") from None
    if paths is not None:
        return IngestRequest(paths=paths, summarize=settings.sqs_summarize) if paths else None
    if "paths" not in body:
        raise RecordError(f"unknown body: expected {{'paths': [...]}} or an S3 event, got keys {sorted(body)[:10]}")
    if "carry" in body:
        raise RecordError("'carry' is set by continue-as-new only")
    try:
        request = IngestRequest.model_validate(body)
    except ValidationError as e:
        raise RecordError(f"invalid ingest request: {e.errors(include_url=False)}") from None
    if not request.paths or not all(p.strip() for p in request.paths):
        raise RecordError("'paths' must list at least one non-empty path")
    return request


# --- starting the workflows ---------------------------------------------------------------------------


async def start_ingest(rag: RagClient, request: IngestRequest) -> tuple[str, str]:
    """Start the ingest (or join the running one with the same id, so a redelivered message
    starts nothing new); returns (workflow id, run id). ``RagClient.start_ingest`` refuses an
    oversized request before it reaches Temporal and names runs opaquely when payloads are
    encrypted."""
    handle = await rag.start_ingest(request, origin="SQS", rpc_timeout=START_RPC_TIMEOUT)
    return handle.id, handle.result_run_id or ""


async def handle_event(
    event: Mapping[str, Any], client: Client | None, settings: Settings, s3_template: str = S3_PATH_TEMPLATE
) -> dict[str, list[dict[str, str]]]:
    """The SQS batch response for ``event``; ``client`` None means Temporal could not be reached."""
    failed: dict[str, str] = {}
    starts: list[tuple[str, IngestRequest]] = []
    for i, record in enumerate(event.get("Records") or []):
        message_id = str(record.get("messageId") or f"record-{i}")
        try:
            request = parse_body(record.get("body"), settings, s3_template)
        except RecordError as e:
            failed[message_id] = str(e)
            continue
        if request is None:
            log.info("message %s: nothing to ingest (S3 test event or removal), acknowledged", message_id)
        else:
            starts.append((message_id, request))

    if starts and client is None:
        failed.update({m: "Temporal is unreachable" for m, _ in starts})
    elif starts and client is not None:
        from ragstate.client import RagClient

        rag = RagClient(client, settings)  # one per batch: its search-attribute lookup is made once
        gate = asyncio.Semaphore(MAX_CONCURRENT_STARTS)

        async def start(message_id: str, request: IngestRequest) -> None:
            async with gate:
                try:
                    workflow_id, run_id = await start_ingest(rag, request)
                except Exception as e:
                    failed[message_id] = f"could not start the ingest: {e!r}"
                else:
                    log.info(
                        "message %s: ingest %s run %s (%s)",
                        message_id,
                        workflow_id,
                        run_id,
                        ", ".join(request.paths)[:200],
                    )

        await asyncio.gather(*(start(m, r) for m, r in starts))

    for message_id, reason in failed.items():
        log.error("message %s failed, back to the queue: %s", message_id, reason)
    order = [str(r.get("messageId") or f"record-{i}") for i, r in enumerate(event.get("Records") or [])]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in order if m in failed]}


# --- the Lambda entry point and its warm state --------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_settings: Settings | None = None
_client: Client | None = None


def reset() -> None:
    """Forget the cached settings and client (tests; a changed environment)."""
    global _settings, _client
    _settings = _client = None


async def _connect(settings: Settings) -> Client | None:
    global _client
    if _client is None:
        from ragstate.workers.lambda_setup import connect_config

        try:
            _client = await Client.connect(**connect_config(settings))
        except Exception as e:
            log.error("cannot connect to Temporal: %r", e)
            return None
    return _client


async def _handle(event: Mapping[str, Any]) -> dict:
    global _settings
    if _settings is None:
        from ragstate.workers.lambda_setup import load_secrets

        load_secrets()
        _settings = Settings()
    client = await _connect(_settings)
    return await handle_event(event, client, _settings, os.environ.get("RAGSTATE_SQS_S3_PATH", S3_PATH_TEMPLATE))


def handler(event: Mapping[str, Any], context: Any = None) -> dict:
    """Lambda entry point: one event loop for the life of the execution environment, so the
    Temporal client made by the first invocation serves the warm ones."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(_handle(event))
