"""A Qdrant server or cluster through ``qdrant-client`` (``url=``, API key); its local mode
(``path=``) runs the same contract tests without a server."""

from __future__ import annotations

import threading
import uuid
import warnings

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from ragstate.retrieval.bm25 import SparseVec
from ragstate.settings.choices import StoreQuantization
from ragstate.store.base import ChunkStore
from ragstate.store.filters import FilterDialect
from ragstate.store.layout import SCALAR_QUANTILE, StoreLayout
from ragstate.store.records import DENSE, INDEXED_KEYWORDS, SPARSE, ChunkRecord, search_hits, stored_chunk

FILTERS = FilterDialect(
    condition=lambda key, match: qm.FieldCondition(key=key, match=match),
    match_value=lambda v: qm.MatchValue(value=v),
    match_any=lambda v: qm.MatchAny(any=v),
    has_vector=lambda name: qm.HasVectorCondition(has_vector=name),
    filter=qm.Filter,
    is_empty=lambda key: qm.IsEmptyCondition(is_empty=qm.PayloadField(key=key)),
)


#: Collection metadata key of the collection's generation token (ChunkStore.generation).
GENERATION_KEY = "ragstate_generation"


class QdrantServerStore(ChunkStore):
    backend = "qdrant"
    filters = FILTERS

    def __init__(self, client: QdrantClient, collection: str, dim: int = 384, layout: StoreLayout | None = None):
        self.collection = collection
        self._client = client
        #: Applied when the collection is created here; an existing one keeps its own.
        self.layout = layout = layout or StoreLayout()
        # Local mode searches exactly (and warns about search parameters): none are sent to it.
        local = client.init_options.get("path") or client.init_options.get("location") == ":memory:"
        self._search_params = None if local else search_params(layout)
        # Local mode is not thread-safe; a server connection does not need the lock but it is cheap.
        self._lock = threading.RLock()
        if not self._client.collection_exists(collection):
            self._client.create_collection(collection, **collection_config(dim, layout))
            with warnings.catch_warnings():  # local mode says payload indexes do nothing there
                warnings.simplefilter("ignore", UserWarning)
                for key in INDEXED_KEYWORDS:
                    self._client.create_payload_index(collection, key, qm.PayloadSchemaType.KEYWORD)
                self._client.create_payload_index(collection, "position", qm.PayloadSchemaType.INTEGER)
            self._bump()  # a new collection (after a drop, too) never shares a generation with the old
        else:  # a collection made before a keyword was indexed (``groups``) gets its index now
            missing = set(INDEXED_KEYWORDS) - set(self._client.get_collection(collection).payload_schema or {})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                for key in sorted(missing):
                    self._client.create_payload_index(collection, key, qm.PayloadSchemaType.KEYWORD)

    def generation(self) -> str:
        with self._lock:
            metadata = self._client.get_collection(self.collection).config.metadata or {}
        return str(metadata.get(GENERATION_KEY, ""))

    def _bump(self) -> None:
        # Collection metadata: every worker of the server sees it, and it goes with the collection.
        self._client.update_collection(self.collection, metadata={GENERATION_KEY: uuid.uuid4().hex})

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
            self._bump()

    def set_dense(self, vectors: dict[str, list[float]]) -> None:
        if not vectors:
            return
        with self._lock:
            self._client.update_vectors(
                self.collection, [qm.PointVectors(id=cid, vector={DENSE: v}) for cid, v in vectors.items()], wait=True
            )
            self._bump()

    def get(self, chunk_ids):
        with self._lock:
            recs = self._client.retrieve(self.collection, list(chunk_ids), with_payload=True, with_vectors=False)
        return {str(r.id): stored_chunk(r) for r in recs}

    def dense_vectors(self, chunk_ids):
        with self._lock:
            recs = self._client.retrieve(self.collection, list(chunk_ids), with_payload=False, with_vectors=[DENSE])
        return {str(r.id): list(r.vector[DENSE]) for r in recs if isinstance(r.vector, dict) and DENSE in r.vector}

    def _scroll_page(self, flt, offset, payload_keys):
        with self._lock:
            return self._client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=self.scroll_page,
                offset=offset,
                with_payload=True if payload_keys is None else payload_keys,
                with_vectors=False,
            )

    def _query(self, query, using: str, limit: int, flt, params=None):
        with self._lock:
            res = self._client.query_points(
                self.collection,
                query=query,
                using=using,
                limit=limit,
                query_filter=FILTERS.search(flt),
                with_payload=["doc_id"],
                search_params=params,
            )
        return search_hits(res.points)

    def search_dense(self, vector, limit, flt=None):
        return self._query(list(vector), DENSE, limit, flt, self._search_params)

    def search_sparse(self, vector: SparseVec, limit, flt=None):
        if not len(vector):
            return []
        return self._query(qm.SparseVector(indices=vector.indices, values=vector.values), SPARSE, limit, flt)

    def _count(self, flt: qm.Filter | None) -> int:
        with self._lock:
            return self._client.count(self.collection, count_filter=flt, exact=True).count

    def _delete_matching(self, flt) -> None:
        with self._lock:
            self._client.delete(self.collection, qm.FilterSelector(filter=flt), wait=True)
            self._bump()

    #: The collection metadata key of the BM25 statistics (beside versions.PARAMS_KEY).
    META_KEY = "ragstate_bm25"

    def _read_meta(self) -> dict:
        with self._lock:
            metadata = self._client.get_collection(self.collection).config.metadata or {}
        return dict(metadata.get(self.META_KEY) or {})

    def _write_meta(self, meta: dict) -> None:
        with self._lock:
            self._client.update_collection(self.collection, metadata={self.META_KEY: meta})

    def _rewrite_sparse(self, vectors, payloads) -> None:
        ops: list = []
        if vectors:
            points = [
                qm.PointVectors(id=cid, vector={SPARSE: qm.SparseVector(indices=v.indices, values=v.values)})
                for cid, v in vectors.items()
            ]
            ops.append(qm.UpdateVectorsOperation(update_vectors=qm.UpdateVectors(points=points)))
        ops += [
            qm.SetPayloadOperation(set_payload=qm.SetPayload(payload=payload, points=[cid]))
            for cid, payload in payloads.items()
        ]
        if ops:
            with self._lock:
                self._client.batch_update_points(self.collection, ops, wait=True)
            self._bump()


