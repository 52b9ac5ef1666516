"""A DiT for the runtime, in numpy: its description, its weights (the trained ``.npz`` of
``workload/`` or seeded synthetic ones for a shape), the float parts the host computes
(timestep embedding, position embedding, patches) and the DDIM schedule.

The forward pass and the sampler reproduce ``workload/model.py`` and ``workload/diffusion.py``
(which are torch based and not imported here): the same parameter names, trailing DDIM
timesteps, ``eta = 0`` and the clip of the predicted clean image. The cosine schedule, the
timesteps and the position embedding are ``workload/schedule.py``'s, which both use (numpy
only).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from workload.schedule import DiTConfig, T, sincos_pos_embed, timesteps  # numpy only
from workload.schedule import alphas_cumprod as alphas_cumprod_f64

__all__ = ["DiTSpec", "DiTWeights", "SHAPES", "load_npz", "synthetic", "timestep_embedding",
           "sincos_pos_embed", "patchify", "unpatchify", "alphas_cumprod", "timesteps",
           "ddim_step", "initial_noise", "T"]



@dataclass(frozen=True)
class DiTSpec(DiTConfig):
    """Shape of a DiT: ``workload.schedule.DiTConfig`` (the workload's own) and a name.

    Members
    -------
    name : str
    ffn : int
        FFN width (``ffn_hidden``).
    """

    name: str = "dit"

    @property
    def ffn(self) -> int:
        return self.ffn_hidden


#: Shapes with synthetic weights. DiT-XL/2: 256 tokens (32 x 32 latents, patch 2, 4
#: channels), hidden 1152, 16 heads, 28 blocks, FFN 4608 (Peebles & Xie 2023, table 1).
SHAPES = {
    "dit-xl/2": DiTSpec(image_size=32, patch=2, channels=4, hidden=1152, depth=28, heads=16,
                        num_classes=1000, name="dit-xl/2"),
    "tiny": DiTSpec(image_size=8, patch=2, channels=1, hidden=32, depth=1, heads=2,
                    name="tiny"),
}


@dataclass
class DiTWeights:
    """Float weights by ``workload.model`` parameter name (``Linear`` weights ``(out, in)``).

    Members
    -------
    spec : DiTSpec
    w : dict of str to numpy.ndarray
    """

    spec: DiTSpec
    w: dict

    def linear(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(W (in, out), b (out,))`` of ``Linear`` ``name`` (bias 0 where it has none)."""
        wt = self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return wt, (np.zeros(wt.shape[1]) if b is None else b)


def load_npz(path) -> DiTWeights:
    """The weights ``workload.model.save_weights`` wrote (float16 arrays + JSON config)."""
    with np.load(Path(path)) as z:
        info = json.loads(bytes(z["__info__"]).decode())
        w = {k: z[k].astype(np.float64) for k in z.files if k != "__info__"}
    c = info["config"]
    shape = {f.name: c[f.name] for f in fields(DiTConfig) if f.name in c}
    return DiTWeights(DiTSpec(**shape, name=Path(path).stem), w)


def synthetic(spec: DiTSpec, seed: int = 0) -> DiTWeights:
    """Seeded weights of ``spec``: Xavier-uniform linear maps, small biases, non-zero adaLN
    (a trained model's blocks are not the identity) and embeddings."""
    rng = np.random.default_rng(seed)
    d, p2 = spec.hidden, spec.patch * spec.patch * spec.channels
    w = {}

    def lin(name, n_in, n_out, bias=True, gain=1.0):
        a = gain * math.sqrt(6.0 / (n_in + n_out))
        w[name + ".weight"] = rng.uniform(-a, a, (n_out, n_in))
        if bias:
            w[name + ".bias"] = rng.normal(0, 0.02, n_out)
    lin("patch_embed", p2, d)
    lin("t_mlp.0", spec.freq_dim, d)
    lin("t_mlp.2", d, d)
    w["y_embed.weight"] = rng.normal(0, 0.5, (spec.num_classes + 1, d))
    for i in range(spec.depth):
        b = f"blocks.{i}."
        for n in "qkv":
            lin(b + "attn." + n, d, d, bias=False)
        lin(b + "attn.proj", d, d)
        lin(b + "ffn.fc1", d, spec.ffn)
        lin(b + "ffn.fc2", spec.ffn, d)
        lin(b + "ada", d, 6 * d, gain=0.1)
    lin("ada_f", d, 2 * d, gain=0.1)
    lin("out", d, p2, gain=0.5)
    return DiTWeights(spec, w)


# -- float parts on the host ---------------------------------------------------------------

def timestep_embedding(t: float, dim: int, max_period: float = 10000.0) -> np.ndarray:
    """workload.model.timestep_embedding of one timestep: ``[cos, sin]`` of ``dim / 2``
    frequencies."""
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half, dtype=np.float32) / half)
    args = np.float32(t) * freqs
    return np.concatenate([np.cos(args), np.sin(args)]).astype(np.float64)


def patchify(x: np.ndarray, p: int) -> np.ndarray:
    """``(c, H, W)`` image to ``(tokens, p * p * c)`` (workload.model.DiT.patchify)."""
    c, h, w = x.shape
    x = x.reshape(c, h // p, p, w // p, p).transpose(1, 3, 2, 4, 0)
    return x.reshape((h // p) * (w // p), p * p * c)


def unpatchify(x: np.ndarray, p: int, c: int) -> np.ndarray:
    n = x.shape[0]
    g = int(round(math.sqrt(n)))
    x = x.reshape(g, g, p, p, c).transpose(4, 0, 2, 1, 3)
    return x.reshape(c, g * p, g * p)


# -- DDIM ----------------------------------------------------------------------------------

def alphas_cumprod(t_total: int = T, s: float = 0.008) -> np.ndarray:
    """workload.schedule's cosine schedule rounded to float32, as the torch sampler holds it
    (workload/diffusion.py's ``ABAR``)."""
    return alphas_cumprod_f64(t_total, s).astype(np.float32).astype(np.float64)


ABAR = alphas_cumprod()


def ddim_step(x: np.ndarray, eps: np.ndarray, i: int, ts: list[int]) -> np.ndarray:
    """One DDIM (eta = 0) step from ``x`` at ``ts[i]`` with predicted noise ``eps``."""
    a = ABAR[ts[i]]
    a_prev = ABAR[ts[i + 1]] if i + 1 < len(ts) else 1.0
    x0 = np.clip((x - math.sqrt(1 - a) * eps) / math.sqrt(a), -1, 1)
    eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
    return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps


def initial_noise(spec: DiTSpec, seed: int, n: int) -> np.ndarray:
    """Starting noise of ``n`` images ``(n, c, H, W)`` (numpy's generator: the torch one of
    workload/diffusion.py is not available here, so the images differ from the workload's)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, spec.channels, spec.image_size, spec.image_size))
