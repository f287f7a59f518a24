"""Activities that read or write the chunk store (embedded Qdrant engine or a Qdrant server).

They are synchronous (run on the worker's thread pool) because the store calls block.
"""

from __future__ import annotations

import dataclasses
import hashlib

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.activities.attempts import current_attempt
from ragstate.activities.expansion import expand_keyword
from ragstate.activities.heartbeat import heartbeating
from ragstate.answers.dedupe import distinct_texts
from ragstate.contracts import Activity, ErrorType
from ragstate.ingest.chunking import chunk_text
from ragstate.ingest.documents import Document, DocumentError, load
from ragstate.models import (
    Branch,
    BranchResult,
    ChunkBatchInput,
    ChunkBatchResult,
    CommitInput,
    CommitResult,
    DocumentFailure,
    DocVersion,
    IndexParams,
    MergeInput,
    MergeResult,
    ParsedQuery,
    ReindexPlan,
    ReindexPlanInput,
    Source,
    StatsRequest,
    StoreStats,
    SwitchInput,
)
from ragstate.retrieval.analyzer import analyze
from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.retrieval.fusion import fuse_hits, pack_to_budget
from ragstate.settings import Settings
from ragstate.store import ChunkRecord, ChunkStore, check_collection_name, chunk_id, open_store
from ragstate.store.records import indexed_text, search_filter, visible
from ragstate.store.registry import open_physical
from ragstate.store.versions import drop_version, exists, live_version, read_params, switch, version_name, write_params

UPSERT_BATCH = 256


