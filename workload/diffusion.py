"""Noise schedule, training loss and the DDIM sampler.

* ``T = 1000`` training timesteps, cosine schedule (Nichol & Dhariwal 2021), noise (epsilon)
  prediction, plain MSE loss.
* DDIM (Song et al. 2021) with ``eta = 0``: deterministic given the initial noise. ``steps``
  timesteps evenly spaced over ``[0, T)`` ("trailing" spacing: ``t_i = round(T - 1 - i * T /
  steps)``; the last step jumps to the clean image). The predicted clean image is clipped to
  [-1, 1] at every step.
* The sampler calls an ``ops`` object (see :class:`workload.model.Block`) with a
  ``begin_step(i, t)`` hook, so FFN-Reuse can tell dense from sparse iterations.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["T", "alphas_cumprod", "timesteps", "q_sample", "loss", "ddim_sample", "initial_noise"]

T = 1000


def alphas_cumprod(t_total: int = T, s: float = 0.008) -> np.ndarray:
    """Cosine schedule: ``abar(t) = f(t) / f(0)``, ``f(t) = cos((t / T + s) / (1 + s) * pi / 2)^2``,
    betas clipped to 0.999. Index ``t`` in ``[0, T)`` is the noise level after ``t + 1`` steps."""
    x = np.arange(t_total + 1, dtype=np.float64)
    f = np.cos((x / t_total + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
    return np.cumprod(1 - betas)


ABAR = torch.from_numpy(alphas_cumprod()).float()


def timesteps(steps: int, t_total: int = T) -> list[int]:
    """The ``steps`` DDIM timesteps, from noisiest to cleanest (trailing spacing)."""
    return [int(round(t_total - 1 - i * t_total / steps)) for i in range(steps)]


def q_sample(x0, t, noise):
    a = ABAR[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def loss(model, x0, y, generator):
    t = torch.randint(0, T, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    eps = model(q_sample(x0, t, noise), t, y)
    return torch.mean((eps - noise) ** 2)


def initial_noise(n: int, seed: int, image_size: int = 16) -> torch.Tensor:
    """The starting noise of sample set ``seed``: the same for every configuration."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, 1, image_size, image_size), generator=g)


@torch.no_grad()
def ddim_sample(model, y, noise, steps: int, ops=None, progress=None, trajectory=False):
    """DDIM (eta = 0) from ``noise`` with labels ``y``. Returns the final images in [-1, 1]
    (and, with ``trajectory=True``, the list of ``x_t`` after each step)."""
    x = noise.clone()
    ts = timesteps(steps)
    traj = []
    for i, t in enumerate(ts):
        if ops is not None and hasattr(ops, "begin_step"):
            ops.begin_step(i, t)
        tt = torch.full((x.shape[0],), t, dtype=torch.long)
        eps = model(x, tt, y, ops=ops)
        a = ABAR[t]
        a_prev = ABAR[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        if trajectory:
            traj.append(x.clone())
        if progress:
            progress(i + 1, len(ts))
    return (x, traj) if trajectory else x
