"""A stand-in for the embedding model, for tests of the code around it (batching, sharing
forward passes, failures) without loading the real one."""

from __future__ import annotations

import threading
import time


class SlowModel:
    """A stand-in model: one vector per text, each pass takes a while, passes recorded."""

    def __init__(self, pass_s: float = 0.05, fail_on: str | None = None):
        self.pass_s, self.fail_on = pass_s, fail_on
        self.passes: list[list[str]] = []
        self.lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 64, **options):
        import numpy as np

        with self.lock:
            self.passes.append(list(texts))
            time.sleep(self.pass_s)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return np.array([[float(len(t)), float(sum(map(ord, t)))] + [0.0] * 382 for t in texts])
