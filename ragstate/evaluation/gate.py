"""The retrieval regression gate: a saved baseline of per-query hybrid nDCG@10 per collection,
and a paired bootstrap comparison of a new run against it.

A collection fails when its mean hybrid nDCG@10 is more than ``tolerance`` below the baseline's.
The paired bootstrap (queries resampled with replacement, the same queries for both runs) gives
a 95% interval of the change, so a reader can tell a real drop from the noise of a few queries.

Example::

    save_baseline(path, {"cisi": report}, settings)
    verdicts = compare(load_baseline(path), {"cisi": report}, tolerance=0.005)
    any(not v.passed for v in verdicts)
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragstate.evaluation.beir import EvalReport
from ragstate.settings import Settings

METRIC = "ndcg@10"
RUN = "hybrid"
FORMAT = 1
#: The settings that decide the ranking, recorded with a baseline so a reader sees what made it.
RETRIEVAL_SETTINGS = (
    "search_depth",
    "fusion_unit",
    "fusion_method",
    "query_encoding",
    "rrf_k",
    "vector_weight",
    "keyword_weight",
    "keyword_other_chunks",
    "chunk_tokens",
    "chunk_overlap",
    "bm25_k1",
    "bm25_b",
    "bm25_avg_len",
)


class BaselineError(ValueError):
    """A baseline file that cannot be read, or that does not cover the collections evaluated."""


def per_query_metric(report: EvalReport) -> dict[str, float]:
    """Hybrid nDCG@10 per judged query; a failed query scores 0 (as in the summary)."""
    out = {qid: runs[RUN][METRIC] for qid, runs in report.per_query.items()}
    out.update({qid: 0.0 for qid in report.failures})
    return out


def save_baseline(path: Path, reports: dict[str, EvalReport], settings: Settings) -> None:
    data = {
        "format": FORMAT,
        "metric": f"{RUN} {METRIC}",
        "settings": {k: _plain(getattr(settings, k)) for k in RETRIEVAL_SETTINGS if hasattr(settings, k)},
        "collections": {
            name: {"mean": report.summary()[RUN][METRIC], "per_query": per_query_metric(report)}
            for name, report in reports.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def load_baseline(path: Path) -> dict[str, dict[str, float]]:
    """Collection name -> query id -> hybrid nDCG@10."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise BaselineError(f"cannot read baseline {path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise BaselineError(f"baseline {path} is not JSON: {e.msg} (line {e.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("collections"), dict):
        raise BaselineError(f"baseline {path} is not a format-{FORMAT} file written by `ragstate eval --save`")
    try:
        return {name: {str(q): float(v) for q, v in c["per_query"].items()} for name, c in data["collections"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise BaselineError(f"baseline {path}: each collection needs a per_query map of numbers") from None


@dataclass(frozen=True)
class Verdict:
    collection: str
    baseline: float
    current: float
    low: float  # 95% paired bootstrap interval of current - baseline
    high: float
    tolerance: float

    @property
    def delta(self) -> float:
        return self.current - self.baseline

    @property
    def passed(self) -> bool:
        # A little slack for float noise: a run equal to its baseline never fails.
        return self.delta >= -self.tolerance - 1e-9


def paired_bootstrap(
    baseline: dict[str, float], current: dict[str, float], samples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of mean(current - baseline) over queries resampled with replacement."""
    diffs = [current[q] - baseline[q] for q in baseline]
    if not diffs:
        return 0.0, 0.0
    rng = random.Random(seed)  # fixed: the same run prints the same interval
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    return means[int(0.025 * samples)], means[min(samples - 1, int(0.975 * samples))]


def compare(baseline: dict[str, dict[str, float]], current: dict[str, EvalReport], tolerance: float) -> list[Verdict]:
    """One verdict per evaluated collection. Raises BaselineError when the baseline lacks a
    collection or a query: a gate that compared nothing must not pass."""
    if tolerance < 0:
        raise BaselineError("tolerance must be >= 0")
    verdicts = []
    for name, report in current.items():
        if name not in baseline:
            raise BaselineError(f"the baseline has no collection {name!r} (it has: {', '.join(sorted(baseline))})")
        base, now = baseline[name], per_query_metric(report)
        if set(base) != set(now):
            missing = sorted(set(base) ^ set(now))[:5]
            raise BaselineError(f"{name}: the baseline was made on other queries (differing ids: {', '.join(missing)})")
        low, high = paired_bootstrap(base, now)
        mean_base, mean_now = sum(base.values()) / len(base), sum(now[q] for q in base) / len(base)
        verdicts.append(Verdict(name, mean_base, mean_now, low, high, tolerance))
    return verdicts


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)
