"""Cold start of the light worker: a fresh Python process that imports ``ragstate.workers.light``,
connects a client and builds the workers (everything before the first poll), against a
Temporal dev server this benchmark starts on free ports.

Each run is a new subprocess, so nothing is cached but the OS page cache (warm after the first
run: the figures are warm-disk cold starts, the case of a scaled-out container whose image is
already pulled). Reported per phase, p50 over the runs:

- ``spawn→ready``: measured outside, from ``Popen`` to the child's ready line (interpreter
  start included): the number to hold against the 1 s target;
- ``import``: ``import ragstate.workers.light`` (settings, client, runtime; no activities yet);
- ``connect``: ``ragstate.temporal.connection.connect``;
- ``build``: ``build_workers`` for the roles (imports the activity modules and workflows and
  validates the workflows in the sandbox);
- ``import-only``: a separate child that only runs ``import ragstate.workers.light``, spawn to exit.

    python bench/cold_start.py                       # 5 runs, roles workflows,llm
    python bench/cold_start.py --runs 9 --roles workflows
    python bench/cold_start.py --importtime          # + the slowest imports of one run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/cold_start.py` from anywhere imports this checkout
    sys.path.insert(0, str(ROOT))

TARGET_S = 1.0

CHILD = r"""
import time
t0 = time.perf_counter()
import asyncio, json, sys
from ragstate.workers.light import heavy_modules_loaded
from ragstate.settings import Settings
from ragstate.temporal.connection import connect
from ragstate.workers.runtime import build_workers
t1 = time.perf_counter()

async def main():
    settings = Settings(temporal_address=sys.argv[1], _env_file=None)
    client = await connect(settings)
    t2 = time.perf_counter()
    workers = build_workers(client, settings, sys.argv[2].split(","))
    t3 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "connect": t2 - t1, "build": t3 - t2, "workers": len(workers),
                      "heavy": heavy_modules_loaded()}), flush=True)

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    from ragstate.testing import clean_env  # imported here like the rest: the parent stays light

    path = str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    return clean_env(PYTHONPATH=path)


def one_run(address: str, roles: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, address, roles],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    ready = time.perf_counter() - start
    _out, err = proc.communicate(timeout=60)
    if proc.returncode != 0 or not line.strip():
        raise RuntimeError(f"cold-start child failed ({proc.returncode}): {err[-2000:]}")
    return {"spawn→ready": ready, **json.loads(line)}


def import_only() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ragstate.workers.light"], cwd=ROOT, env=_env(), check=True)
    return time.perf_counter() - start


def slowest_imports(address: str, roles: str, top: int = 12) -> list[tuple[float, str]]:
    """Top-level imports of one child by cumulative time (``python -X importtime``)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CHILD, address, roles],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = []
    for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", proc.stderr):
        if len(m.group(2)) <= 2:  # the child's own imports and their direct children
            found.append((int(m.group(1)) / 1e6, m.group(2) + m.group(3)))
    return sorted(found, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--roles", default="workflows,llm", help="roles to build (default: the light worker's)")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports of one run")
    args = parser.parse_args()

    from ragstate.temporal.devserver import DevServer, free_port

    with (
        tempfile.TemporaryDirectory(prefix="ragstate-cold-") as tmp,
        DevServer(Path(tmp), port=free_port(), ui_port=free_port()) as server,
    ):
        one_run(server.address, args.roles)  # untimed: fills the page cache and compiles .pyc files
        runs = [one_run(server.address, args.roles) for _ in range(args.runs)]
        imports = [import_only() for _ in range(args.runs)]
        slow = slowest_imports(server.address, args.roles) if args.importtime else []

    p50 = {k: statistics.median(r[k] for r in runs) for k in ("spawn→ready", "import", "connect", "build")}
    heavy = sorted({m for r in runs for m in r["heavy"]})
    print(
        f"light worker cold start, roles {args.roles}, {args.runs} runs, {os.cpu_count()} cores "
        f"(load average {os.getloadavg()[0]:.1f}), Python {sys.version.split()[0]}"
    )
    for k, v in p50.items():
        print(
            f"  {k:<12} p50 {v * 1000:7.0f} ms   (min {min(r[k] for r in runs) * 1000:.0f}, "
            f"max {max(r[k] for r in runs) * 1000:.0f})"
        )
    print(
        f"  {'import-only':<12} p50 {statistics.median(imports) * 1000:7.0f} ms   (python -c 'import ragstate.workers.light')"
    )
    print(f"  heavy modules loaded: {', '.join(heavy) or 'none'}")
    verdict = "met" if p50["spawn→ready"] < TARGET_S else "MISSED"
    print(f"  target spawn→ready < {TARGET_S:.0f} s: {verdict}")
    if slow:
        print("  slowest imports (cumulative, one run with -X importtime, which inflates them):")
        for seconds, name in slow:
            print(f"    {seconds * 1000:7.0f} ms  {name}")


if __name__ == "__main__":
    main()
