"""Follow-up retrieval on BEIR-layout collections: hand-written conversations whose last turn is
judged by a judged query's relevance (bench/conversations/, docs/conversations.md).

A conversation file is JSON lines ``{"id": ..., "turns": ["...", "..."], "query_id": "..."}``
(an optional ``"type"``: follow-up, pronoun, three-turn, switch). The last turn is asked three
ways through the query workflow's retrieval path, each scored by nDCG@10 of the fused ranking
against ``query_id``'s judgments:

- ``alone``: the last turn with no history, as a stateless system would search it;
- ``session``: the last turn with the earlier ones as ``RagQuery.history`` (CondenseQuestion);
- ``standalone``: the judged query's own text, what a perfect rewrite could reach.

A conversation whose last turn *is* its judged query (verbatim, whitespace and case aside) is a
topic switch: there ``alone`` and ``standalone`` coincide and ``session`` must not lose to them.

Example::

    convs = load_conversations(Path("bench/conversations/med.jsonl"), dataset)
    report = await evaluate_conversations(rag, dataset, "med", convs)
    report.summary()  # {"alone": {"ndcg@10": ...}, "session": ..., "standalone": ..., "n": 32, "switch": ...}
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from ragstate.evaluation.beir import BeirDataset
from ragstate.evaluation.ranking_metrics import document_ranking, ndcg_at
from ragstate.models import PriorTurn, RagQuery

WAYS = ("alone", "session", "standalone")


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: list[str]
    query_id: str
    type: str = ""

    @property
    def history(self) -> list[PriorTurn]:
        return [PriorTurn(question=t) for t in self.turns[:-1]]


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def is_switch(conv: Conversation, dataset: BeirDataset) -> bool:
    """The last turn is the judged question itself: a new topic after the earlier turns."""
    return len(conv.turns) > 1 and _same(conv.turns[-1], dataset.queries[conv.query_id])


def load_conversations(path: Path, dataset: BeirDataset) -> list[Conversation]:
    """The conversations of ``path``; ValueError names the line of one that cannot be scored."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            conv = Conversation(
                id=str(raw["id"]),
                turns=[str(t) for t in raw["turns"]],
                query_id=str(raw["query_id"]),
                type=str(raw.get("type", "")),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a conversation ({e})") from None
        if not conv.turns or not all(t.strip() for t in conv.turns):
            raise ValueError(f"{path}:{n}: a conversation needs turns, none of them empty")
        if conv.query_id not in dataset.qrels or conv.query_id not in dataset.queries:
            raise ValueError(f"{path}:{n}: query {conv.query_id!r} has no judgments in {dataset.root}")
        out.append(conv)
    if not out:
        raise ValueError(f"{path}: no conversations")
    return out


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


@dataclass
class ConversationReport:
    per_conversation: dict[str, dict[str, float]] = field(default_factory=dict)  # id -> way -> nDCG@10
    switches: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)

    def _ways(self, ids: list[str]) -> dict:
        return {way: {"ndcg@10": _mean([self.per_conversation[i][way] for i in ids])} for way in WAYS}

    def summary(self) -> dict:
        """Mean nDCG@10 of each way over all conversations (``n``), then over the topic switches
        (``switch``) and the follow-ups (``followup``, with the share of the gap between alone
        and standalone that the session recovers)."""
        ids = sorted(self.per_conversation)
        follow = [i for i in ids if i not in self.switches]
        out: dict = self._ways(ids) | {"n": len(ids), "failed": len(self.failures)}
        sw = [i for i in ids if i in self.switches]
        out["switch"] = self._ways(sw) | {"n": len(sw)}
        fu = self._ways(follow) | {"n": len(follow)}
        gap = fu["standalone"]["ndcg@10"] - fu["alone"]["ndcg@10"]
        fu["gap_recovered"] = round((fu["session"]["ndcg@10"] - fu["alone"]["ndcg@10"]) / gap, 4) if gap else None
        out["followup"] = fu
        return out


async def evaluate_conversations(
    rag,
    dataset: BeirDataset,
    collection: str,
    conversations: list[Conversation],
    depth: int | None = None,
    concurrency: int = 8,
) -> ConversationReport:
    """Ingest ``dataset`` into ``collection`` (unchanged documents are skipped) and score each
    conversation's last turn the three ways."""
    from ragstate.models import IngestRequest

    await rag.ingest(IngestRequest(paths=[str(dataset.corpus)], collection=collection))
    report = ConversationReport(switches={c.id for c in conversations if is_switch(c, dataset)})
    gate = asyncio.Semaphore(concurrency)

    async def ndcg(question: str, history: list[PriorTurn], rels: dict[str, int]) -> float:
        async with gate:
            answer = await rag.ask(
                RagQuery(question=question, history=history, collection=collection, synthesize=False, depth=depth)
            )
        return ndcg_at(document_ranking(answer.ranking), rels)

    async def one(conv: Conversation) -> None:
        rels = dataset.qrels[conv.query_id]
        try:
            alone, session, standalone = await asyncio.gather(
                ndcg(conv.turns[-1], [], rels),
                ndcg(conv.turns[-1], conv.history, rels),
                ndcg(dataset.queries[conv.query_id], [], rels),
            )
        except Exception as e:
            report.failures[conv.id] = str(e)
            return
        report.per_conversation[conv.id] = {"alone": alone, "session": session, "standalone": standalone}

    await asyncio.gather(*(one(c) for c in conversations))
    return report
