"""What the fake Messages API received: :class:`RecordedRequest`, read as the model would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def key_from(headers: dict[str, str]) -> str | None:
    """The API key of a request: ``x-api-key``, or ``Authorization: Bearer`` (the SDK since 2.x)."""
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def result_text(block: dict) -> str:
    """The text of a ``search_result`` block, its content blocks joined."""
    return " ".join(c.get("text", "") for c in block.get("content", []) if isinstance(c, dict))


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    at: float  # time.monotonic() on arrival

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream"))

    @property
    def api_key(self) -> str | None:
        """The key sent, as ``x-api-key`` or as ``Authorization: Bearer`` (the SDK since 2.x)."""
        return key_from(self.headers)

    @property
    def system(self) -> str:
        system = self.body.get("system") if isinstance(self.body, dict) else None
        if isinstance(system, list):
            return "".join(b.get("text", "") for b in system if isinstance(b, dict))
        return system or ""

    @property
    def prompt(self) -> str:
        """The text of the user messages, joined; a search result as ``[n] title`` and its text."""
        out = []
        results = 0
        for m in (self.body or {}).get("messages", []) if isinstance(self.body, dict) else []:
            if m.get("role") != "user":
                continue
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                for b in content:
                    if isinstance(b, dict) and b.get("type") == "search_result":
                        results += 1
                        out.append(f"[{results}] {b.get('title', '')}\n{result_text(b)}")
                    elif isinstance(b, dict):
                        out.append(b.get("text", ""))
        return "\n".join(out)

    @property
    def search_results(self) -> list[dict]:
        """The ``search_result`` blocks of the user messages, in order (their index is the
        ``search_result_index`` a citation names)."""
        out: list[dict] = []
        for m in (self.body or {}).get("messages", []) if isinstance(self.body, dict) else []:
            content = m.get("content") if m.get("role") == "user" else None
            if isinstance(content, list):
                out.extend(b for b in content if isinstance(b, dict) and b.get("type") == "search_result")
        return out
