"""Activities that read or write the chunk store (embedded Qdrant engine or a Qdrant server).

They are synchronous (run on the worker's thread pool) because the store calls block.
"""

from __future__ import annotations

import hashlib

from temporalio import activity

from ragstate.activities.heartbeat import heartbeating
from ragstate.bm25 import Bm25Encoder
from ragstate.chunking import chunk_text
from ragstate.contracts import Activity
from ragstate.dedupe import distinct_texts
from ragstate.documents import Document, DocumentError, load
from ragstate.fusion import fuse_hits, pack_to_budget
from ragstate.models import (
    Branch,
    BranchResult,
    ChunkBatchInput,
    ChunkBatchResult,
    CommitInput,
    CommitResult,
    DocumentFailure,
    DocVersion,
    MergeInput,
    MergeResult,
    ParsedQuery,
    Source,
    StatsRequest,
    StoreStats,
)
from ragstate.settings import Settings
from ragstate.store import ChunkRecord, SearchFilter, chunk_id, open_store
from ragstate.store.base import indexed_text

UPSERT_BATCH = 256


def search_filter(q: ParsedQuery) -> SearchFilter:
    return SearchFilter(sources=q.sources, doc_ids=q.doc_ids)


class QdrantActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.bm25 = Bm25Encoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avg_len)
        # Chunking and BM25 parameters are part of a chunk's version: changing them re-indexes.
        params = f"{settings.chunk_tokens}/{settings.chunk_overlap}/{self.bm25}"
        self._params_tag = hashlib.blake2b(params.encode(), digest_size=3).hexdigest()

    def chunk_version(self, doc: Document) -> str:
        """The version recorded on a document's chunks: its content and the indexing parameters."""
        return f"{doc.version}-{self._params_tag}"

    def store(self, collection: str | None):
        return open_store(self.settings, collection)

    # --- query side ---------------------------------------------------------------------------

    @activity.defn(name=Activity.KEYWORD_SEARCH)
    def keyword_search(self, q: ParsedQuery) -> BranchResult:
        hits = self.store(q.collection).search_sparse(self.bm25.encode_terms(q.terms), q.depth, search_filter(q))
        return BranchResult(branch=Branch.keyword, hits=hits)

    @activity.defn(name=Activity.MERGE)
    def merge(self, inp: MergeInput) -> MergeResult:
        """Fusion of the branches (settings.fusion_method), then the best chunks packed into the context budget."""
        s, q = self.settings, inp.query
        branches = [
            (b.hits, weight)
            for b, weight in ((inp.vector, s.vector_weight), (inp.keyword, s.keyword_weight))
            if b is not None
        ]
        fused = fuse_hits(branches, k=s.rrf_k, unit=s.fusion_unit, method=s.fusion_method)
        if not q.synthesize:  # retrieval only (evaluation): the ranking is the answer
            return MergeResult(sources=[], ranking=fused[: q.depth], candidates=len(fused))
        head = fused[: q.top_k * 2]
        chunks = self.store(q.collection).get([h.chunk_id for h in head])
        present = [(chunks[h.chunk_id], h.score) for h in head if h.chunk_id in chunks]
        present = distinct_texts(present, text=lambda p: p[0].text)  # the same text is cited once
        packed = pack_to_budget([c.text for c, _ in present], s.context_token_budget, q.top_k)
        sources = [
            Source(
                number=i + 1,
                chunk_id=c.chunk_id,
                doc_id=c.doc_id,
                title=c.title,
                source=c.source,
                text=text,
                score=score,
            )
            for i, ((c, score), text) in enumerate(zip(present, packed))
        ]
        # No ranking here: nothing reads it, and it would be up to `depth` hits in the history.
        return MergeResult(sources=sources, ranking=[], candidates=len(fused))

    # --- ingestion side -------------------------------------------------------------------------

    @activity.defn(name=Activity.INDEX_CHUNKS)
    def index_chunks(self, inp: ChunkBatchInput) -> ChunkBatchResult:
        """Load, chunk and write one batch with its BM25 vectors; dense vectors come next."""
        result = ChunkBatchResult(documents=[])
        with heartbeating():
            self._index_refs(inp.refs, self.store(inp.collection), result)
        return result

    def _index_refs(self, refs: list, store, result: ChunkBatchResult) -> None:
        s = self.settings
        pending: list[ChunkRecord] = []
        for ref in refs:
            for item in load(ref, s.max_document_bytes):
                if isinstance(item, DocumentError):
                    result.failures.append(item.failure)
                    continue
                version = self.chunk_version(item)
                chunks = chunk_text(item.text, s.chunk_tokens, s.chunk_overlap)
                if not chunks:
                    result.failures.append(
                        DocumentFailure(
                            doc_id=item.doc_id, source=item.source, reason="no indexable text after cleaning"
                        )
                    )
                    continue
                ref_ = DocVersion(doc_id=item.doc_id, version=version, chunks=len(chunks))
                if (
                    store.count_version(item.doc_id, version, with_dense=True)
                    == len(chunks)
                    == store.count_version(item.doc_id, version)
                ):
                    result.unchanged.append(ref_)
                    continue
                for c in chunks:
                    pending.append(
                        ChunkRecord(
                            chunk_id=chunk_id(item.doc_id, version, c.position),
                            doc_id=item.doc_id,
                            version=version,
                            title=item.title,
                            text=c.text,
                            source=item.source,
                            position=c.position,
                            sparse=self.bm25.encode_document(indexed_text(item.title, c.text)),
                        )
                    )
                result.documents.append(ref_)
                if len(pending) >= UPSERT_BATCH:
                    store.upsert(pending)
                    pending.clear()
        if pending:
            store.upsert(pending)

    @activity.defn(name=Activity.COMMIT_DOCUMENTS)
    def commit_documents(self, inp: CommitInput) -> CommitResult:
        """Remove chunks of older versions once the new version is fully indexed."""
        store = self.store(inp.collection)
        return CommitResult(stale_chunks_removed=sum(store.delete_stale(d.doc_id, d.version) for d in inp.documents))

    @activity.defn(name=Activity.OPTIMIZE_STORE)
    def optimize_store(self, req: StatsRequest) -> StoreStats:
        with heartbeating():
            self.store(req.collection).optimize()
        return self._stats(req)

    @activity.defn(name=Activity.STORE_STATS)
    def store_stats(self, req: StatsRequest) -> StoreStats:
        return self._stats(req)

    def _stats(self, req: StatsRequest) -> StoreStats:
        store = self.store(req.collection)
        counts = store.counts()
        return StoreStats(
            backend=store.backend,
            collection=req.collection or self.settings.collection,
            chunks=counts.chunks,
            documents=counts.documents,
        )
