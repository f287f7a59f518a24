"""The semantic answer cache (docs/answer-cache.md): the lexical guard and the committed pair
set; the collection's generation, replaced by every write on both store backends; the cache's
entries per collection version on both backends; and through the real workflow on the dev
server with the LLM through the real SDK against the fake Messages API: a paraphrase of an
answered question gets its answer (``cached``, the same citations, no LLM call), a near miss,
another tenant or other access groups do not, an ingest into the collection invalidates it, and
the cache is off by default."""

from __future__ import annotations

import json
from pathlib import Path

from paths import EXAMPLES_CORPUS
from pydantic import SecretStr
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from ragstate.answers.cache_match import compatible, signature
from ragstate.client import RagClient
from ragstate.models import AnswerCacheScope, AnswerMode, RagAnswer, RagQuery
from ragstate.retrieval.bm25 import SparseVec
from ragstate.settings import Settings
from ragstate.store import ChunkRecord, answer_cache, chunk_id, drop_collection, open_store
from ragstate.testing import FakeAnthropic
from ragstate.workers.runtime import running_workers

PAIRS = Path(__file__).parent.parent / "bench" / "answer_cache" / "pairs.jsonl"
QUESTION = "How does reciprocal rank fusion combine rankings?"
PARAPHRASE = "How are rankings combined by reciprocal rank fusion?"


def test_the_guard_refuses_near_misses_and_the_set_is_committed():
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    assert sum(p["hit"] for p in pairs) >= 100 and sum(not p["hit"] for p in pairs) >= 100
    assert {p["kind"] for p in pairs if not p["hit"]} >= {"term", "number", "negation", "entity", "aspect"}

    def ok(a: str, b: str) -> bool:
        return compatible(signature(a), signature(b)) and compatible(signature(b), signature(a))

    assert ok("What is BM25?", "what is bm25") and ok(QUESTION, PARAPHRASE)
    assert ok("mechanism of action of insulin.", "how does insulin act?")  # a form of the same word
    assert not ok("What is BM25?", "What is BM25F?")
    assert not ok("patients over 65 years old.", "patients over 80 years old.")
    assert not ok("drugs that cause liver damage.", "drugs that do not cause liver damage.")
    assert not ok("Why do scientists use libraries?", "Why don't scientists use libraries?")
    assert not ok("hepatitis A infection.", "hepatitis B infection.")
    assert not ok("cancer of the lung.", "cancer of the liver.")
    assert not ok("Advantages of automated cataloging.", "Disadvantages of automated cataloging.")
    # The settings' default is the bench's choice; off unless turned on.
    assert Settings().answer_cache is False and Settings().answer_cache_threshold == 0.85


def _record(doc: str) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=chunk_id(doc, "v1", 0),
        doc_id=doc,
        version="v1",
        title="",
        text="text",
        source=f"/{doc}.md",
        position=0,
        sparse=SparseVec([1], [1.0]),
    )


def test_every_write_replaces_the_generation_and_entries_follow_it(backend_settings: Settings):
    s = backend_settings
    store = open_store(s, "gens")
    seen = [store.generation()]
    store.upsert([_record("d1")])
    seen.append(store.generation())
    store.set_dense({_record("d1").chunk_id: [1.0] + [0.0] * 383})
    seen.append(store.generation())
    store.delete_documents(doc_ids=["d1"])
    seen.append(store.generation())
    assert all(seen) and len(set(seen)) == 4, seen

    scope = AnswerCacheScope(key="k", threshold=0.85)
    vector = [1.0] + [0.0] * 383
    answer = RagAnswer(question=QUESTION, answer="RRF [1].", citations=[], mode=AnswerMode.llm, workflow_id="w1")
    generation = store.generation()
    answer_cache.put(s, "gens", scope, generation, vector, QUESTION, answer)
    hit = answer_cache.lookup(s, "gens", scope, generation, vector, PARAPHRASE)
    assert hit is not None and hit.workflow_id == "w1" and hit.answer.answer == "RRF [1]."
    assert answer_cache.lookup(s, "gens", scope, generation, vector, "What is BM25F?") is None  # the guard
    other = AnswerCacheScope(key="other", threshold=0.85)
    assert answer_cache.lookup(s, "gens", other, generation, vector, QUESTION) is None
    store.upsert([_record("d2")])  # a write: the entry's generation is gone
    assert answer_cache.lookup(s, "gens", scope, store.generation(), vector, QUESTION) is None
    # A dropped collection's answers go with it; a new one of that name starts a new generation.
    answer_cache.put(s, "gens", scope, store.generation(), vector, QUESTION, answer)
    old = store.generation()
    assert drop_collection(s, "gens")
    again = open_store(s, "gens")
    assert again.generation() not in ("", old)
    assert answer_cache.lookup(s, "gens", scope, old, vector, QUESTION) is None


