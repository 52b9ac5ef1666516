"""Where the workload keeps its files, relative to the repository root (no torch needed)."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the folder holding ``pyproject.toml``).
ROOT = Path(__file__).resolve().parents[1]
#: Committed artefacts: trained weights and exported traces.
DATA = ROOT / "data"
WEIGHTS = DATA / "dit_digits.npz"
CLASSIFIER = DATA / "digit_classifier.npz"
TRACES = DATA / "traces"


def build_dir() -> Path:
    """Generated outputs (tables, plots, grids): ``$BUILD/workload``, default ``build/workload``."""
    base = Path(os.environ.get("BUILD", "build"))
    if not base.is_absolute():
        base = ROOT / base
    return base / "workload"
