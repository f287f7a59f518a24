"""Document summaries: the prompt the LLM gets, the offline extractive summary, the ids of a
batch's requests. Pure functions (no store, no SDK): the activities of
:mod:`ragstate.activities.summaries` and :mod:`ragstate.activities.anthropic_batches` use them.

Example::

    extractive_summary("BM25", "BM25 ranks documents. It uses term frequency. ...")
    custom_id("/data/a.md", "3f2a...-9c1d")        # "s-0a1b..." (the same every time)
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

from ragstate.ingest.chunking import sentences

__all__ = [
    "EXTRACTIVE",
    "SUMMARY_SYSTEM",
    "custom_id",
    "document_text",
    "extractive_summary",
    "summary_params",
    "summary_title",
]

#: The mode label of an offline summary (no API key): sentences of the document itself.
EXTRACTIVE = "extractive"
SUMMARY_SYSTEM = (
    "You summarize documents for a search index. Write a faithful summary of the document in "
    "2 to 4 sentences of plain prose: its subject, its main claims or findings, and the terms a "
    "reader would search for. Use only what the document says; no preamble, no lists."
)
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    _WORD.findall(
        "a an and are as at be by for from has have in is it its of on or that the this to was were will with"
    )
)


def summary_title(title: str) -> str:
    """The title of a summary chunk: a citation of it says it is the summary."""
    return f"Summary: {title}" if title else "Summary"


def custom_id(doc_id: str, version: str) -> str:
    """A Message Batch request's ``custom_id`` for a document version: deterministic (a retried
    creation sends the same ids) and within the API's ``^[a-zA-Z0-9_-]{1,64}$``."""
    return "s-" + hashlib.blake2b(f"{doc_id}\x00{version}".encode(), digest_size=16).hexdigest()


def document_text(texts: list[str], limit: int) -> str:
    """A document's text from its chunks in order, without the sentences chunk overlap repeats,
    cut at ``limit`` characters (what the LLM reads)."""
    seen: set[str] = set()
    out: list[str] = []
    size = 0
    for text in texts:
        for s in sentences(text):
            if s in seen:
                continue
            seen.add(s)
            out.append(s)
            size += len(s) + 1
            if size >= limit:
                return " ".join(out)[:limit]
    return " ".join(out)


def summary_params(model: str, max_tokens: int, title: str, text: str) -> dict[str, Any]:
    """The Messages API parameters for one document's summary (the same for a direct call and
    a batch request)."""
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": SUMMARY_SYSTEM,
        "messages": [
            {"role": "user", "content": f"<document title={title!r}>\n{text}\n</document>\n\nSummarize this document."}
        ],
    }


def extractive_summary(title: str, text: str, max_sentences: int = 3, max_chars: int = 600) -> str:
    """The offline summary: the first sentence and the sentences whose words are the document's
    most frequent (stop words aside), in the document's order, within ``max_chars``."""
    parts = list(dict.fromkeys(sentences(text)))
    if not parts:
        return title
    freq = Counter(w for w in _WORD.findall(text.lower()) if w not in _STOP and not w.isdigit())

    def score(s: str) -> float:
        words = [w for w in _WORD.findall(s.lower()) if w not in _STOP]
        return sum(freq[w] for w in words) / (len(words) + 3) if words else 0.0  # +3: long ones need more

    best = sorted(range(1, len(parts)), key=lambda i: (-score(parts[i]), i))[: max_sentences - 1]
    chosen: list[str] = []
    size = 0
    for i in [0, *sorted(best)]:
        if chosen and size + len(parts[i]) > max_chars:
            break
        chosen.append(parts[i])
        size += len(parts[i]) + 1
    return " ".join(chosen)[:max_chars]
