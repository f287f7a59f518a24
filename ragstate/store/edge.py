"""The embedded default: the real Qdrant engine in-process (``qdrant-edge-py``), on disk.

One process owns a shard directory; share an index between many workers with a Qdrant
server instead (``RAGSTATE_STORE_BACKEND=qdrant``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from pathlib import Path

import qdrant_edge as qe

from ragstate.retrieval.bm25 import SparseVec
from ragstate.settings.choices import StoreQuantization
from ragstate.store.base import ChunkStore
from ragstate.store.filters import FilterDialect
from ragstate.store.layout import SCALAR_QUANTILE, StoreLayout
from ragstate.store.records import DENSE, INDEXED_KEYWORDS, SPARSE, ChunkRecord, StoredChunk, search_hits, stored_chunk

FILTERS = FilterDialect(
    condition=lambda key, match: qe.FieldCondition(key=key, match=match),
    match_value=qe.MatchValue,
    match_any=qe.MatchAny,
    has_vector=qe.HasVectorCondition,
    filter=qe.Filter,
    is_empty=qe.IsEmptyCondition,
)


class EdgeStore(ChunkStore):
    backend = "edge"
    filters = FILTERS

    def __init__(self, path: Path, dim: int = 384, layout: StoreLayout | None = None):
        path = Path(path)
        self.path = path
        #: Applied when the collection is created here; an existing one keeps its own.
        self.layout = layout = layout or StoreLayout()
        self._search_params = search_params(layout)
        # Writes and optimisation take the lock (re-entrant: a delete counts, then deletes, under
        # it); Qdrant itself makes reads safe alongside them.
        self._lock = threading.RLock()
        config = edge_config(dim, layout)
        if (path / "edge_config.json").exists() or (path.exists() and any(path.iterdir())):
            self._shard = qe.EdgeShard.load(str(path))
            # A collection made before a keyword was indexed (``groups``) gets its index now.
            for key in sorted(set(INDEXED_KEYWORDS) - set(self._shard.info().payload_schema)):
                self._shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
        else:
            path.mkdir(parents=True, exist_ok=True)
            self._shard = qe.EdgeShard.create(str(path), config)
            for key in INDEXED_KEYWORDS:
                self._shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
            self._shard.update(qe.UpdateOperation.create_field_index("position", qe.PayloadSchemaType.Integer))
            self._bump()  # a new collection (after a drop, too) never shares a generation with the old

    @property
    def _generation_file(self) -> Path:
        return generation_file(self.path.parent, self.path.name)

    def generation(self) -> str:
        try:
            return self._generation_file.read_text()
        except FileNotFoundError:
            return ""

    def _bump(self) -> None:
        tmp = self._generation_file.with_name(f"{self._generation_file.name}.{os.getpid()}.tmp")
        tmp.write_text(uuid.uuid4().hex)
        os.replace(tmp, self._generation_file)  # readers see the old token or the new one

    def upsert(self, records: list[ChunkRecord]) -> None:
        points = []
        for r in records:
            vec: dict = {SPARSE: qe.SparseVector(r.sparse.indices, r.sparse.values)}
            if r.dense is not None:
                vec[DENSE] = r.dense
            points.append(qe.Point(r.chunk_id, vec, r.payload()))
        with self._lock:
            self._shard.update(qe.UpdateOperation.upsert_points(points))
            self._bump()

    def set_dense(self, vectors: dict[str, list[float]]) -> None:
        ops = [qe.PointVectors(cid, {DENSE: v}) for cid, v in vectors.items()]
        with self._lock:
            self._shard.update(qe.UpdateOperation.update_vectors(ops))
            self._bump()

    def get(self, chunk_ids: list[str]) -> dict[str, StoredChunk]:
        return {str(rec.id): stored_chunk(rec) for rec in self._shard.retrieve(list(chunk_ids), True, False)}

    def dense_vectors(self, chunk_ids):
        recs = self._shard.retrieve(list(chunk_ids), False, [DENSE])
        return {str(r.id): list(r.vector[DENSE]) for r in recs if r.vector and DENSE in r.vector}

    def search_dense(self, vector, limit, flt=None):
        req = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(list(vector), using=DENSE),
            filter=FILTERS.search(flt),
            with_payload=["doc_id"],
            params=self._search_params,
        )
        return search_hits(self._shard.query(req))

    def search_sparse(self, vector: SparseVec, limit, flt=None):
        if not len(vector):
            return []
        req = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(qe.SparseVector(vector.indices, vector.values), using=SPARSE),
            filter=FILTERS.search(flt),
            with_payload=["doc_id"],
        )
        return search_hits(self._shard.query(req))

    def _scroll_page(self, flt, offset, payload_keys):
        return self._shard.scroll(
            qe.ScrollRequest(
                offset=offset,
                limit=self.scroll_page,
                filter=flt,
                with_vector=False,
                with_payload=True if payload_keys is None else payload_keys,
            )
        )

    def _count(self, flt: qe.Filter | None) -> int:
        return self._shard.count(qe.CountRequest(filter=flt, exact=True))

    def _delete_matching(self, flt) -> None:
        self._shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
        self._bump()

    #: The collection's BM25 statistics, a file of ragstate's own in the shard directory.
    META_FILE = "ragstate_bm25.json"

    def _read_meta(self) -> dict:
        try:
            return json.loads((self.path / self.META_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write_meta(self, meta: dict) -> None:
        tmp = self.path / f"{self.META_FILE}.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self.path / self.META_FILE)

    def _rewrite_sparse(self, vectors, payloads) -> None:
        ops = [qe.PointVectors(cid, {SPARSE: qe.SparseVector(v.indices, v.values)}) for cid, v in vectors.items()]
        if ops:
            self._shard.update(qe.UpdateOperation.update_vectors(ops))
        for cid, payload in payloads.items():
            self._shard.update(qe.UpdateOperation.set_payload([cid], payload))
        if ops or payloads:
            self._bump()  # the keyword scores change: so may the answers

    def optimize(self) -> None:
        with self._lock:
            self._shard.optimize()
            # The segments an optimisation replaced stay on disk and mapped (their pages count
            # in RSS: 2.5x the store's size after a few ingests) until the next flush.
            self._shard.flush()

    def close(self) -> None:
        with self._lock:
            self._shard.flush()
            self._shard.close()


#: Points per segment (float32 dense size) beyond which an on-disk collection starts another.
MAX_SEGMENT_POINTS = 300_000


def edge_config(dim: int, layout: StoreLayout) -> qe.EdgeConfig:
    """A new shard's configuration: the layout's quantization and memory placement."""
    disk = qe.Memory.Cold if layout.on_disk else None  # None: the engine's default, in RAM
    return qe.EdgeConfig(
        vectors={
            DENSE: qe.EdgeVectorParams(
                size=dim,
                distance=qe.Distance.Cosine,
                memory=qe.Memory.Cached if layout.warm_originals else disk,
                datatype=qe.VectorStorageDatatype.Float16 if layout.half_originals else None,
                quantization_config=_quantization(layout),
            )
        },
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, memory=disk)},
        # Every hit reads its doc_id from the payloads: warm layouts keep them at hand as well.
        payload_memory=(qe.Memory.Cached if layout.warm_originals else qe.Memory.Cold) if layout.on_disk else None,
        # Vacuum deleted points on optimize(): until then BM25's IDF statistics still count
        # chunks of replaced document versions. On disk, segments stop growing at about
        # MAX_SEGMENT_POINTS: an optimize then rewrites at most that much (its mapped pages and
        # index build are the peak of memory) instead of the whole collection.
        optimizers=qe.EdgeOptimizersConfig(
            deleted_threshold=0.0001,
            vacuum_min_vector_number=1,
            max_segment_size=MAX_SEGMENT_POINTS * dim * (2 if layout.half_originals else 4) // 1024
            if layout.on_disk
            else None,
        ),
    )


def _quantization(layout: StoreLayout):
    if layout.quantization is StoreQuantization.int8:
        return qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=SCALAR_QUANTILE, memory=qe.Memory.Pinned)
    if layout.quantization is StoreQuantization.binary:
        return qe.BinaryQuantizationConfig(memory=qe.Memory.Pinned)
    return None


def search_params(layout: StoreLayout) -> qe.SearchParams | None:
    """Dense search on the quantized vectors, candidates rescored with the originals (a
    collection without quantization ignores it)."""
    params = layout.quantization_search()
    return None if params is None else qe.SearchParams(quantization=qe.QuantizationSearchParams(**params))


def is_collection(path: Path) -> bool:
    """Whether ``path`` holds an embedded collection (a shard directory)."""
    return path.is_dir() and (path / "edge_config.json").exists()


def collection_names(root: Path) -> list[str]:
    """The embedded collections under ``root`` (``data_dir/qdrant-edge``), by name."""
    return sorted(p.name for p in root.iterdir() if is_collection(p)) if root.is_dir() else []


def generation_file(root: Path, name: str) -> Path:
    """The file of a collection's generation token, beside its shard directory."""
    return root / f"{name}.generation"


def remove_collection(root: Path, name: str) -> bool:
    """Delete a closed collection's files; False when there was none."""
    path = root / name
    generation_file(root, name).unlink(missing_ok=True)
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True
