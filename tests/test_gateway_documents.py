"""``GET /v1/documents`` and ``DELETE /v1/documents/{doc_id}`` end to end: the real dev server,
real workers, the ListDocuments and DeleteDocuments workflows, through the gateway's API-key
check (requests in-process through httpx's ASGITransport)."""

from __future__ import annotations

import shutil
from urllib.parse import quote

import pytest
from gateway_client import app_on, assert_error, http
from paths import EXAMPLES_CORPUS
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.models import Branch, RagQuery
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers

KEY = {"x-api-key": "docs-key"}
EXAMPLE_DOCS = 8  # 5 files + 3 records in faq.jsonl


async def test_documents_need_the_api_key(client: Client, settings: Settings):
    """Refused before anything is started: no workers, nothing listed or deleted."""
    async with http(app_on(client, settings, api_keys="docs-key")) as h:
        for r in (await h.get("/v1/documents"), await h.delete("/v1/documents/some-id")):
            assert_error(r, 401, "Unauthorized")
        assert_error(await h.get("/v1/documents", headers={"x-api-key": "wrong"}), 401, "Unauthorized")
        paths = (await h.get("/openapi.json")).json()["paths"]
    assert "get" in paths["/v1/documents"] and "delete" in paths["/v1/documents/{doc_id}"]


async def test_bad_parameters_are_400_before_any_workflow(client: Client, settings: Settings):
    async with http(app_on(client, settings, api_keys="docs-key")) as h:
        assert_error(await h.get("/v1/documents?collection=../x", headers=KEY), 400, "InvalidRequest")
        assert_error(await h.get("/v1/documents?limit=0", headers=KEY), 400, "InvalidRequest")
        assert_error(await h.get("/v1/documents?limit=10001", headers=KEY), 400, "InvalidRequest")
        assert_error(await h.get("/v1/documents?source=", headers=KEY), 400, "InvalidRequest")
        # No ingest roots: a relative source has nothing to be taken under.
        err = assert_error(await h.get("/v1/documents?source=docs/", headers=KEY), 400, "InvalidRequest")
        assert "absolute" in err["message"]
        assert_error(await h.delete("/v1/documents/x?collection=a%20b", headers=KEY), 400, "InvalidRequest")


@pytest.mark.timeout(300)
async def test_list_and_delete_documents_over_http(client: Client, settings: Settings, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(EXAMPLES_CORPUS, corpus)
    rag = RagClient(client, settings)
    app = app_on(client, settings, api_keys="docs-key", ingest_roots=str(tmp_path))
    async with running_workers(client, settings), http(app) as h:
        result = await rag.ingest([str(corpus)])
        assert result.failed == 0, result.failures

        r = await h.get("/v1/documents", headers=KEY)
        assert r.status_code == 200, r.text
        listing = r.json()
        assert (listing["collection"], listing["total"]) == (settings.collection, EXAMPLE_DOCS)
        bm25 = next(d for d in listing["documents"] if d["source"].endswith("bm25.md"))
        assert bm25["title"] == "BM25 keyword ranking" and bm25["chunks"] >= 1 and bm25["ingested_at"]

        # A source prefix, absolute or relative to the first ingest root; limit keeps the total.
        faq = str(corpus / "faq.jsonl")
        r = await h.get("/v1/documents", params={"source": faq}, headers=KEY)
        assert r.status_code == 200 and len(r.json()["documents"]) == 3
        r = await h.get("/v1/documents", params={"source": "corpus/", "limit": 2}, headers=KEY)
        assert r.status_code == 200 and (len(r.json()["documents"]), r.json()["total"]) == (2, EXAMPLE_DOCS)
        r = await h.get("/v1/documents", params={"source": "corpus-old/"}, headers=KEY)
        assert r.json()["total"] == 0  # a folder prefix, not a string prefix of "corpus"
        other = await h.get("/v1/documents", params={"collection": "nothing-here"}, headers=KEY)
        assert other.status_code == 200 and other.json()["total"] == 0

        # The doc id of a file is its absolute path: slashes sent encoded, or as they are.
        r = await h.delete(f"/v1/documents/{quote(bm25['doc_id'], safe='')}", headers=KEY)
        assert r.status_code == 200, r.text
        assert r.json() == {"collection": settings.collection, "documents": 1, "chunks": bm25["chunks"]}
        err = assert_error(await h.delete(f"/v1/documents/{bm25['doc_id']}", headers=KEY), 404, "NotFound")
        assert bm25["doc_id"] in err["message"]
        faq_record = next(d for d in listing["documents"] if d["source"] == faq)
        r = await h.delete(f"/v1/documents/{faq_record['doc_id']}", headers=KEY)
        assert r.status_code == 200 and r.json()["documents"] == 1

        # An id is only an id: a folder's path deletes nothing under it.
        assert_error(await h.delete(f"/v1/documents/{quote(str(corpus), safe='')}", headers=KEY), 404)
        r = await h.get("/v1/documents", headers=KEY)
        left = {d["doc_id"] for d in r.json()["documents"]}
        assert r.json()["total"] == EXAMPLE_DOCS - 2 and not {bm25["doc_id"], faq_record["doc_id"]} & left

        # Gone from both search branches.
        hits = (await rag.ask(RagQuery(question="BM25 k1 term frequency saturation", synthesize=False))).branch_rankings
        found = {h.doc_id for branch in (Branch.keyword, Branch.vector) for h in hits[branch]}
        assert found and bm25["doc_id"] not in found
