"""What a query run shows in the Temporal UI while it runs and after: its *current details*
(``workflow.set_current_details``, read through the ``__temporal_workflow_metadata`` query), a
Markdown table like the Step Functions console's graph, one row per state:

    | state         | status | duration | attempts | figures                                          |
    | ParseQuery    | ok     | 3 ms     | 1        | 4 terms, top_k 5, depth 100                      |
    | VectorSearch  | ok     | 41 ms    | 1        | 100 hits                                         |
    | KeywordSearch | ok     | 12 ms    | 1        | 87 hits                                          |
    | Merge         | ok     | 2 ms     | 1        | 5 sources packed of 150 candidates               |
    | Synthesize    | ok     | 1.9 s    | 2        | llm claude-sonnet-5-5, 812 in / 96 out, $0.0026  |

followed by the answer's mode, cost and any degraded reason. Default (local-activity) runs
record every cheap step when the workflow task completes, so the UI's timeline cannot show
their durations: this table does. Setting the details issues no command (nothing to patch).

Example::

    details = RunDetails()
    details.start("ParseQuery")
    details.finish("ParseQuery", "ok", 3.0, attempt=1, figures="4 terms")
    details.publish()
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from temporalio import workflow

from ragstate.contracts import Activity
from ragstate.models import AnswerMode, BranchResult, Condensed, RagAnswer, SynthesisResult

#: The graph's states, in the order the table lists them.
QUERY_STATES = (
    Activity.PARSE_QUERY,
    Activity.VECTOR_SEARCH,
    Activity.KEYWORD_SEARCH,
    Activity.MERGE,
    Activity.SYNTHESIZE,
)


@dataclass
class StateRow:
    state: str
    status: str = "pending"
    duration_ms: float | None = None
    attempt: int | None = None
    figures: str = ""

    def cells(self) -> list[str]:
        duration = "" if self.duration_ms is None else format_duration(self.duration_ms)
        attempts = "" if self.attempt is None else str(self.attempt)
        return [self.state, self.status, duration, attempts, self.figures]


def format_duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def fixed_width_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table whose cells end in no-break spaces: the UI renders tables without cell
    padding (the columns ran together), and a code block would cut long rows off."""
    gap = "\u00a0" * 4

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c + gap for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])


def _cell(text: str) -> str:
    """A table cell: a ``|`` or a line break in a reason would break the row."""
    return text.replace("|", "/").replace("\n", " ").strip()


@dataclass
class RunDetails:
    """The rows of one run's table and the lines under it, published on every change."""

    rows: dict[str, StateRow] = field(default_factory=lambda: {s: StateRow(s) for s in QUERY_STATES})
    notes: list[str] = field(default_factory=list)

    def row(self, state: str) -> StateRow:
        if state not in self.rows:  # e.g. ExtractiveAnswer after a failed Synthesize
            self.rows[state] = StateRow(state)
        return self.rows[state]

    def first(self, state: str) -> None:
        """A row for ``state`` at the top (CondenseQuestion, which only a follow-up runs)."""
        self.rows = {state: StateRow(state), **{k: v for k, v in self.rows.items() if k != state}}

    def start(self, state: str) -> None:
        self.row(state).status = "running"
        self.publish()

    def finish(
        self, state: str, status: str, duration_ms: float, *, attempt: int | None = None, figures: str = ""
    ) -> None:
        row = self.row(state)
        row.status, row.duration_ms, row.attempt = status, duration_ms, attempt
        if figures:
            row.figures = figures
        self.publish()

    def figures(self, state: str, figures: str) -> None:
        self.row(state).figures = figures
        self.publish()

    def skip(self, state: str, why: str) -> None:
        row = self.row(state)
        row.status, row.figures = "skipped", why
        self.publish()

    def note(self, line: str) -> None:
        self.notes.append(line)
        self.publish()

    def render(self) -> str:
        rows = [[_cell(c) for c in row.cells()] for row in self.rows.values()]
        lines = [fixed_width_table(["state", "status", "duration", "attempts", "figures"], rows)]
        if self.notes:
            lines.append("")
            lines += [f"- {_cell(n)}" for n in self.notes]
        return "\n".join(lines)

    def publish(self) -> None:
        workflow.set_current_details(self.render())


#: Why an answer cost nothing, by how it was made.
_NO_LLM_CALL: dict[AnswerMode, str] = {
    AnswerMode.offline_extractive: "offline extractive mode: no LLM call (no Anthropic API key)",
    AnswerMode.retrieval_only: "retrieval only: no LLM call",
    AnswerMode.llm: "no cost reported by the LLM step",
}


def no_llm_call_reason(mode: AnswerMode, *, fallback: bool) -> str:
    """The ``reason`` of an answer's zero cost."""
    if fallback:
        return "extractive fallback: the LLM step completed no answer (failed attempts are not priced)"
    return _NO_LLM_CALL[mode]


def condense_figures(c: Condensed) -> str:
    """The CondenseQuestion row: a new topic, or how much context the follow-up took."""
    if c.topic_switch:
        return f"{c.mode.value}: new topic, no context"
    if c.context_terms or c.context_text:
        return f"{c.mode.value}: {len(c.context_terms)} context terms from {c.turns_used} earlier turns"
    return f"{c.mode.value}: rewritten" if c.standalone else f"{c.mode.value}: no context"


def hit_figures(branch: BranchResult) -> str:
    return f"{len(branch.hits)} hits"


def synthesis_figures(synthesis: SynthesisResult) -> str:
    """Mode and model, tokens in/out, cost, truncated: the Synthesize row's figures."""
    parts = [synthesis.mode.value + (f" {synthesis.model}" if synthesis.model else "")]
    if synthesis.mode is AnswerMode.llm:
        parts.append(f"{synthesis.usage.input_tokens} in / {synthesis.usage.output_tokens} out tokens")
    if synthesis.cost is not None and synthesis.cost.priced:
        parts.append(f"${synthesis.cost.usd:.4f}")
    if synthesis.truncated:
        parts.append("truncated")
    return ", ".join(parts)


def outcome_notes(answer: RagAnswer, *, total_ms: float) -> list[str]:
    """The lines under the table: how the answer was made, what it cost, why it is degraded
    or cut short."""
    usd = f"${answer.cost.usd:.4f}" if answer.cost.priced else "unpriced"
    why = f" ({answer.cost.reason})" if answer.cost.reason else ""
    model = f" {answer.model}" if answer.model else ""
    status = "degraded" if answer.degraded else "completed"
    lines = [f"**{status}** in {format_duration(total_ms)}", f"mode {answer.mode.value}{model}; cost {usd}{why}"]
    lines += [f"degraded: {reason}" for reason in answer.degraded_reasons]
    if answer.truncated:
        lines.append("truncated: the LLM stopped at max_tokens; the answer may be cut short")
    return lines


def question_hash(question: str) -> str:
    """What the logs name a question by: never its text (it may be private)."""
    return hashlib.sha256(question.encode("utf-8", "surrogatepass")).hexdigest()[:12]
