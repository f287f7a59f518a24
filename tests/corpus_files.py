"""Writing small corpora for the document and discovery tests."""

from __future__ import annotations

import json
from pathlib import Path

from ragstate.ingest.documents import Document, load
from ragstate.models import SourceRef


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def only_doc(ref: SourceRef, max_bytes: int = 1_000_000) -> Document:
    items = list(load(ref, max_bytes))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def beir(tmp_path: Path, name: str, records: list, extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    return write(tmp_path / name, "\n".join(lines) + "\n")
