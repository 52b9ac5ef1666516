"""The DiT's shape, the diffusion schedule and the DiT's fixed embeddings, numpy only (no
torch).

One definition for the torch workload (``workload/model.py``, ``workload/diffusion.py``) and
for the host runtime (``exion_tools/runtime/dit.py``), which must not need torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DiTConfig", "T", "alphas_cumprod", "timesteps", "sincos_pos_embed"]

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


@dataclass(frozen=True)
class DiTConfig:
    """Shape of a DiT (defaults: the 64-token workload model; docs/workload.md).

    Members
    -------
    image_size, patch, channels, hidden, depth, heads, mlp_ratio, num_classes, freq_dim : int
    class_dropout : float
    null_class, tokens, head_dim, ffn_hidden : int (derived)
    """

    image_size: int = 16
    patch: int = 2
    channels: int = 1
    hidden: int = 128
    depth: int = 6
    heads: int = 4
    mlp_ratio: int = 4
    num_classes: int = 10
    freq_dim: int = 256
    class_dropout: float = 0.1  # training: label replaced by the null class (index 10)

    @property
    def null_class(self) -> int:
        return self.num_classes

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch) ** 2

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def ffn_hidden(self) -> int:
        return self.hidden * self.mlp_ratio
