"""Paths the tests read: the repository root and the example corpus (never the working
directory: the suite runs from anywhere)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_CORPUS = ROOT / "examples" / "corpus"