def collection_config(dim: int, layout: StoreLayout) -> dict:
    """``create_collection`` arguments of a new collection with this layout. The flags are the
    long-standing ones (``on_disk``, ``always_ram``, ``on_disk_payload``), which every Qdrant
    server since 1.1 reads; docs/deploy.md shows the same as JSON for a collection made by hand."""
    quantization: qm.ScalarQuantization | qm.BinaryQuantization | None = None
    if layout.quantization is StoreQuantization.int8:
        quantization = qm.ScalarQuantization(
            scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8, quantile=SCALAR_QUANTILE, always_ram=True)
        )
    elif layout.quantization is StoreQuantization.binary:
        quantization = qm.BinaryQuantization(binary=qm.BinaryQuantizationConfig(always_ram=True))
    return {
        "vectors_config": {
            # A server's way to keep the originals at hand ("warm"): in RAM, float16 if asked.
            DENSE: qm.VectorParams(
                size=dim,
                distance=qm.Distance.COSINE,
                on_disk=layout.on_disk and not layout.warm_originals,
                datatype=qm.Datatype.FLOAT16 if layout.half_originals else None,
                quantization_config=quantization,
            )
        },
        "sparse_vectors_config": {
            SPARSE: qm.SparseVectorParams(index=qm.SparseIndexParams(on_disk=layout.on_disk), modifier=qm.Modifier.IDF)
        },
        "on_disk_payload": layout.on_disk,
    }


def search_params(layout: StoreLayout) -> qm.SearchParams | None:
    """Dense search on the quantized vectors, candidates rescored with the originals (a
    collection without quantization ignores it)."""
    params = layout.quantization_search()
    return None if params is None else qm.SearchParams(quantization=qm.QuantizationSearchParams(**params))


def connect(url: str | None = None, api_key: str | None = None, path: str | None = None) -> QdrantClient:
    """A server connection (``url``) or local mode (``path``); open one per process and share it."""
    return QdrantClient(url=url, api_key=api_key) if url else QdrantClient(path=path)


#: Collections ragstate keeps for itself start with this, which no collection name may
#: (ragstate.store.feedback's ratings): they are not listed.
INTERNAL_PREFIX = "_ragstate"


def collection_names(client: QdrantClient) -> list[str]:
    """Every collection the server (or local-mode folder) holds, by name, but ragstate's own."""
    return sorted(c.name for c in client.get_collections().collections if not c.name.startswith(INTERNAL_PREFIX))


def remove_collection(client: QdrantClient, name: str) -> bool:
    """Delete a collection; False when there was none."""
    if not client.collection_exists(name):
        return False
    client.delete_collection(name)
    return True
