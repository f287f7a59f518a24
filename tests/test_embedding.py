"""ragstate/retrieval/embedding.py: questions sharing forward passes (``Embedder.encode_query``), a
question of several sentences, errors reaching the caller, questions before bulk passes (one
tenant's ingest does not queue in front of another's questions), and the OpenMP wait policy set on
import. The model is a stand-in: no torch needed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from stand_in_model import SlowModel

from ragstate.retrieval.embedding import Embedder, EncodeThread


def test_concurrent_questions_share_forward_passes_and_keep_each_answer():
    model = SlowModel()
    embedder = Embedder(model=model, max_query_batch=4)
    texts = [f"question number {i}" * (i + 1) for i in range(10)]
    results: dict[str, list[float]] = {}

    def ask(t: str) -> None:
        results[t] = embedder.encode_query(t)

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert {t: v[:2] for t, v in results.items()} == {t: [float(len(t)), float(sum(map(ord, t)))] for t in texts}
    assert len(model.passes) < len(texts)  # shared passes
    assert max(len(p) for p in model.passes) <= 4  # never above max_query_batch
    assert sorted(x for p in model.passes for x in p) == sorted(texts)  # each text encoded once
    assert list(embedder.query_batch_sizes) == [len(p) for p in model.passes]


def test_a_lone_question_waits_for_nothing_and_errors_reach_the_caller():
    model = SlowModel(pass_s=0.0, fail_on="boom")
    embedder = Embedder(model=model)
    assert embedder.encode_query("alone")[:1] == [5.0]
    # The mechanism, not the clock (a bound flakes on a loaded machine): a lone question gets a
    # pass of its own; there is no waiting window in encode_query. The latency is measured by
    # bench/query_latency.py.
    assert model.passes == [["alone"]] and list(embedder.query_batch_sizes) == [1]
    with pytest.raises(RuntimeError, match="model failed"):
        embedder.encode_query("boom")
    assert embedder.encode_query("after")[:1] == [5.0]  # the encode thread survived the error
    with pytest.raises(ValueError, match="max_query_batch"):
        Embedder(model=model, max_query_batch=0)


def test_a_question_goes_before_every_bulk_pass_waiting():
    encoder = EncodeThread()
    started, release, order = threading.Event(), threading.Event(), []

    def run(name: str) -> str:
        if name == "running":
            started.set()
            release.wait(10)
        order.append(name)
        return name

    running = encoder.submit(run, "running")  # a bulk pass the thread is busy with
    assert started.wait(10)
    bulk = [encoder.submit(run, f"bulk-{i}") for i in range(3)]  # another tenant's ingest, waiting
    question = encoder.submit(run, "question", urgent=True)
    release.set()
    assert [f.result(10) for f in (running, question, *bulk)] == ["running", "question", "bulk-0", "bulk-1", "bulk-2"]
    # The question waited for the pass that was running, and for nothing else.
    assert order == ["running", "question", "bulk-0", "bulk-1", "bulk-2"]
    failing = encoder.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(10)
    assert encoder.submit(run, "after").result(10) == "after"  # the thread survived the error


def test_bulk_texts_are_encoded_in_short_passes_in_order():
    model = SlowModel(pass_s=0.0)
    embedder = Embedder(model=model, max_bulk_pass=16)
    texts = [f"chunk {i}" for i in range(40)]
    vectors = embedder.encode(texts, batch_size=64)
    assert [len(p) for p in model.passes] == [16, 16, 8]  # a question waits for one short pass at most
    assert [v[0] for v in vectors] == [float(len(t)) for t in texts]
    assert embedder.encode([]) == []
    with pytest.raises(ValueError, match="max_bulk_pass"):
        Embedder(model=model, max_bulk_pass=0)


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_embedding_module_stops_openmp_spinning_unless_told_otherwise(preset, expected, tmp_path):
    # Checked in a fresh interpreter: the policy only works if set before torch loads OpenMP.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = "import os, sys, ragstate.retrieval.embedding; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == [expected, "False"]  # and importing the module did not load torch yet


class OneHotModel:
    """A stand-in model: each known text is a unit vector along its own axis."""

    def __init__(self, axes: dict[str, int]):
        self.axes = axes
        self.passes: list[list[str]] = []

    def encode(self, texts: list[str], batch_size: int = 64, **options):
        import numpy as np

        self.passes.append(list(texts))
        out = np.zeros((len(texts), 384))
        for row, text in enumerate(texts):
            out[row, self.axes[text]] = 1.0
        return out


def test_a_question_of_several_sentences_searches_the_mean_of_its_sentences():
    question = "What is BM25? How are k1 and b tuned?"
    model = OneHotModel({question: 0, "What is BM25?": 1, "How are k1 and b tuned?": 2, "Just one.": 3})
    embedder = Embedder(model=model)
    vector = embedder.encode_query(question, by_sentence=True)
    assert model.passes == [["What is BM25?", "How are k1 and b tuned?"]]  # both sentences, one pass
    assert vector[:4] == pytest.approx([0.0, 2**-0.5, 2**-0.5, 0.0])  # their mean, unit length
    assert embedder.encode_query(question)[:3] == [1.0, 0.0, 0.0] and model.passes[-1] == [question]
    # A one-sentence question is encoded as it is.
    assert embedder.encode_query("Just one.", by_sentence=True)[:4] == [0.0, 0.0, 0.0, 1.0]
    assert model.passes[-1] == ["Just one."]
