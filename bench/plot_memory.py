"""Plot the worker's memory during ingestion from `bench/ingest_memory.py --csv`: the heap
(RssAnon) and the mapped files (RssFile, mostly the store's index) against the share of the
ingest done, one line per corpus size. A heap that stays level across sizes while the mapped
files grow is the "no growth beyond the store's own index" the benchmark checks.

    python bench/ingest_memory.py --sizes 10000,30000 --csv /tmp/mem.csv
    python bench/plot_memory.py /tmp/mem.csv docs/img/ingest_memory.png

Needs the ``bench`` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path


def load(path: Path) -> dict[int, list[tuple[float, float, float]]]:
    """chunks -> [(seconds, RssAnon MiB, RssFile MiB)] in time order."""
    series: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            series[int(row["chunks"])].append((float(row["t_s"]), float(row["RssAnon_MiB"]), float(row["RssFile_MiB"])))
    if not series:
        raise SystemExit(f"{path}: no samples")
    return {size: sorted(points) for size, points in sorted(series.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples", type=Path, help="CSV written by bench/ingest_memory.py --csv")
    ap.add_argument("out", type=Path, help="PNG to write")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = load(args.samples)
    fig, (heap_ax, file_ax) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for size, points in series.items():
        end = points[-1][0] or 1.0
        share = [100 * t / end for t, _, _ in points]
        label = f"{size:,} chunks ({end / 60:.0f} min)"
        heap_ax.plot(share, [anon for _, anon, _ in points], label=label)
        file_ax.plot(share, [mapped for _, _, mapped in points], label=label)
    heap_ax.set_title("heap (RssAnon)")
    file_ax.set_title("mapped files (RssFile), mostly the store's index")
    for ax in (heap_ax, file_ax):
        ax.set_xlabel("share of the ingest done (%)")
        ax.grid(alpha=0.3)
    heap_ax.set_ylabel("MiB")
    heap_ax.legend(loc="lower right")
    fig.suptitle("ingestion worker memory (bench/ingest_memory.py)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    for size, points in series.items():
        print(
            f"{size:>8,} chunks: heap peak {max(p[1] for p in points):7.1f} MiB, "
            f"mapped files peak {max(p[2] for p in points):7.1f} MiB, {len(points)} samples"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
