"""``ragstate eval DIR --conversations FILE``: the last turn of each conversation asked alone,
through a session (CondenseQuestion) and as its judged question, on a committed slice of CISI
(tests/data/cisi-slice, see tests/test_reindex.py) with five hand-written conversations; the
loader's checks and the summary's arithmetic; and the committed conversation sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragstate.evaluation.beir import BeirDataset
from ragstate.evaluation.conversations import ConversationReport, is_switch, load_conversations
from ragstate.settings import Settings
from ragstate.testing import run_cli_in_process

DATA = Path(__file__).resolve().parent / "data"
SLICE = DATA / "cisi-slice"
CONVERSATIONS = DATA / "cisi-slice-conversations.jsonl"
BENCH = Path(__file__).resolve().parents[1] / "bench" / "conversations"
#: The judged queries (id -> text) of the shared collections, committed: a fresh clone (CI) has
#: no ../shared/datasets. Made from their queries.jsonl and qrels/test.tsv (BeirDataset.load).
JUDGED = Path(__file__).resolve().parent / "data" / "judged_queries.json"

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


async def test_eval_conversations_json_has_the_three_ways_and_the_session_helps(settings: Settings, tmp_path):
    code, out = await run_cli_in_process(
        settings, "eval", str(SLICE), "--conversations", str(CONVERSATIONS), "--json", "--data-dir", str(tmp_path)
    )
    assert code == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == 5 and result["failed"] == 0
    for way in ("alone", "session", "standalone"):
        assert 0.0 <= result[way]["ndcg@10"] <= 1.0
    assert result["session"]["ndcg@10"] >= result["alone"]["ndcg@10"]
    assert (
        result["followup"]["n"] == 4
        and result["followup"]["session"]["ndcg@10"] > result["followup"]["alone"]["ndcg@10"]
    )
    switch = result["switch"]
    assert switch["n"] == 1 and switch["session"] == switch["standalone"] == switch["alone"]


def test_a_switch_is_a_last_turn_that_is_the_judged_question():
    dataset = BeirDataset.load(SLICE)
    convs = {c.id: c for c in load_conversations(CONVERSATIONS, dataset)}
    assert [i for i, c in convs.items() if is_switch(c, dataset)] == ["slice-5"]
    assert [t.question for t in convs["slice-3"].history] == convs["slice-3"].turns[:2]


def test_a_conversation_that_cannot_be_scored_names_its_line(tmp_path):
    dataset = BeirDataset.load(SLICE)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "turns": ["x", "y"], "query_id": "5"}\n{"id": "b", "turns": ["x"], "query_id": "999"}\n'
    )
    with pytest.raises(ValueError, match=r"bad.jsonl:2: query '999' has no judgments"):
        load_conversations(bad, dataset)
    bad.write_text('{"id": "a", "turns": []}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not a conversation"):
        load_conversations(bad, dataset)


def test_the_summary_splits_follow_ups_from_switches():
    report = ConversationReport(
        per_conversation={
            "f": {"alone": 0.2, "session": 0.5, "standalone": 0.6},
            "s": {"alone": 0.9, "session": 0.9, "standalone": 0.9},
        },
        switches={"s"},
    )
    summary = report.summary()
    assert summary["n"] == 2 and summary["session"] == {"ndcg@10": 0.7}
    assert summary["followup"]["gap_recovered"] == 0.75 and summary["switch"]["n"] == 1


@pytest.mark.parametrize("name", ["cisi", "med", "npl"])
def test_the_committed_sets_are_judged_and_large_enough(name: str, tmp_path: Path):
    path = BENCH / f"{name}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) >= 20 and len({r["id"] for r in rows}) == len(rows)
    assert {r["type"] for r in rows} == {"follow-up", "pronoun", "three-turn", "switch"}
    dataset = judged_queries(name, tmp_path)
    convs = load_conversations(path, dataset)
    assert {c.id for c in convs if is_switch(c, dataset)} == {r["id"] for r in rows if r["type"] == "switch"}


def judged_queries(name: str, folder: Path) -> BeirDataset:
    """A BEIR layout holding only ``name``'s judged queries (each judged relevant to one stand-in
    document): what the conversation loader checks a query id and a switch against."""
    queries = json.loads(JUDGED.read_text())[name]
    (folder / "qrels").mkdir()
    (folder / "corpus.jsonl").write_text("")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\td\t1\n" for q in queries)
    )
    return BeirDataset.load(folder)
