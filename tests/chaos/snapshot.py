"""``--snapshot REV``: run the suite on a committed revision instead of the working tree.

Workers and CLI commands are started again and again during the suite and import the code
afresh each time; in a working tree that is being edited a half-saved module would show up as a
fault of the code under test. ``git archive REV`` is unpacked under a temporary directory, the
installed package layout is assembled from links (``workflows/`` as ``ragstate.workflows`` and
so on, as ``make typecheck`` does) and the suite re-executes itself from there with that layout
first on PYTHONPATH, which every worker and CLI subprocess inherits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

#: Set in the re-executed suite: the unpacked revision, removed when the suite ends.
CODE_DIR_VAR = "CHAOS_CODE_DIR"


def unpack(repo: Path, rev: str) -> Path:
    """``rev`` of ``repo`` under a new temporary directory, with the package layout in ``_pkg``."""
    dst = Path(tempfile.mkdtemp(prefix="ragstate-chaos-code-"))
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    pkg = dst / "_pkg" / "ragstate"
    pkg.mkdir(parents=True)
    for item in (dst / "ragstate").iterdir():
        (pkg / item.name).symlink_to(item)
    for sub in ("workflows", "activities", "workers"):
        (pkg / sub).symlink_to(dst / sub)
    return dst


def reexec(repo: Path, rev: str, argv: list[str]) -> NoReturn:
    """Run ``python -m chaos argv`` of revision ``rev`` (its tests/chaos/) in place of this process."""
    try:
        dst = unpack(repo, rev)
    except subprocess.CalledProcessError as e:
        sys.exit(f"cannot unpack revision {rev!r}: {e.stderr.decode(errors='replace').strip()}")
    suite = dst / "tests" / "chaos"
    if not (suite / "__main__.py").exists():
        shutil.rmtree(dst, ignore_errors=True)
        sys.exit(f"revision {rev!r} has no tests/chaos/ (the suite was bench/chaos.py before): run that one")
    print(f"running the suite on {rev} unpacked under {dst}", file=sys.stderr, flush=True)
    path = os.pathsep.join(p for p in (str(dst / "_pkg"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, CODE_DIR_VAR: str(dst)}
    os.chdir(suite.parent)  # `python -m chaos` finds the revision's suite first on the path
    os.execve(sys.executable, [sys.executable, "-m", "chaos", *argv], env)


def cleanup() -> None:
    """Remove the unpacked revision this suite runs on, if it runs on one."""
    if code := os.environ.get(CODE_DIR_VAR):
        shutil.rmtree(code, ignore_errors=True)
