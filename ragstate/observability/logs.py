"""One logging setup for every ragstate process: the CLI, ``ragstate up``, each worker entry
point, the gateway and the Lambda handlers.

``RAGSTATE_LOG_FORMAT`` is ``text`` (default, for people) or ``json`` (one object per line, for
log collectors); ``RAGSTATE_LOG_LEVEL`` is a level name (default ``INFO``). In JSON, a line
carries the workflow id, run id, workflow or activity type, attempt and task queue wherever
Temporal's loggers know them (``workflow.logger`` and ``activity.logger`` put them on the
record), and the exception as text. Secrets configured in the settings (API keys, payload
keys) are replaced by ``[redacted]`` in every line, whatever the format.

Example::

    from ragstate.observability.logs import configure_logging

    configure_logging(Settings())      # once, at process start
    logging.getLogger("ragstate.worker").info("polling %s", "ragstate")
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

from ragstate.settings import GatewaySettings, Settings

__all__ = ["JsonFormatter", "RedactSecrets", "configure_logging", "secrets_of"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Temporal's logger adapters put these dicts on a record (``workflow_info_on_extra`` and its
#: activity twin); their keys become top-level JSON fields.
TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
_FIELDS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_id": "activity_id",
    "activity_type": "activity_type",
    "attempt": "attempt",
    "task_queue": "task_queue",
    "namespace": "namespace",
}
REDACTED = "[redacted]"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold (never logged)."""
    values: list[str | None] = [settings.anthropic_key(), settings.payload_key_spec()]
    for secret in (settings.temporal_api_key, settings.qdrant_api_key):
        values.append(secret.get_secret_value() if secret is not None else None)
    spec = settings.payload_key_spec() or ""
    values += [entry.partition(":")[2].strip() for entry in spec.replace("\n", ",").split(",")]
    values += GatewaySettings().keys()
    return sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True)


class RedactSecrets(logging.Filter):
    """Replaces each secret in the formatted message (and exception text) by ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = self._clean(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self._clean(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, Temporal context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for extra in TEMPORAL_EXTRAS:
            info = getattr(record, extra, None)
            if isinstance(info, dict):
                line.update({field: info[key] for key, field in _FIELDS.items() if info.get(key) is not None})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(
    settings: Settings | None = None, *, level: str | None = None, log_format: str | None = None
) -> None:
    """Route every logger (ragstate's, temporalio's, uvicorn's) to one stderr handler in the
    configured format, with secrets redacted. Idempotent: a second call replaces the handler."""
    settings = settings or Settings()
    fmt = (log_format or settings.log_format.value).lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    handler.set_name("ragstate")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "ragstate" or isinstance(h, logging.StreamHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or settings.log_level).upper())
    # uvicorn's own handlers would print text lines beside ours: let its records reach the root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