class QdrantActivities:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.bm25 = Bm25Encoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avg_len)
        self._params_tag = self._tag(IndexParams())

    def index_params(self, collection: str | None) -> IndexParams:
        """The parameters a collection's version was made with (a re-index records them), every
        field set: unset ones are the worker's settings."""
        s = self.settings
        recorded = IndexParams(**read_params(s, live_version(s, collection or s.collection)))
        return IndexParams(
            chunk_tokens=recorded.chunk_tokens or s.chunk_tokens,
            chunk_overlap=s.chunk_overlap if recorded.chunk_overlap is None else recorded.chunk_overlap,
            titles=recorded.titles is not False,
        )

    def _tag(self, p: IndexParams) -> str:
        # Chunking and BM25 parameters are part of a chunk's version: changing them re-indexes.
        # The default parameters keep the tag they always had (no re-index on upgrade).
        s = self.settings
        overlap = s.chunk_overlap if p.chunk_overlap is None else p.chunk_overlap
        params = f"{p.chunk_tokens or s.chunk_tokens}/{overlap}/{self.bm25}" + (
            "/no-titles" if p.titles is False else ""
        )
        return hashlib.blake2b(params.encode(), digest_size=3).hexdigest()

    def chunk_version(self, doc: Document, params: IndexParams | None = None) -> str:
        """The version recorded on a document's chunks: its content and the indexing parameters."""
        return f"{doc.version}-{self._tag(params) if params else self._params_tag}"

    def store(self, collection: str | None):
        return open_store(self.settings, collection)

    # --- query side ---------------------------------------------------------------------------

    @activity.defn(name=Activity.KEYWORD_SEARCH)
    def keyword_search(self, q: ParsedQuery) -> BranchResult:
        # A follow-up's context terms (earlier turns) count less than its own.
        vec = self.bm25.encode_terms(q.terms, q.context_terms, self.settings.followup_keyword_weight)
        store, flt = self.store(q.collection), search_filter(q)
        hits = store.search_sparse(vec, q.depth, flt)
        expanded_from = min(self.settings.prf_keyword_chunks, len(hits))
        if expanded_from:
            hits = store.search_sparse(expand_keyword(store, vec, hits, self.settings), q.depth, flt)
        return BranchResult(branch=Branch.keyword, hits=hits, attempt=current_attempt(), expanded_from=expanded_from)

    @activity.defn(name=Activity.MERGE)
    def merge(self, inp: MergeInput) -> MergeResult:
        """Fusion of the branches (settings.fusion_method), then the best chunks packed into the context budget."""
        s, q = self.settings, inp.query
        searched = [
            (b.hits, weight, other_chunks)
            for b, weight, other_chunks in (
                (inp.vector, s.vector_weight, 0.0),
                (inp.keyword, s.keyword_weight, s.keyword_other_chunks),
            )
            if b is not None
        ]
        fused = fuse_hits(
            [(hits, weight) for hits, weight, _ in searched],
            k=s.rrf_k,
            unit=s.fusion_unit,
            method=s.fusion_method,
            other_chunks=[other for _, _, other in searched],
        )
        if not q.synthesize:  # retrieval only (evaluation): the ranking is the answer
            return MergeResult(sources=[], ranking=fused[: q.depth], candidates=len(fused), attempt=current_attempt())
        head = fused[: q.top_k * 2]
        chunks = self.store(q.collection).get([h.chunk_id for h in head])
        # The branches searched with the caller's groups already; a chunk whose groups changed
        # since (or a hit from elsewhere) is checked again here: never cited outside its groups.
        present = [
            (chunks[h.chunk_id], h.score)
            for h in head
            if h.chunk_id in chunks and visible(chunks[h.chunk_id].groups, q.access_groups)
        ]
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
        return MergeResult(sources=sources, ranking=[], candidates=len(fused), attempt=current_attempt())

    # --- ingestion side -------------------------------------------------------------------------

    @activity.defn(name=Activity.INDEX_CHUNKS)
    def index_chunks(self, inp: ChunkBatchInput) -> ChunkBatchResult:
        """Load, chunk and write one batch with its BM25 vectors; dense vectors come next."""
        result = ChunkBatchResult(documents=[])
        params = self.index_params(inp.collection)
        previous = inp.groups_from
        groups = DefaultGroups(
            inp.access_groups,
            open_physical(self.settings, previous) if previous and exists(self.settings, previous) else None,
        )
        with heartbeating():
            self._index_refs(inp.refs, self.store(inp.collection), result, params, groups)
        return result

    def collection_bm25(self, store: ChunkStore) -> Bm25Encoder:
        """The encoder for new chunks: the collection's average length as last measured (the
        setting's until then, or always with bm25_collection_avg_len false)."""
        if not self.settings.bm25_collection_avg_len:
            return self.bm25
        return dataclasses.replace(self.bm25, avg_len=store.bm25_avg_len(self.settings.bm25_avg_len))

    def _index_refs(
        self, refs: list, store, result: ChunkBatchResult, params: IndexParams, groups: DefaultGroups | None = None
    ) -> None:
        s = self.settings
        size, overlap = params.chunk_tokens or s.chunk_tokens, params.chunk_overlap or 0
        bm25 = self.collection_bm25(store)
        pending: list[ChunkRecord] = []
        for ref in refs:
            for item in load(ref, s.max_document_bytes):
                if isinstance(item, DocumentError):
                    result.failures.append(item.failure)
                    continue
                if groups is not None:
                    item = groups.given(item)  # the document with its effective groups
                version = self.chunk_version(item, params)  # the groups are part of it
                title = item.title if params.titles is not False else ""  # titles=false: text alone
                # The title is embedded with every chunk, so it counts against the chunk's size.
                chunks = chunk_text(item.text, size, min(overlap, size - 1), title=title)
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
                    terms = analyze(indexed_text(title, c.text))
                    pending.append(
                        ChunkRecord(
                            chunk_id=chunk_id(item.doc_id, version, c.position),
                            doc_id=item.doc_id,
                            version=version,
                            title=title,
                            text=c.text,
                            source=item.source,
                            position=c.position,
                            sparse=bm25.encode_analyzed(terms),
                            groups=list(item.groups or ()),
                            bm25_len=len(terms),
                            bm25_avg=bm25.avg_len,
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
            store = self.store(req.collection)
            renormalise_bm25(self.settings, store)
            store.optimize()
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


def renormalise_bm25(settings: Settings, store: ChunkStore) -> None:
    """After an ingest or a delete: the collection's average analysed length measured again and
    the chunks encoded with one too far from it re-encoded (ChunkStore.renormalise_bm25)."""
    if settings.bm25_collection_avg_len:
        store.renormalise_bm25(Bm25Encoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avg_len))


class DefaultGroups:
    """The access groups of a document that names none of its own (a .jsonl line's ``groups``, a
    ``<file>.groups`` sidecar): the ingest's ``access_groups``; without them, on a re-index, the
    groups the document has in the version being rebuilt (``groups_from``), so a re-index never
    opens a document that an ingest restricted."""

    def __init__(self, default: list[str] | None, previous: ChunkStore | None):
        self.default = tuple(sorted(set(default))) if default else None
        self.previous = previous

    def given(self, doc: Document) -> Document:
        if doc.groups:
            return doc
        if self.default:
            return dataclasses.replace(doc, groups=self.default)
        if self.previous is not None and (groups := self.previous.groups_of(doc.doc_id)):
            return dataclasses.replace(doc, groups=groups)
        return doc


class ReindexActivities:
    """The store side of a blue/green re-index (workflows/reindex.py): plan a new version beside
    the live one, switch the name to it, drop a version no longer used."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.indexing = QdrantActivities(settings)

    def all(self) -> tuple:
        return (self.plan_reindex, self.switch_collection, self.drop_collection_version)

    @activity.defn(name=Activity.PLAN_REINDEX)
    def plan_reindex(self, inp: ReindexPlanInput) -> ReindexPlan:
        """Creates the new version (empty, with its parameters recorded) and lists the sources
        to build it from: those of the live version's documents."""
        s, name = self.settings, inp.request.collection
        try:
            check_collection_name(name)
        except ValueError as e:
            raise _refused(str(e)) from None
        live = live_version(s, name)
        if not exists(s, live):
            raise _refused(f"no collection {name!r} to re-index")
        sources = sorted({d.source for d in open_store(s, live).list_documents()})
        if not sources:
            raise _refused(f"collection {name!r} has no documents")
        wanted = inp.request.params.model_dump(exclude_none=True)
        params = self.indexing.index_params(name).model_copy(update=wanted)
        size = params.chunk_tokens or s.chunk_tokens
        if (params.chunk_overlap or 0) >= size:
            if "chunk_overlap" in wanted:
                raise _refused("chunk_overlap must be smaller than chunk_tokens")
            params.chunk_overlap = size // 5  # the defaults' 40 of 200
        new = version_name(name, inp.tag)
        open_store(s, new)  # creates it: the build's first batch then finds its parameters
        write_params(s, new, params.model_dump())
        return ReindexPlan(collection=name, live=live, new=new, sources=sources, params=params)

    @activity.defn(name=Activity.SWITCH_COLLECTION)
    def switch_collection(self, inp: SwitchInput) -> str:
        """Point the name at the new version (atomic); returns the version it served before."""
        return switch(self.settings, inp.collection, inp.target)

    @activity.defn(name=Activity.DROP_COLLECTION_VERSION)
    def drop_collection_version(self, physical: str) -> bool:
        try:
            return drop_version(self.settings, physical)
        except ValueError as e:
            raise _refused(str(e)) from None


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.INVALID_REQUEST, non_retryable=True)
