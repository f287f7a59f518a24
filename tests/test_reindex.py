"""Blue/green re-index on the real dev server: a new version is built beside the live one, the
gate switches to an equal index and refuses a worse one (tiny chunks without titles), queries
keep answering from the live version, and the old version goes after the grace period."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client
from test_cli import run_cli

from ragstate.client import RagClient
from ragstate.contracts import Workflow
from ragstate.models import IndexParams, RagQuery, ReindexRequest, ReindexResult
from ragstate.settings import Settings, StoreBackend
from ragstate.store import close_stores
from ragstate.store.versions import exists, live_version, read_params
from ragstate.workers.runtime import running_workers

CISI = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cisi"
QUERIES, DOCS = 8, 150

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


def beir_slice(out: Path) -> Path:
    """The first judged CISI queries, their relevant documents and others up to DOCS."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (CISI / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, grade = line.split("\t")[:3]
        qrels.setdefault(qid, {})[did] = int(float(grade))
    picked = sorted(qrels, key=int)[:QUERIES]
    wanted = {d for q in picked for d in list(qrels[q])[:12]}
    corpus = [json.loads(line) for line in (CISI / "corpus.jsonl").read_text().splitlines() if line.strip()]
    kept = [d for d in corpus if d["_id"] in wanted]
    kept += [d for d in corpus if d["_id"] not in wanted][: max(0, DOCS - len(kept))]
    ids = {d["_id"] for d in kept}
    (out / "qrels").mkdir(parents=True)
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in kept))
    queries = [json.loads(line) for line in (CISI / "queries.jsonl").read_text().splitlines() if line.strip()]
    (out / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries if q["_id"] in picked))
    rows = [f"{q}\t{d}\t{g}" for q in picked for d, g in qrels[q].items() if d in ids]
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return out


@pytest.fixture(params=["edge", "qdrant"])
def backend_settings(request, settings: Settings, tmp_path: Path):
    if request.param == "edge":
        yield settings
        return
    yield settings.model_copy(update={"store_backend": StoreBackend.qdrant, "qdrant_path": tmp_path / "qdrant"})
    close_stores()


async def reindex(client: Client, settings: Settings, request: ReindexRequest) -> ReindexResult:
    return await client.execute_workflow(
        Workflow.REINDEX,
        request,
        id=f"rag-reindex-test-{settings.collection}-{request.params.chunk_tokens}",
        task_queue=settings.workflow_task_queue,
        result_type=ReindexResult,
    )


@pytest.mark.timeout(900)
async def test_the_gate_switches_to_an_equal_index_and_refuses_a_worse_one(client: Client, backend_settings, tmp_path):
    settings = backend_settings
    gate = beir_slice(tmp_path / "gate")
    name = settings.collection
    rag = RagClient(client, settings)
    question = (gate / "queries.jsonl").read_text().splitlines()[0]
    async with running_workers(client, settings):
        first = await rag.ingest([str(gate / "corpus.jsonl")])
        assert first.failed == 0 and live_version(settings, name) == name

        same = await reindex(
            client,
            settings,
            ReindexRequest(collection=name, params=IndexParams(chunk_tokens=200), gate=str(gate), grace_s=1),
        )
        assert same.switched and same.phase == "done", same
        assert same.new_ndcg >= same.live_ndcg - 0.005 and same.live_ndcg > 0.1, same
        assert (same.documents, same.chunks) == (first.documents, first.chunks)
        assert live_version(settings, name) == same.new != name
        assert not exists(settings, name) or settings.store_backend is StoreBackend.qdrant  # the old went
        after_switch = await rag.ask(RagQuery(question=json.loads(question)["text"], synthesize=False))
        assert after_switch.ranking  # the name answers from the new version

        code, out = await run_cli(
            settings,
            "reindex",
            "--collection",
            name,
            "--set",
            "chunk_tokens=16",
            "--set",
            "chunk_overlap=0",
            "--set",
            "titles=false",
            "--gate",
            str(gate),
            "--tolerance",
            "0",  # on this slice the bad index scores about 0.003 below: no tolerance for it
            "--grace",
            "1",
            limit_s=600,
        )
        out = " ".join(out.split())
        assert code == 3, out
        assert "nDCG@10: live" in out and "kept the live version" in out, out
        assert live_version(settings, name) == same.new  # untouched
        assert read_params(settings, same.new)["chunk_tokens"] == 200
        still = await rag.ask(RagQuery(question=json.loads(question)["text"], synthesize=False))
        assert [h.chunk_id for h in still.ranking] == [h.chunk_id for h in after_switch.ranking]
        assert (await rag.stats()).chunks == first.chunks
