"""Noise schedule, training loss and the DDIM sampler.

* ``T = 1000`` training timesteps, cosine schedule (Nichol & Dhariwal 2021), noise (epsilon)
  prediction, MSE loss with Min-SNR-5 weighting, 10 % label dropout (null class).
* DDIM (Song et al. 2021) with ``eta = 0``: deterministic given the initial noise. ``steps``
  timesteps evenly spaced over ``[0, T)`` ("trailing" spacing: ``t_i = round(T - 1 - i * T /
  steps)``; the last step jumps to the clean image). The predicted clean image is clipped to
  [-1, 1] at every step.
* The sampler calls an ``ops`` object (see :class:`workload.model.Block`) with a
  ``begin_step(i, t)`` hook, so FFN-Reuse can tell dense from sparse iterations.
"""

from __future__ import annotations

import torch

from .schedule import T, alphas_cumprod, timesteps

__all__ = ["T", "alphas_cumprod", "timesteps", "q_sample", "loss", "ddim_sample", "initial_noise"]

ABAR = torch.from_numpy(alphas_cumprod()).float()


def q_sample(x0, t, noise):
    a = ABAR[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def loss(model, x0, y, generator, min_snr: float = 5.0):
    """Noise-prediction MSE with Min-SNR-gamma weighting (Hang et al. 2023):
    ``w(t) = min(SNR(t), gamma) / SNR(t)``; labels dropped to the null class with probability
    ``model.cfg.class_dropout``."""
    b = x0.shape[0]
    t = torch.randint(0, T, (b,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    drop = torch.rand(b, generator=generator) < model.cfg.class_dropout
    y = torch.where(drop, torch.full_like(y, model.cfg.null_class), y)
    eps = model(q_sample(x0, t, noise), t, y)
    a = ABAR[t]
    snr = a / (1 - a)
    w = torch.clamp(snr, max=min_snr) / snr if min_snr else torch.ones_like(snr)
    return torch.mean(w * ((eps - noise) ** 2).mean(dim=(1, 2, 3)))


def initial_noise(n: int, seed: int, image_size: int = 16) -> torch.Tensor:
    """The starting noise of sample set ``seed``: the same for every configuration."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, 1, image_size, image_size), generator=g)


@torch.no_grad()
def ddim_sample(model, y, noise, steps: int, ops=None, progress=None, trajectory=False,
                guidance: float = 1.0):
    """DDIM (eta = 0) from ``noise`` with labels ``y``. Returns the final images in [-1, 1]
    (and, with ``trajectory=True``, the list of ``x_t`` after each step).

    ``guidance != 1`` applies classifier-free guidance: the batch is doubled (conditional
    samples first, then the same samples with the null label; ``ops`` sees all ``2 n`` rows)
    and ``eps = eps_null + guidance * (eps_cond - eps_null)``."""
    x = noise.clone()
    ts = timesteps(steps)
    traj = []
    n = x.shape[0]
    if guidance != 1.0:
        y = torch.cat([y, torch.full_like(y, model.cfg.null_class)])
    for i, t in enumerate(ts):
        if ops is not None and hasattr(ops, "begin_step"):
            ops.begin_step(i, t)
        tt = torch.full((y.shape[0],), t, dtype=torch.long)
        if guidance != 1.0:
            e = model(torch.cat([x, x]), tt, y, ops=ops)
            eps = e[n:] + guidance * (e[:n] - e[n:])
        else:
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
