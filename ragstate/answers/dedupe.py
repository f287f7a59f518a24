"""The same text cited once: of chunks whose text is identical (whitespace aside), only the
best-ranked is kept. Two copies of a file under two paths, or one document ingested under two
ids, would otherwise fill two of an answer's citations with the same words.

Example::

    kept = distinct_texts(ranked, text=lambda item: item[0].text)   # best first, copies dropped
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def content_hash(text: str) -> str:
    """A digest of the text with runs of whitespace made one space (re-wrapped copies match)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8", "surrogatepass")).hexdigest()


def distinct_texts(items: Sequence[T], text: Callable[[T], str]) -> list[T]:
    """``items`` in order, without those whose text repeats an earlier item's."""
    seen: set[str] = set()
    kept = []
    for item in items:
        digest = content_hash(text(item))
        if digest not in seen:
            seen.add(digest)
            kept.append(item)
    return kept
