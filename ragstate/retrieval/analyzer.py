"""The one text analyzer shared by ingestion and queries: lowercase, stop words, Snowball stems.

Keyword search is BM25 over sparse vectors whose dimensions are hashed stems, so the query
side and the document side must analyze text identically; everything goes through here.

Example::

    >>> analyze("The Running of the Bulls")
    ['run', 'bull']
"""

from __future__ import annotations

import re
import threading
import unicodedata
import zlib
from collections import Counter
from functools import lru_cache

import snowballstemmer

# NLTK's English stop-word list (the one most BM25 baselines use).
STOP_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
        "d",
        "ll",
        "m",
        "o",
        "re",
        "ve",
        "y",
        "ain",
        "aren",
        "couldn",
        "didn",
        "doesn",
        "hadn",
        "hasn",
        "haven",
        "isn",
        "ma",
        "mightn",
        "mustn",
        "needn",
        "shan",
        "shouldn",
        "wasn",
        "weren",
        "won",
        "wouldn",
    ]
)

_TOKEN = re.compile(r"\w+", re.UNICODE)
# A snowball stemmer keeps the word it works on in the object: shared by the activity threads it
# raised IndexError and could return another word's stem. One per thread.
_stemmers = threading.local()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens after Unicode NFKC normalisation (no stemming, stop words kept)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def analyze(text: str) -> list[str]:
    """Tokens for BM25: lowercased, stop words and 1-letter tokens dropped, Snowball-stemmed."""
    return [_stem(t) for t in tokenize(text) if t not in STOP_WORDS and (len(t) > 1 or t.isdigit())]


def term_index(term: str) -> int:
    """The sparse-vector dimension of a term: a stable 32-bit hash, identical in every process."""
    return zlib.crc32(term.encode("utf-8"))


def term_counts(terms: list[str]) -> dict[int, int]:
    """Counts per sparse dimension (terms that hash alike are merged)."""
    counts: Counter[int] = Counter()
    for term, n in Counter(terms).items():
        counts[term_index(term)] += n
    return dict(counts)
