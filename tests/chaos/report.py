"""What one fault scenario measured, the targets it is held to, and the table the suite prints.

Targets (issue 11): 0 chunks lost, 0 duplicated, 0 hangs, 0 truncated answers accepted as
complete, at most 1 completed LLM response per completed answer (no answer paid twice), a lost
worker or server noticed and the work going on again within 15 s, and every try survived.
Issue 23 adds: 0 answers degraded on a busy queue (a slow LLM, its worker polling: busy is not
broken), where a row counts them (``degraded``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

RECOVERY_TARGET_S = 15.0


@dataclass
class Result:
    """One row. ``lost``/``duplicated`` are chunks (None where nothing is ingested);
    ``answers`` are completed answers and ``paid`` the completed LLM responses behind them
    (``max_paid`` the most for one answer); ``recover_s`` the worst recovery of the scenario;
    ``degraded`` answers that came back degraded where none may (None where not counted)."""

    scenario: str
    tried: int = 0
    survived: int = 0
    lost: int | None = None
    duplicated: int | None = None
    answers: int = 0
    paid: int = 0
    max_paid: int = 0
    recover_s: float | None = None
    hangs: int = 0
    truncated_accepted: int = 0
    degraded: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def attempt(self, survived: bool, note: str | None = None) -> bool:
        """Count one try; a failed one should say why in ``note``."""
        self.tried += 1
        self.survived += bool(survived)
        if note and (not survived or note not in self.notes):
            self.notes.append(note if survived else f"FAILED: {note}")
        return survived

    def recovered(self, seconds: float) -> None:
        self.recover_s = max(self.recover_s or 0.0, seconds)

    def answered(self, paid: int) -> None:
        """One completed answer behind which the fake API completed ``paid`` responses."""
        self.answers += 1
        self.paid += paid
        self.max_paid = max(self.max_paid, paid)

    @property
    def llm_per_answer(self) -> str:
        if not self.answers:
            return "-"
        return f"{self.paid / self.answers:.2f} (max {self.max_paid})"

    def misses(self) -> list[str]:
        """The targets this scenario missed (empty: it passed)."""
        out = []
        if self.tried == 0:
            out.append("nothing tried")
        if self.survived < self.tried:
            out.append(f"{self.tried - self.survived} of {self.tried} not survived")
        if self.lost:
            out.append(f"{self.lost} chunks lost")
        if self.duplicated:
            out.append(f"{self.duplicated} chunks duplicated")
        if self.hangs:
            out.append(f"{self.hangs} hangs")
        if self.truncated_accepted:
            out.append(f"{self.truncated_accepted} truncated answers accepted")
        if self.degraded:
            out.append(f"{self.degraded} answers degraded")
        if self.max_paid > 1:
            out.append(f"an answer paid {self.max_paid} times")
        if self.recover_s is not None and self.recover_s > RECOVERY_TARGET_S:
            out.append(f"recovery {self.recover_s:.1f} s > {RECOVERY_TARGET_S:.0f} s")
        return out

    def as_json(self) -> dict:
        return {**asdict(self), "llm_per_answer": self.paid / self.answers if self.answers else None}


COLUMNS = ["scenario", "tried", "survived", "lost", "duplicated", "LLM calls/answer", "recover (s)", "hangs", "ok"]


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def table(results: list[Result]) -> str:
    """The results as a Markdown table (pasted as is into docs/reliability.md), notes below."""
    rows = [
        [
            r.scenario,
            str(r.tried),
            str(r.survived),
            _cell(r.lost),
            _cell(r.duplicated),
            r.llm_per_answer,
            "-" if r.recover_s is None else f"{r.recover_s:.1f}",
            str(r.hangs),
            "yes" if not r.misses() else "NO",
        ]
        for r in results
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    out = [line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in rows]
    notes = [f"- {r.scenario}: {'; '.join(r.notes)}" for r in results if r.notes]
    misses = [f"- {r.scenario}: {', '.join(r.misses())}" for r in results if r.misses()]
    if notes:
        out += ["", "Notes:", *notes]
    out += ["", "Targets missed:", *misses] if misses else ["", "Every target met."]
    return "\n".join(out)


def as_json(results: list[Result]) -> str:
    return json.dumps(
        {"results": [r.as_json() for r in results], "passed": not any(r.misses() for r in results)}, indent=2
    )
