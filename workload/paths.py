"""Where the workload keeps its files, relative to the repository root (no torch needed).

Two trained models share the code (``docs/workload.md``): ``dit64`` (16 x 16 digits, patch 2,
64 tokens; the default) and ``dit256`` (16 x 16 digits, patch 1, 256 tokens, DiT-XL/2's head
dimension 72). The model is chosen by ``python -m workload --model NAME`` (``make workload
MODEL=NAME``) or the ``WORKLOAD_MODEL`` environment variable; :func:`select` rebinds
``WEIGHTS`` / ``TRACES`` and the build folder, so modules imported after it default to the
selected model's files.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the folder holding ``pyproject.toml``).
ROOT = Path(__file__).resolve().parents[1]
#: Committed artefacts: trained weights and exported traces.
DATA = ROOT / "data"
CLASSIFIER = DATA / "digit_classifier.npz"

#: The models: committed weights and trace folder of each (paths relative to ``DATA``), build
#: sub-folder, and the torch threads their sampling runs use (the 64-token tables were run
#: with one; the 256-token model's with two, the cores of the shared machine).
MODELS = {
    "dit64": {"weights": "dit_digits.npz", "traces": "traces", "build": "", "threads": 1},
    "dit256": {"weights": "dit256_digits.npz", "traces": "traces256", "build": "dit256",
               "threads": 2},
}
DEFAULT_MODEL = "dit64"

MODEL = DEFAULT_MODEL
WEIGHTS = DATA / MODELS[DEFAULT_MODEL]["weights"]
TRACES = DATA / MODELS[DEFAULT_MODEL]["traces"]


def select(name: str) -> None:
    """Make ``name`` (a key of :data:`MODELS`) the model of this process."""
    global MODEL, WEIGHTS, TRACES
    if name not in MODELS:
        raise ValueError(f"model = {name!r} is not one of {', '.join(MODELS)}")
    MODEL = name
    WEIGHTS = DATA / MODELS[name]["weights"]
    TRACES = DATA / MODELS[name]["traces"]


def weights_for(name: str) -> Path:
    return DATA / MODELS[name]["weights"]


def traces_for(name: str) -> Path:
    return DATA / MODELS[name]["traces"]


def build_dir() -> Path:
    """Generated outputs (tables, plots, grids): ``$BUILD/workload`` for ``dit64``,
    ``$BUILD/workload/dit256`` for ``dit256``."""
    base = Path(os.environ.get("BUILD", "build"))
    if not base.is_absolute():
        base = ROOT / base
    sub = MODELS[MODEL]["build"]
    return base / "workload" / sub if sub else base / "workload"


select(os.environ.get("WORKLOAD_MODEL", DEFAULT_MODEL))
