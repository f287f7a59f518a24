"""A new collection takes the storage layout of the settings (int8 quantization in RAM, original
vectors, payloads and sparse index on disk by default) on both backends, an existing one keeps
its own, and search through the quantized vectors still puts the right chunk first."""

from __future__ import annotations

import json
import random

import pytest
import qdrant_edge as qe

from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.settings import Settings, StoreBackend, StoreOriginals, StoreQuantization
from ragstate.store.edge import EdgeStore
from ragstate.store.layout import LEGACY, StoreLayout
from ragstate.store.qdrant_server import QdrantServerStore, collection_config, connect, search_params
from ragstate.store.records import ChunkRecord, chunk_id

DIM = 16
ENC = Bm25Encoder(k1=1.2, b=0.75, avg_len=6.0)
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


def records(n: int = 300) -> list[ChunkRecord]:
    rng = random.Random(5)
    return [
        ChunkRecord(
            chunk_id=chunk_id(f"doc-{i}", "v1", 0),
            doc_id=f"doc-{i}",
            version="v1",
            title="",
            text=f"chunk number {i} about topic{i % 7}",
            source=f"src/{i}.md",
            position=0,
            sparse=ENC.encode_document(f"chunk number {i} about topic{i % 7}"),
            dense=[rng.gauss(0.0, 1.0) for _ in range(DIM)],
        )
        for i in range(n)
    ]


def _edge_config(store: EdgeStore) -> dict:
    return json.loads((store.path / "edge_config.json").read_text())


@pytest.fixture
def small_indexing_threshold(monkeypatch):
    """Index (HNSW and quantized vectors) any segment over 1 KB, so a few hundred points take
    the quantized search path and its rescoring, as a large collection does."""
    real = qe.EdgeOptimizersConfig
    monkeypatch.setattr(qe, "EdgeOptimizersConfig", lambda **kw: real(**kw, indexing_threshold=1))


def test_edge_default_layout_is_int8_in_ram_originals_on_disk(tmp_path, small_indexing_threshold):
    store = EdgeStore(tmp_path / "c", dim=DIM, layout=StoreLayout.parse("int8/disk"))
    try:
        cfg = _edge_config(store)
        dense = cfg["vectors"]["dense"]
        assert dense["quantization_config"] == {"scalar": {"type": "int8", "quantile": 0.99, "memory": "pinned"}}
        assert dense["memory"] == "cold"  # originals: a mapped file, read when rescoring
        assert cfg["sparse_vectors"]["bm25"]["memory"] == "cold"
        assert cfg["payload_memory"] == "cold"

        recs = records()
        store.upsert(recs)
        store.optimize()
        quantized = list(store.path.glob("segments/*/vector_storage-dense/quantized.data"))
        assert quantized, "the optimized segment has int8 vectors"
        for r in recs[:20]:
            hits = store.search_dense(r.dense, 10)
            assert hits[0].chunk_id == r.chunk_id
            assert hits[0].score == pytest.approx(1.0, abs=1e-5)  # rescored with the float32 original
        assert store.search_sparse(ENC.encode_query("topic3"), 5)
    finally:
        store.close()


@pytest.mark.parametrize(
    "layout, quantization",
    [(StoreLayout(StoreQuantization.binary), "binary"), (LEGACY, None)],
    ids=["binary", "legacy"],
)
def test_edge_other_layouts(tmp_path, small_indexing_threshold, layout, quantization):
    store = EdgeStore(tmp_path / "c", dim=DIM, layout=layout)
    try:
        dense = _edge_config(store)["vectors"]["dense"]
        assert (next(iter(dense.get("quantization_config") or {}), None)) == quantization
        assert dense.get("memory") == ("cached" if layout.warm_originals else None)  # the default: warm16
        recs = records()
        store.upsert(recs)
        store.optimize()
        assert all(store.search_dense(r.dense, 10)[0].chunk_id == r.chunk_id for r in recs[:20])
    finally:
        store.close()


@pytest.mark.parametrize("originals, datatype", [("warm", None), ("warm16", "float16")])
def test_edge_warm_originals_are_cached_and_rescore(tmp_path, small_indexing_threshold, originals, datatype):
    layout = StoreLayout.parse(f"int8/{originals}/1")
    assert (layout == StoreLayout()) is (originals == "warm16")  # the default
    store = EdgeStore(tmp_path / "c", dim=DIM, layout=layout)
    try:
        cfg = _edge_config(store)
        dense = cfg["vectors"]["dense"]
        assert dense["memory"] == "cached"  # mapped and read ahead, not read on first use
        assert dense.get("datatype") == datatype
        assert cfg["payload_memory"] == "cached"  # each hit reads its doc_id
        assert cfg["sparse_vectors"]["bm25"]["memory"] == "cold"
        recs = records()
        store.upsert(recs)
        store.optimize()
        for r in recs[:20]:
            hits = store.search_dense(r.dense, 10)
            assert hits[0].chunk_id == r.chunk_id
            assert hits[0].score == pytest.approx(1.0, abs=2e-3)  # rescored with the (float16) original
    finally:
        store.close()


