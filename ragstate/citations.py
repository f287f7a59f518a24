"""Prompting with numbered sources and mapping the answer's ``[n]`` markers back to them.

Example::

    >>> cited_numbers("BM25 ranks terms [2], unlike dense retrieval [1][2].")
    [2, 1]
"""

from __future__ import annotations

import re

from ragstate.analyzer import analyze
from ragstate.models import Citation, Source

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources provided. Cite every claim with the "
    "number of its source in square brackets, like [1] or [2][3]. If the sources do not contain "
    "the answer, say so plainly. Do not invent sources."
)


def cited_numbers(answer: str) -> list[int]:
    """Source numbers in order of first citation."""
    seen: list[int] = []
    for m in _MARKER.finditer(answer):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def build_prompt(question: str, sources: list[Source]) -> str:
    blocks = [f"[{s.number}] {s.title}\n{s.text}" for s in sources]
    return "Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\n\nAnswer with citations:"


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def citations_for(answer: str, sources: list[Source]) -> list[Citation]:
    """Citations for the sources the answer cites, in citation order; markers that name no
    source are ignored (the model may hallucinate a number)."""
    by_number = {s.number: s for s in sources}
    out = []
    for n in cited_numbers(answer):
        s = by_number.get(n)
        if s is not None:
            out.append(
                Citation(
                    number=n,
                    chunk_id=s.chunk_id,
                    doc_id=s.doc_id,
                    title=s.title,
                    source=s.source,
                    snippet=snippet(s.text),
                    score=s.score,
                )
            )
    return out


def extractive_answer(question: str, sources: list[Source], max_sentences: int = 3) -> str:
    """Offline mode: the sentences that share the most query terms, each cited, best first."""
    q_terms = set(analyze(question))
    scored: list[tuple[float, int, str]] = []
    for s in sources:
        for i, sentence in enumerate(_SENTENCE.split(s.text)):
            terms = analyze(sentence)
            if not terms:
                continue
            overlap = len(q_terms.intersection(terms))
            if overlap:
                # Prefer higher-ranked sources among equally matching sentences.
                scored.append((overlap + 1.0 / (s.number + i + 1), s.number, sentence.strip()))
    if not scored:
        if not sources:
            return "No indexed passage matches this question."
        scored = [(0.0, sources[0].number, _SENTENCE.split(sources[0].text)[0].strip())]
    scored.sort(key=lambda t: -t[0])
    # Keep sentences that match at least half as many query terms as the best one.
    floor = int(scored[0][0]) / 2
    picked, seen = [], set()
    for score, number, sentence in scored:
        if score < floor:
            break
        if sentence in seen:
            continue
        seen.add(sentence)
        picked.append(f"{sentence} [{number}]")
        if len(picked) >= max_sentences:
            break
    return " ".join(picked)
