"""ParseQuery's rules, shared by the activity and by clients that want to fail before starting.

Example::

    >>> normalise_question("  What is   BM25?\\n")
    'What is BM25?'
"""

from __future__ import annotations

import unicodedata

from ragstate.models import RagQuery
from ragstate.settings import Settings

MAX_FILTER_VALUES = 100


class InvalidQuery(ValueError):
    """The question or its options are unusable; the message says what is wrong."""


def normalise_question(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def validate(query: RagQuery, settings: Settings) -> tuple[str, int]:
    """Normalised question and effective top_k, or :class:`InvalidQuery`."""
    visible = "".join(c for c in query.question if unicodedata.category(c) != "Cf")  # zero-width etc.
    if not visible.strip():
        raise InvalidQuery("question is empty: ask something, e.g. 'What is BM25?'")
    bad = sorted({f"U+{ord(c):04X}" for c in query.question if unicodedata.category(c) == "Cc" and c not in "\t\n\r"})
    if bad:
        raise InvalidQuery(f"question contains control characters ({', '.join(bad)}); remove them")
    question = normalise_question(query.question)
    if len(question) > settings.max_query_chars:
        raise InvalidQuery(f"question is {len(question)} characters long; the limit is {settings.max_query_chars}")
    top_k = settings.default_top_k if query.top_k is None else query.top_k
    if not 1 <= top_k <= settings.max_top_k:
        raise InvalidQuery(f"top_k must be between 1 and {settings.max_top_k}, got {top_k}")
    for name in ("sources", "doc_ids"):
        values = getattr(query, name)
        if values is None:
            continue
        if not values or len(values) > MAX_FILTER_VALUES:
            raise InvalidQuery(f"{name} filter needs 1 to {MAX_FILTER_VALUES} values, got {len(values)}")
        if any(not isinstance(v, str) or not v.strip() for v in values):
            raise InvalidQuery(f"{name} filter values must be non-empty strings")
    return question, top_k
