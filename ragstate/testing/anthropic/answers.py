"""How the fake Messages API shapes an answer like the real one: text blocks cited at their
``[n]`` markers (native citations of ``search_result`` blocks), the cached prompt prefix, the
error body and the pieces a stream sends."""

from __future__ import annotations

import json
import re
from typing import Any

from ragstate.testing.anthropic.recorded import result_text

_MARKERS = re.compile(r"\s*((?:\[\d+(?:\s*[,;]\s*\d+)*\])+)")


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _citation(results: list[dict], index: int, claim: str) -> dict:
    """A ``search_result_location`` citation of ``results[index]``: its content block sharing
    the most words with ``claim`` (the first on a tie)."""
    result = results[index]
    content = [c.get("text", "") for c in result.get("content", [])] or [""]
    best = max(range(len(content)), key=lambda i: (len(_words(content[i]) & _words(claim)), -i))
    return {
        "type": "search_result_location",
        "cited_text": content[best],
        "search_result_index": index,
        "source": result.get("source", ""),
        "title": result.get("title"),
        "start_block_index": best,
        "end_block_index": best + 1,
    }


def answer_blocks(text: str, results: list[dict]) -> list[dict]:
    """The planned text as the API's text blocks: split at ``[n]`` markers into cited blocks
    when the request has search results, else one block as planned."""
    if not results:
        return [{"type": "text", "text": text}]
    blocks: list[dict] = []
    pos = 0
    for m in _MARKERS.finditer(text):
        claim = text[pos : m.start()]
        numbers = dict.fromkeys(int(n) for n in re.findall(r"\d+", m.group(1)))
        cites = [_citation(results, n - 1, claim) for n in numbers if 1 <= n <= len(results)]
        if claim or not blocks:
            blocks.append({"type": "text", "text": claim, "citations": cites})
        else:  # markers right after markers: the same claim
            blocks[-1]["citations"].extend(cites)
        pos = m.end()
    if pos < len(text) or not blocks:
        blocks.append({"type": "text", "text": text[pos:], "citations": []})
    for b in blocks:
        if not b["citations"]:
            b["citations"] = None  # the API leaves an uncited block's citations null
    return [b for b in blocks if b["text"] or b["citations"]]


def prefix_words(body: dict) -> tuple[str, int] | None:
    """The request's cached prefix (up to its last ``cache_control`` breakpoint, system first,
    then messages) as a key and its word count; None without a breakpoint."""
    parts: list[Any] = []
    upto: list[Any] | None = None
    system = body.get("system")
    blocks = [b for b in system if isinstance(b, dict)] if isinstance(system, list) else []
    for m in body.get("messages", []):
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            blocks.extend(b for b in content if isinstance(b, dict))
    for b in blocks:
        parts.append(b)
        if b.get("cache_control"):
            upto = list(parts)
    if upto is None:
        return None
    words = sum(len((b.get("text") or result_text(b) + " " + b.get("title", "")).split()) for b in upto)
    return json.dumps(upto, sort_keys=True), words


def error_body(etype: str, message: str, request_id: str) -> dict:
    return {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}


def split(text: str, parts: int) -> list[str]:
    """``text`` in about ``parts`` pieces, cut at spaces, that join back to ``text``."""
    words = text.split(" ")
    if len(words) < 2 or parts == 1:
        return [text]
    size = max(1, -(-len(words) // parts))
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p + (" " if i < len(pieces) - 1 else "") for i, p in enumerate(pieces)]
