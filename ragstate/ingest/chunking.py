"""Token-aware chunking with overlap that keeps sentence boundaries and the document title.

Tokens are counted with a word-piece approximation (words and punctuation marks), which is
close to the embedding model's own count for English prose and needs no tokenizer download.

Example::

    >>> chunks = chunk_text("First sentence. Second one.", max_tokens=50, overlap=10)
    >>> [c.text for c in chunks]
    ['First sentence. Second one.']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str
    start: int  # character offsets in the document text
    end: int


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def sentences(text: str) -> list[str]:
    """The non-empty sentences of ``text``, split as the chunker splits them.

    Example::

        >>> sentences("What is BM25? How is it tuned?")
        ['What is BM25?', 'How is it tuned?']
    """
    return [part for s, e in _sentences(text) if (part := text[s:e].strip())]


def _split_long(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    """A sentence longer than a chunk is cut at token boundaries."""
    toks = [m for m in _TOKEN.finditer(text, start, end)]
    out = []
    for i in range(0, len(toks), max_tokens):
        part = toks[i : i + max_tokens]
        out.append((part[0].start(), part[-1].end()))
    return out


def chunk_text(text: str, max_tokens: int = 200, overlap: int = 40) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens``; consecutive chunks share
    up to ``overlap`` tokens of trailing sentences so that no statement is cut off from its context."""
    if overlap >= max_tokens:
        raise ValueError("overlap must be smaller than max_tokens")
    units: list[tuple[int, int, int]] = []  # (start, end, tokens)
    for s, e in _sentences(text):
        n = count_tokens(text[s:e])
        if n == 0:
            continue
        if n <= max_tokens:
            units.append((s, e, n))
        else:
            units.extend((a, b, count_tokens(text[a:b])) for a, b in _split_long(text, s, e, max_tokens))

    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and total + units[j][2] <= max_tokens:
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(len(chunks), text[start:end].strip(), start, end))
        if j >= len(units):
            break
        # Step back over trailing units that fit in the overlap, but always advance.
        back, k = 0, j
        while k - 1 > i and back + units[k - 1][2] <= overlap:
            back += units[k - 1][2]
            k -= 1
        i = k
    return chunks
