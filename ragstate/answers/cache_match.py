"""When a new question may take an answered one's answer (the semantic answer cache,
docs/answer-cache.md): its embedding close enough (cosine at least the threshold) *and* a
lexical guard that the embedding alone does not give. On the committed pair set
(bench/answer_cache/pairs.jsonl) whole-question cosine puts many near misses above many
paraphrases ("What is BM25?" / "What is BM25F?" 0.9+, a negation 0.95+), so the guard says no
to what a model glosses over:

- identifiers: a token with a digit (``bm25``, ``1990``, ``ipv6``, ``b12``), an acronym
  (``RRF``, ``FM``) or a single capital letter (hepatitis ``B``, the ``E`` layer) of either
  question must be a token of the other (case aside);
- negations: the same markers on both sides (``not``/``no``/``never``/``n't`` as one,
  ``without``, ``non``);
- substitutions: a content term (analyzed: stemmed, no stop words) of each side that the other
  lacks, each without a term on the other side sharing its first letters (``act``/``action``,
  ``infant``/``infanc``), means another entity or aspect (aspirin/heparin, lung/liver,
  advantages/disadvantages): no hit. A term only one side has (``how does X work`` / ``X``)
  is allowed.

Example::

    a, b = signature("What is BM25?"), signature("What is BM25F?")
    compatible(a, b)   # False: bm25 is not a token of the other
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragstate.retrieval.analyzer import STOP_WORDS, _stem, tokenize

#: Negation markers, each mapped to what it means (``n't`` tokenizes to ``t``).
NEGATIONS = {
    "not": "not",
    "no": "not",
    "never": "not",
    "nor": "not",
    "none": "not",
    "nothing": "not",
    "neither": "not",
    "cannot": "not",
    "t": "not",
    "without": "without",
    "non": "non",
}
#: A shared prefix this long makes two terms one word's forms (stems differ: infanc/infant).
PREFIX = 5


@dataclass(frozen=True)
class Signature:
    """What the guard compares of one question."""

    tokens: frozenset[str]  # every lowercased token, stop words kept
    identifiers: frozenset[str]  # lowercased digit-bearing tokens, acronyms, single capitals
    negations: frozenset[str]
    terms: frozenset[str]  # stemmed content terms, identifiers and negations aside


def _identifiers(question: str) -> set[str]:
    found = set()
    for m in re.finditer(r"[^\W_]+", question):
        part = m.group()
        digit = any(c.isdigit() for c in part)
        acronym = len(part) >= 2 and sum(c.isupper() for c in part) >= 2
        # A single capital, but "I", and "A" opening a sentence (the article, not vitamin A).
        opening = re.fullmatch(r"\s*|.*[.?!:]\s*", question[: m.start()], re.S) is not None
        capital = len(part) == 1 and part.isupper() and part != "I" and not (part == "A" and opening)
        if digit or acronym or capital:
            found.add(part.lower())
    return found


def signature(question: str) -> Signature:
    tokens = tokenize(question)
    identifiers = _identifiers(question)
    negations = {NEGATIONS[t] for t in tokens if t in NEGATIONS}
    terms = {
        _stem(t)
        for t in tokens
        if t not in identifiers and t not in NEGATIONS and t not in STOP_WORDS and not t.isdigit()
    }
    return Signature(frozenset(tokens), frozenset(identifiers), frozenset(negations), frozenset(terms))


def _unmatched(mine: frozenset[str], theirs: frozenset[str]) -> set[str]:
    """My terms that the other side has in no form (a shared prefix counts as a form)."""
    rest = set()
    for term in mine - theirs:
        n = min(PREFIX, len(term))
        if not any(other[:n] == term[:n] and len(other) >= n for other in theirs):
            rest.add(term)
    return rest


def compatible(a: Signature, b: Signature) -> bool:
    """Whether the guard lets one question take the other's answer (symmetric)."""
    if not a.identifiers <= b.tokens or not b.identifiers <= a.tokens:
        return False
    if a.negations != b.negations:
        return False
    return not (_unmatched(a.terms, b.terms) and _unmatched(b.terms, a.terms))