async def _notes(client: Client, workflow_id: str) -> list[str]:
    meta = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return [line[2:] for line in meta.current_details.splitlines() if line.startswith("- ")]


def _llm(settings: Settings, fake: FakeAnthropic, **update) -> Settings:
    return settings.model_copy(
        update={"anthropic_api_key": SecretStr("sk-ant-test"), "anthropic_base_url": fake.url, **update}
    )


async def test_a_paraphrase_is_served_from_the_cache_until_the_collection_changes(
    client: Client, settings: Settings, fake_anthropic: FakeAnthropic, tmp_path: Path
):
    settings = _llm(settings, fake_anthropic, answer_cache=True)
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        await rag.ingest([str(EXAMPLES_CORPUS)])
        first = await rag.ask(QUESTION)
        assert first.mode is AnswerMode.llm and not first.cached and first.citations
        assert len(fake_anthropic.requests) == 1
        assert any("answer cache: miss; the answer is kept" in n for n in await _notes(client, first.workflow_id))

        again = await rag.ask(PARAPHRASE)
        assert again.cached and again.cached_from == first.workflow_id
        assert again.question == PARAPHRASE and again.answer == first.answer
        assert again.citations == first.citations and again.mode is AnswerMode.llm
        assert again.cost.usd == 0 and "answer cache" in (again.cost.reason or "")
        assert again.usage.input_tokens == 0 and again.cached_similarity is not None
        assert len(fake_anthropic.requests) == 1  # no LLM call
        notes = await _notes(client, again.workflow_id)
        assert any(n.startswith("answer cache: **hit**") for n in notes), notes
        assert sorted(t.step for t in again.timings) == ["KeywordSearch", "ParseQuery", "VectorSearch"]

        # A near miss, another tenant, other access groups: answered anew (or abstained: no call).
        calls = 1
        for query in (
            RagQuery(question="How does reciprocal rank fusion not combine rankings?"),
            RagQuery(question=QUESTION, tenant="acme"),
            RagQuery(question=QUESTION, access_groups=["staff"]),
        ):
            other = await rag.ask(query)
            calls += 0 if other.no_answer else 1
            assert not other.cached and other.mode is AnswerMode.llm, query
            assert len(fake_anthropic.requests) == calls, (query, other)
            assert any(n.startswith("answer cache: miss") for n in await _notes(client, other.workflow_id))
        assert calls == 4
        # The tenant's own answer now serves the tenant, not the operator.
        assert (await rag.ask(RagQuery(question=PARAPHRASE, tenant="acme"))).cached
        assert len(fake_anthropic.requests) == calls

        # An ingest into the collection changes its generation: the next same question pays again.
        extra = tmp_path / "extra.md"
        extra.write_text("# Score fusion\n\nCombSUM adds the normalised scores of each ranking.\n")
        await rag.ingest([str(extra)])
        fresh = await rag.ask(QUESTION)
        assert not fresh.cached and len(fake_anthropic.requests) == calls + 1
        assert (await rag.ask(PARAPHRASE)).cached_from == fresh.workflow_id  # kept again, for the new generation
        assert len(fake_anthropic.requests) == calls + 1


async def test_the_cache_is_off_by_default(client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic):
    settings = _llm(corpus_settings, fake_anthropic)
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        answers = [await rag.ask(QUESTION) for _ in range(2)]
        history = await client.get_workflow_handle(answers[1].workflow_id).fetch_history()
    assert [a.cached for a in answers] == [False, False] and len(fake_anthropic.requests) == 2
    # No marker, no new activity: the commands are those of runs from before the cache.
    text = history.to_json()
    assert "answer-cache" not in text and "StoreCachedAnswer" not in text
