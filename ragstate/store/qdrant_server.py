"""A Qdrant server or cluster through ``qdrant-client`` (``url=``, API key); its local mode
(``path=``) runs the same contract tests without a server."""

from __future__ import annotations

import threading
import warnings

from qdrant_client import QdrantClient, models as qm

from ragstate.bm25 import SparseVec
from ragstate.models import SearchHit
from ragstate.store.base import (
    DENSE, INDEXED_KEYWORDS, SPARSE, ChunkRecord, ChunkStore, SearchFilter, StoreCounts, StoredChunk,
)


def _filter(flt: SearchFilter | None) -> qm.Filter | None:
    if flt is None or flt.empty:
        return None
    must = []
    if flt.sources:
        must.append(qm.FieldCondition(key="source", match=qm.MatchAny(any=list(flt.sources))))
    if flt.doc_ids:
        must.append(qm.FieldCondition(key="doc_id", match=qm.MatchAny(any=list(flt.doc_ids))))
    return qm.Filter(must=must)


def _version_filter(doc_id: str, version: str, dense: bool | None) -> qm.Filter:
    must = [qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id)),
            qm.FieldCondition(key="version", match=qm.MatchValue(value=version))]
    has_dense = [qm.HasVectorCondition(has_vector=DENSE)]
    if dense is True:
        return qm.Filter(must=must + has_dense)
    return qm.Filter(must=must, must_not=has_dense if dense is False else None)


def _stored(r) -> StoredChunk:
    p = r.payload
    return StoredChunk(str(r.id), p["doc_id"], p["title"], p["text"], p["source"], p["position"])


def _hits(points) -> list[SearchHit]:
    return [SearchHit(chunk_id=str(p.id), doc_id=p.payload["doc_id"], score=float(p.score)) for p in points]


class QdrantServerStore(ChunkStore):
    backend = "qdrant"

    def __init__(self, client: QdrantClient, collection: str, dim: int = 384):
        self.collection = collection
        self._client = client
        # Local mode is not thread-safe; a server connection does not need the lock but it is cheap.
        self._lock = threading.RLock()
        if not self._client.collection_exists(collection):
            self._client.create_collection(
                collection,
                vectors_config={DENSE: qm.VectorParams(size=dim, distance=qm.Distance.COSINE)},
                sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
            )
            with warnings.catch_warnings():  # local mode says payload indexes do nothing there
                warnings.simplefilter("ignore", UserWarning)
                for key in INDEXED_KEYWORDS:
                    self._client.create_payload_index(collection, key, qm.PayloadSchemaType.KEYWORD)
                self._client.create_payload_index(collection, "position", qm.PayloadSchemaType.INTEGER)

    def upsert(self, records: list[ChunkRecord]) -> None:
        if not records:  # qdrant-client rejects an empty update; the edge store accepts it
            return
        points = []
        for r in records:
            vec: dict = {SPARSE: qm.SparseVector(indices=r.sparse.indices, values=r.sparse.values)}
            if r.dense is not None:
                vec[DENSE] = r.dense
            points.append(qm.PointStruct(id=r.chunk_id, vector=vec, payload=r.payload()))
        with self._lock:
            self._client.upsert(self.collection, points, wait=True)

    def set_dense(self, vectors: dict[str, list[float]]) -> None:
        if not vectors:
            return
        with self._lock:
            self._client.update_vectors(
                self.collection, [qm.PointVectors(id=cid, vector={DENSE: v}) for cid, v in vectors.items()], wait=True
            )

    def get(self, chunk_ids):
        with self._lock:
            recs = self._client.retrieve(self.collection, list(chunk_ids), with_payload=True, with_vectors=False)
        return {str(r.id): _stored(r) for r in recs}

    def chunks_of(self, doc_id, version, without_dense=False):
        flt = _version_filter(doc_id, version, False if without_dense else None)
        out, offset = [], None
        while True:
            with self._lock:
                recs, offset = self._client.scroll(self.collection, scroll_filter=flt, limit=1024, offset=offset,
                                                   with_payload=True, with_vectors=False)
            out.extend(_stored(r) for r in recs)
            if offset is None:
                return sorted(out, key=lambda c: c.position)

    def count_version(self, doc_id, version, with_dense=False):
        return self._count(_version_filter(doc_id, version, True if with_dense else None))

    def _query(self, query, using: str, limit: int, flt):
        with self._lock:
            res = self._client.query_points(self.collection, query=query, using=using, limit=limit,
                                            query_filter=_filter(flt), with_payload=["doc_id"])
        return _hits(res.points)

    def search_dense(self, vector, limit, flt=None):
        return self._query(list(vector), DENSE, limit, flt)

    def search_sparse(self, vector: SparseVec, limit, flt=None):
        if not len(vector):
            return []
        return self._query(qm.SparseVector(indices=vector.indices, values=vector.values), SPARSE, limit, flt)

    def _count(self, flt: qm.Filter | None) -> int:
        with self._lock:
            return self._client.count(self.collection, count_filter=flt, exact=True).count

    def delete_stale(self, doc_id, keep_version):
        stale = qm.Filter(must=[qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id))],
                          must_not=[qm.FieldCondition(key="version", match=qm.MatchValue(value=keep_version))])
        with self._lock:
            n = self._count(stale)
            if n:
                self._client.delete(self.collection, qm.FilterSelector(filter=stale), wait=True)
        return n

    def counts(self) -> StoreCounts:
        first = qm.Filter(must=[qm.FieldCondition(key="position", match=qm.MatchValue(value=0))])
        return StoreCounts(chunks=self._count(None), documents=self._count(first))



def connect(url: str | None = None, api_key: str | None = None, path: str | None = None) -> QdrantClient:
    """A server connection (``url``) or local mode (``path``); open one per process and share it."""
    return QdrantClient(url=url, api_key=api_key) if url else QdrantClient(path=path)
