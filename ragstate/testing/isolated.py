"""Settings that keep one test (or one fault-suite run) apart from every other on the same
server: its own data directory, collection and task queues."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ragstate.settings import Settings


def isolated_settings(data_dir: Path, temporal_address: str, prefix: str = "test", **overrides: Any) -> Settings:
    """:class:`Settings` on ``temporal_address`` with ``data_dir``, a collection named ``prefix``
    and a random tag, task queues of the same tag, then ``overrides``; ``.env`` files are not read."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        data_dir=data_dir,
        temporal_address=temporal_address,
        collection=f"{prefix}-{tag}",
        # Short queue names: a CLI message that names one still fits a line of 80 columns.
        workflow_task_queue=f"wf-{tag}",
        embeddings_task_queue=f"emb-{tag}",
        llm_task_queue=f"llm-{tag}",
        gpu_embeddings_task_queue=f"gpu-{tag}",
        _env_file=None,
        **overrides,
    )
