"""What a session shows in the Temporal UI's "Current Details": a table of its last turns
(question, the standalone question it became, mode, sources, tokens, cost, duration, a link to
the turn's own RagQuery run), then the totals. Pure functions of the session's state: workflow
code, no I/O.

Example::

    workflow.set_current_details(render_details("chat-1", carry, "default"))
"""

from __future__ import annotations

from ragstate.models import PriorTurn, RagAnswer
from ragstate.models.query import MAX_PRIOR_ANSWER_CHARS
from ragstate.models.session import SessionCarry, SessionMessage, SessionTotals, Transcript, TurnRecord

#: The rolling summary of the turns that left the recent window: their questions, shortened.
SUMMARY_CHARS = 1500


def turn_record(number: int, msg: SessionMessage, answer: RagAnswer, query_id: str) -> TurnRecord:
    """The transcript's record of an answered turn."""
    standalone = getattr(answer, "standalone_question", "") or ""
    return TurnRecord(
        turn=number,
        message_id=msg.message_id,
        question=msg.question,
        standalone="" if standalone == msg.question else standalone,
        answer=answer.answer,
        citations=answer.citations,
        mode=answer.mode.value,
        usage=answer.usage,
        cost=answer.cost,
        query_id=query_id,
    )


def rolled_summary(summary: str, oldest: PriorTurn) -> str:
    """The summary with the turn leaving the recent window added, its oldest part dropped first."""
    line = (oldest.standalone or oldest.question).replace("\n", " ")[:200]
    text = f"{summary}\n- {line}" if summary else f"- {line}"
    return text[-SUMMARY_CHARS:]


def resumed(transcript: Transcript, recent: int, rows: int) -> SessionCarry:
    """The state of a session going on from its transcript: totals, last turns, summary."""
    turns = transcript.turns
    totals = SessionTotals(
        turns=max((r.turn for r in turns), default=0),
        failed=sum(1 for r in turns if r.error),
        input_tokens=sum(r.usage.input_tokens for r in turns),
        output_tokens=sum(r.usage.output_tokens for r in turns),
        usd=round(sum(r.cost.usd for r in turns), 6),
    )
    answered = [
        PriorTurn(question=r.question, standalone=r.standalone, answer=r.answer[:MAX_PRIOR_ANSWER_CHARS])
        for r in turns
        if not r.error
    ]
    summary = ""
    for older in answered[:-recent] if recent else answered:
        summary = rolled_summary(summary, older)
    return SessionCarry(totals=totals, recent=answered[-recent:], summary=summary, rows=turns[-rows:])


def _cell(text: str, limit: int = 60) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_details(session_id: str, carry: SessionCarry, namespace: str) -> str:
    """Markdown for the UI: the turns table, then the totals."""
    t = carry.totals
    lines = [
        f"**Session {session_id}**: {t.turns} turns ({t.failed} failed), run {carry.runs} of its chain",
        "",
        "| # | question | searched as | mode | sources | tokens | cost | time | run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in carry.rows:
        link = f"[{r.query_id[-24:]}](/namespaces/{namespace}/workflows/{r.query_id})"
        tokens = r.usage.input_tokens + r.usage.output_tokens
        mode = f"failed: {_cell(r.error, 40)}" if r.error else r.mode
        cost = f"${r.cost.usd:.4f}" if r.cost.usd else "-"  # no LLM call (offline, retrieval only)
        lines.append(
            f"| {r.turn} | {_cell(r.question)} | {_cell(r.standalone) or '-'} | {mode} | {len(r.citations)} "
            f"| {tokens or '-'} | {cost} | {r.duration_ms} ms | {link} |"
        )
    if not carry.rows:
        lines.append("| - | no turns yet | | | | | | | |")
    lines += [
        "",
        f"Totals: {t.input_tokens} input and {t.output_tokens} output tokens, ${t.usd:.4f}.",
        "The whole transcript: `ragstate sessions show " + session_id + "`.",
    ]
    return "\n".join(lines)