def test_edge_existing_collection_keeps_its_layout(tmp_path):
    EdgeStore(tmp_path / "c", dim=DIM, layout=LEGACY).close()
    store = EdgeStore(tmp_path / "c", dim=DIM)  # the default layout now: not applied to it
    try:
        assert "quantization_config" not in _edge_config(store)["vectors"]["dense"]
        recs = records(50)
        store.upsert(recs)
        assert store.search_dense(recs[3].dense, 5)[0].chunk_id == recs[3].chunk_id
    finally:
        store.close()


def test_qdrant_collection_gets_the_layout(tmp_path):
    client = connect(path=str(tmp_path / "q"))
    try:
        store = QdrantServerStore(client, "c", dim=DIM, layout=StoreLayout.parse("int8/disk"))
        cfg = client.get_collection("c").config
        dense = cfg.params.vectors["dense"]
        assert dense.on_disk is True
        assert dense.quantization_config.scalar.type == "int8"
        assert dense.quantization_config.scalar.always_ram is True
        assert cfg.params.sparse_vectors["bm25"].index.on_disk is True
        assert collection_config(DIM, StoreLayout())["on_disk_payload"] is True  # local mode does not keep it
        recs = records(100)
        store.upsert(recs)
        assert all(store.search_dense(r.dense, 5)[0].chunk_id == r.chunk_id for r in recs[:10])

        QdrantServerStore(client, "old", dim=DIM, layout=LEGACY)
        QdrantServerStore(client, "old", dim=DIM)  # reopened with the default: keeps its own
        old = client.get_collection("old").config.params
        assert old.vectors["dense"].quantization_config is None
        assert not old.vectors["dense"].on_disk
    finally:
        client.close()


def test_server_warm_originals_are_in_ram():
    dense = collection_config(384, StoreLayout.parse("int8/warm16"))["vectors_config"]["dense"]
    assert dense.on_disk is False and dense.datatype == "float16"
    dense = collection_config(384, StoreLayout.parse("int8/warm"))["vectors_config"]["dense"]
    assert dense.on_disk is False and dense.datatype is None
    assert collection_config(384, StoreLayout.parse("int8/disk"))["vectors_config"]["dense"].on_disk is True
    assert collection_config(384, StoreLayout())["vectors_config"]["dense"].datatype == "float16"  # the default


def test_server_search_params_rescore_with_oversampling():
    params = search_params(StoreLayout(oversampling=3.0))
    assert params.quantization.rescore is True and params.quantization.oversampling == 3.0
    assert search_params(LEGACY) is None
    cfg = collection_config(384, StoreLayout(StoreQuantization.binary))
    assert cfg["vectors_config"]["dense"].quantization_config.binary.always_ram is True


@pytest.mark.parametrize("backend", [StoreBackend.edge, StoreBackend.qdrant], ids=["edge", "qdrant"])
def test_settings_choose_the_layout_of_new_collections(tmp_path, backend):
    from ragstate.store import close_stores, open_store

    settings = Settings(
        data_dir=tmp_path / "data",
        embedding_dim=DIM,
        store_backend=backend,
        qdrant_path=tmp_path / "q" if backend is StoreBackend.qdrant else None,
        store_quantization="none",
        store_on_disk=False,
        _env_file=None,
    )
    try:
        store = open_store(settings, "plain")
        assert store.layout == LEGACY
        if backend is StoreBackend.edge:
            assert "quantization_config" not in _edge_config(store)["vectors"]["dense"]
        recs = records(30)
        store.upsert(recs)
        assert store.search_dense(recs[1].dense, 3)[0].chunk_id == recs[1].chunk_id
    finally:
        close_stores()


def test_layout_specs():
    assert StoreLayout.parse("int8/warm16") == StoreLayout()
    assert StoreLayout.parse("none/ram") == LEGACY
    assert StoreLayout.parse("binary/disk/4").oversampling == 4.0
    assert StoreLayout().label == "int8/warm16/1"
    assert StoreLayout.parse("int8/warm16/1").originals is StoreOriginals.warm16
    assert StoreLayout.parse("int8/warm16/1").label == "int8/warm16/1"
    assert not StoreLayout.parse("int8/ram").warm_originals  # in RAM: nothing to warm
    with pytest.raises(ValueError):
        StoreLayout.parse("int8")
    with pytest.raises(ValueError, match="disk\\|warm"):
        StoreLayout.parse("int8/tepid")
    with pytest.raises(ValueError, match="store quantization"):
        StoreLayout.parse("int4/disk")
    assert Settings(_env_file=None).store_quantization is StoreQuantization.int8
    assert StoreLayout.from_settings(Settings(_env_file=None)) == StoreLayout()
    assert StoreLayout.from_settings(Settings(store_originals="disk", _env_file=None)).label == "int8/disk/1"
