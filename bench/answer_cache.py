"""Choose the answer cache's similarity threshold (``RAGSTATE_ANSWER_CACHE_THRESHOLD``) on the
committed question pairs (bench/answer_cache/pairs.jsonl, how they were made in its README):
pairs that must hit (paraphrases: the same question asked again) and pairs that must not
(near misses: another term, number, entity or aspect, a negation).

Each question is embedded as VectorSearch embeds it (the packaged all-MiniLM-L6-v2,
``encode_query``, unit vectors), each pair scored by cosine similarity. For each threshold the
table gives the must-hit pairs' hit rate and the must-not pairs' wrong hits, by cosine alone
and with the lexical guard (:func:`ragstate.answers.cache_match.compatible`); the chosen
threshold is the lowest with zero wrong hits with the guard (what the cache uses) plus
:data:`MARGIN` (a hand-made set of a hundred near misses is not every near miss), and the
must-not pairs' highest cosine by kind says how close each kind comes.

    HF_HUB_OFFLINE=1 python bench/answer_cache.py
    HF_HUB_OFFLINE=1 python bench/answer_cache.py --show 0.85   # the pairs each side gets wrong there
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

PAIRS = Path(__file__).parent / "answer_cache" / "pairs.jsonl"
#: Added to the lowest threshold with no wrong hit on the set.
MARGIN = 0.03
GRID = [round(x, 3) for x in np.arange(0.70, 1.0001, 0.01)]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cosines(pairs: list[dict]) -> np.ndarray:
    from ragstate.retrieval.embedding import get_embedder

    embedder = get_embedder("cpu")
    texts = sorted({p[side] for p in pairs for side in ("a", "b")})
    vectors = dict(zip(texts, (np.asarray(embedder.encode_query(t)) for t in texts), strict=True))
    return np.array([float(vectors[p["a"]] @ vectors[p["b"]]) for p in pairs])


def choose(sims: np.ndarray, must_hit: np.ndarray, guarded: np.ndarray) -> float | None:
    """The lowest threshold of the grid with no wrong hit (guard on); None if none has."""
    for t in GRID:
        if not np.any((sims >= t) & ~must_hit & guarded):
            return t
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--show", type=float, help="list the pairs each side gets wrong at this threshold")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ragstate.answers.cache_match import compatible, signature

    pairs = load(args.pairs)
    sims = cosines(pairs)
    must_hit = np.array([p["hit"] for p in pairs])
    guarded = np.array([compatible(signature(p["a"]), signature(p["b"])) for p in pairs])
    n_hit, n_miss = int(must_hit.sum()), int((~must_hit).sum())
    print(f"{len(pairs)} pairs: {n_hit} must hit, {n_miss} must not ({args.pairs})")
    print(
        f"guard alone: passes {int((guarded & must_hit).sum())}/{n_hit} must-hit, "
        f"{int((guarded & ~must_hit).sum())}/{n_miss} must-not\n"
    )
    print("| threshold | cosine: hit rate | cosine: wrong hits | + guard: hit rate | + guard: wrong hits |")
    print("|---|---|---|---|---|")
    for t in GRID:
        above = sims >= t
        print(
            f"| {t:.2f} | {(above & must_hit).sum() / n_hit:.1%} | {int((above & ~must_hit).sum())} "
            f"| {(above & must_hit & guarded).sum() / n_hit:.1%} | {int((above & ~must_hit & guarded).sum())} |"
        )
    print("\nmust-not pairs by kind: count, highest cosine, highest cosine the guard lets through")
    kinds: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        if not p["hit"]:
            kinds[p["kind"]].append(i)
    for kind, idx in sorted(kinds.items()):
        through = [sims[i] for i in idx if guarded[i]]
        print(f"  {kind:10s} {len(idx):3d}  {max(sims[i] for i in idx):.3f}  {max(through) if through else '-'}")
    print(f"must-hit cosine: min {sims[must_hit].min():.3f}, median {np.median(sims[must_hit]):.3f}")
    chosen = choose(sims, must_hit, guarded)
    if chosen is None:
        print("\nno threshold of the grid has zero wrong hits with the guard")
    else:
        chosen_rate = (sims >= chosen)[must_hit & guarded].sum() / n_hit
        default = round(chosen + MARGIN, 3)
        rate = (sims >= default)[must_hit & guarded].sum() / n_hit
        print(f"\nlowest threshold with 0 wrong hits (guard on): {chosen:.2f}, must-hit rate {chosen_rate:.1%}")
        print(f"chosen default (+{MARGIN} margin): {default:.2f}, must-hit rate {rate:.1%}, wrong hits 0")
    if args.show is not None:
        t = args.show
        print(f"\nat {t}: must-hit pairs missed")
        for i, p in enumerate(pairs):
            if p["hit"] and not (sims[i] >= t and guarded[i]):
                why = "guard" if sims[i] >= t else "cosine"
                print(f"  {sims[i]:.3f} {why:6s} {p['a']!r} / {p['b']!r}")
        print(f"at {t}: must-not pairs hit (cosine alone; * the guard lets it through too)")
        for i, p in enumerate(pairs):
            if not p["hit"] and sims[i] >= t:
                print(f"  {sims[i]:.3f} {'*' if guarded[i] else ' '} {p['kind']:9s} {p['a']!r} / {p['b']!r}")


if __name__ == "__main__":
    main()
