"""Sources as the Messages API's ``search_result`` blocks, and the answer's citations.

The LLM gets each packed chunk as a ``search_result`` content block (source, title, one text
block per sentence, ``citations: {"enabled": true}``), so the API itself returns which spans of
which source each part of the answer rests on (``search_result_location`` citations); nothing
is parsed out of free text. :func:`native_answer` turns the answer's text blocks into the
rendered answer, with ``[n]`` markers inserted where the cited blocks end, and its
:class:`~ragstate.models.Citation` list (chunk, document, cited spans). The offline extractive
answer (:func:`extractive_answer`) gives the same shape. :func:`citations_for` parses ``[n]``
markers only for answers without native citations (results recorded before them).

This module is pure (workflows import it): no SDK types, plain tuples and dicts.

Example::

    >>> cited_numbers("BM25 ranks terms [2], unlike dense retrieval [1][2].")
    [2, 1]
    >>> cite_block("BM25 ranks terms.", [2])
    'BM25 ranks terms [2].'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ragstate.ingest.chunking import sentences
from ragstate.models import Citation, Source
from ragstate.retrieval.analyzer import analyze

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
#: What a marker goes before: the block's closing punctuation and whitespace.
_TAIL = re.compile(r"[\s.,;:!?]*\Z")
#: Prompt caching: the system prompt and the sources are the prefix a retry or another question
#: over the same sources repeats.
CACHE = {"type": "ephemeral"}

SYSTEM_PROMPT = (
    "You answer questions using only the search results provided; never use outside knowledge. "
    "Base every claim on the search results, which are cited automatically: do not write source "
    "numbers or brackets yourself. If the search results do not contain the answer, say plainly "
    "that the sources do not contain the answer, and nothing else."
)

#: (search_result_index, cited_text) pairs of one text block of the API's answer.
Cited = Sequence[tuple[int, str]]


def search_results(sources: list[Source]) -> list[dict[str, Any]]:
    """The sources as ``search_result`` blocks, in order (the API's ``search_result_index``
    is the position here); each sentence is its own text block, the unit a citation spans.
    The last one ends the cached prefix."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "search_result",
            "source": s.source or s.doc_id,
            "title": s.title or s.source or s.doc_id,
            "content": [{"type": "text", "text": part} for part in (sentences(s.text) or ["(empty passage)"])],
            "citations": {"enabled": True},
        }
        for s in sources
    ]
    if blocks:
        blocks[-1]["cache_control"] = CACHE
    return blocks


def user_content(question: str, sources: list[Source]) -> list[dict[str, Any]]:
    """The user message: the sources, then the question."""
    return [*search_results(sources), {"type": "text", "text": f"Question: {question}"}]


def system_blocks() -> list[dict[str, Any]]:
    return [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": CACHE}]


def markers(numbers: Iterable[int]) -> str:
    return "".join(f"[{n}]" for n in dict.fromkeys(numbers))


def cite_block(text: str, numbers: Sequence[int]) -> str:
    """One answer block with its sources' markers before its closing punctuation."""
    if not numbers:
        return text
    start = _TAIL.search(text).start()  # type: ignore[union-attr]  # matches at least the empty end
    body, tail = text[:start], text[start:]
    return f"{body} {markers(numbers)}{tail}" if body else f"{markers(numbers)}{tail}"


def stable_prefix(text: str) -> int:
    """How much of a block's text can be shown before its citations are known: all but the
    closing punctuation and whitespace a marker may have to go before."""
    return _TAIL.search(text).start()  # type: ignore[union-attr]


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _citation(s: Source, spans: list[str]) -> Citation:
    return Citation(
        number=s.number,
        chunk_id=s.chunk_id,
        doc_id=s.doc_id,
        title=s.title,
        source=s.source,
        snippet=snippet(" … ".join(spans) if spans else s.text),
        score=s.score,
        cited_text=spans,
    )


def _collect(cited: Iterable[tuple[Source, str]]) -> list[Citation]:
    """One citation per source, in order of first citation, with its distinct spans."""
    spans: dict[int, list[str]] = {}
    by_number: dict[int, Source] = {}
    for s, text in cited:
        by_number[s.number] = s
        bucket = spans.setdefault(s.number, [])
        if text and text not in bucket:
            bucket.append(text)
    return [_citation(by_number[n], spans[n]) for n in spans]


def native_answer(blocks: Iterable[tuple[str, Cited]], sources: list[Source]) -> tuple[str, list[Citation]]:
    """The API's text blocks (text, their citations) as the rendered answer and its citations.
    A citation of an index that names no source sent is dropped."""
    text, cited = [], []
    for block_text, citations in blocks:
        hits = [(sources[i], span.strip()) for i, span in citations if 0 <= i < len(sources)]
        text.append(cite_block(block_text, [s.number for s, _ in hits]))
        cited.extend(hits)
    return "".join(text).strip(), _collect(cited)


def cited_numbers(answer: str) -> list[int]:
    """Source numbers in order of first citation."""
    seen: list[int] = []
    for m in _MARKER.finditer(answer):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def citations_for(answer: str, sources: list[Source], cited: list[Citation] | None = None) -> list[Citation]:
    """The answer's citations: ``cited`` (native, or extractive) when the answer step gave
    them; else those of the ``[n]`` markers in the text, in citation order (an answer
    recorded before native citations), ignoring markers that name no source."""
    if cited is not None:
        return cited
    by_number = {s.number: s for s in sources}
    return [_citation(by_number[n], []) for n in cited_numbers(answer) if n in by_number]


def extractive_answer(question: str, sources: list[Source], max_sentences: int = 3) -> tuple[str, list[Citation]]:
    """Offline mode: the sentences that share the most query terms, each cited, best first,
    and their citations (the quoted sentence is the cited span)."""
    q_terms = set(analyze(question))
    scored: list[tuple[float, Source, str]] = []
    for s in sources:
        for i, sentence in enumerate(_SENTENCE.split(s.text)):
            terms = analyze(sentence)
            if not terms:
                continue
            overlap = len(q_terms.intersection(terms))
            if overlap:
                # Prefer higher-ranked sources among equally matching sentences.
                scored.append((overlap + 1.0 / (s.number + i + 1), s, sentence.strip()))
    if not scored:
        if not sources:
            return "No indexed passage matches this question.", []
        scored = [(0.0, sources[0], _SENTENCE.split(sources[0].text)[0].strip())]
    scored.sort(key=lambda t: -t[0])
    # Keep sentences that match at least half as many query terms as the best one.
    floor = int(scored[0][0]) / 2
    picked: list[tuple[Source, str]] = []
    seen: set[str] = set()
    for score, s, sentence in scored:
        if score < floor:
            break
        if sentence in seen:
            continue
        seen.add(sentence)
        picked.append((s, sentence))
        if len(picked) >= max_sentences:
            break
    return " ".join(cite_block(sentence, [s.number]) for s, sentence in picked), _collect(picked)
