"""The diffusion schedule and the DiT's fixed embeddings, numpy only (no torch).

One definition for the torch workload (``workload/model.py``, ``workload/diffusion.py``) and
for the host runtime (``exion_tools/runtime/dit.py``), which must not need torch.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["T", "alphas_cumprod", "timesteps", "sincos_pos_embed"]

#: Training timesteps.
T = 1000


def alphas_cumprod(t_total: int = T, s: float = 0.008) -> np.ndarray:
    """Cosine schedule: ``abar(t) = f(t) / f(0)``, ``f(t) = cos((t / T + s) / (1 + s) * pi / 2)^2``,
    betas clipped to 0.999. Index ``t`` in ``[0, T)`` is the noise level after ``t + 1`` steps."""
    x = np.arange(t_total + 1, dtype=np.float64)
    f = np.cos((x / t_total + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
    return np.cumprod(1 - betas)


def timesteps(steps: int, t_total: int = T) -> list[int]:
    """The ``steps`` DDIM timesteps, from noisiest to cleanest (trailing spacing)."""
    return [int(round(t_total - 1 - i * t_total / steps)) for i in range(steps)]


def sincos_pos_embed(hidden: int, grid: int) -> np.ndarray:
    """DiT's fixed 2-D sin-cos position embedding, ``(grid * grid, hidden)``."""
    def one_d(dim, pos):
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        out = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    gh, gw = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64),
                         indexing="ij")
    return np.concatenate([one_d(hidden // 2, gw), one_d(hidden // 2, gh)], axis=1)
