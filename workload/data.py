"""scikit-learn's digits as 16 x 16 images in [-1, 1] (nothing is downloaded: the data set ships
with scikit-learn)."""

from __future__ import annotations

import numpy as np

#: Side of the images the DiT sees (the 8 x 8 digits are upscaled 2x).
IMAGE_SIZE = 16
NUM_CLASSES = 10


def upscale(img8: np.ndarray) -> np.ndarray:
    """Bilinear 2x upscaling of ``(..., 8, 8)`` images (half-pixel centres, edge clamped).

    Output pixel ``i`` of 16 sits at input coordinate ``(i + 0.5) / 2 - 0.5``; written out in
    numpy so the result does not depend on a library's resampling defaults.
    """
    img8 = np.asarray(img8, dtype=np.float64)
    n = img8.shape[-1]
    pos = (np.arange(2 * n) + 0.5) / 2 - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    frac = np.clip(pos - np.floor(pos), 0, 1)
    frac = np.where(pos < 0, 0.0, frac)
    rows = img8[..., lo, :] * (1 - frac)[:, None] + img8[..., hi, :] * frac[:, None]
    return rows[..., :, lo] * (1 - frac) + rows[..., :, hi] * frac


def load_digits_16() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: images ``(N, 1, 16, 16)`` float32 in [-1, 1] and labels ``(N,)`` int64.

    Pixel values 0..16 are divided by 16 and mapped to [-1, 1] after upscaling.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    img = upscale(d.images / 16.0) * 2.0 - 1.0
    return img[:, None].astype(np.float32), d.target.astype(np.int64)


def split(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed train / test split of indices (used by the classifier only)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(perm[k:]), np.sort(perm[:k])
