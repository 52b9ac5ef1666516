"""Argument checks shared by the golden model's public functions."""

from __future__ import annotations

import numpy as np


def float_matrix(name, a):
    """``a`` as a non-empty 2-D float64 array, or a ValueError naming ``name`` and the shape."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"{name} has shape {a.shape}; it must be a non-empty 2-D matrix")
    return a
