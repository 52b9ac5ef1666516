"""A small DiT (Peebles & Xie, 2023) for 16 x 16 single-channel digits.

Structure (defaults: 6 blocks, hidden 128, 4 heads of 32, FFN 512, patch 2 -> 64 tokens):

* patch embedding: a linear map of each 2 x 2 patch, plus fixed 2-D sin-cos position embedding;
* conditioning ``c = t_embed(t) + y_embed(y)``: a sinusoidal timestep embedding through a
  two-layer SiLU MLP, and a class embedding table with an extra *null* class (labels are
  dropped to it with probability 0.1 in training, so classifier-free guidance is available);
* ``depth`` adaLN-zero blocks: ``x += g1 * Attn(LN(x) * (1 + s1) + b1)`` and
  ``x += g2 * FFN(LN(x) * (1 + s2) + b2)`` where ``(b1, s1, g1, b2, s2, g2)`` come from a
  zero-initialised ``Linear(SiLU(c))``. The attention's Q / K / V projections have no bias (so
  the eager predictor, which sees only ``x``, ``Wq`` and ``Wk``, predicts exactly the logits the
  model computes up to its approximation); the FFN is ``Linear -> torch.nn.GELU() (erf) -> Linear``;
* a final adaLN layer norm and a zero-initialised linear map back to patches (predicted noise).

The forward pass takes an optional ``ops`` object; a block calls ``ops.attention(i, block, h)``
and ``ops.ffn(i, block, h)`` with the modulated input ``h`` (batch, tokens, hidden) of block
``i`` instead of its own modules when ``ops`` is given. ``workload/diffusion.py`` uses this to run
FFN-Reuse and eager prediction from ``golden/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .schedule import DiTConfig, sincos_pos_embed

__all__ = ["DiTConfig", "DiT", "save_weights", "load_weights"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x, shift, scale):
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.q = nn.Linear(hidden, hidden, bias=False)
        self.k = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, hidden, bias=False)
        self.proj = nn.Linear(hidden, hidden)

    def split(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (b, heads, n, hd)

    def core(self, q, k, v, keep=None):
        """Softmax attention of split heads; ``keep`` (b, heads, n, n) bool = masked softmax over
        the kept keys only (a query row with no kept key outputs zero)."""
        s = (q @ k.transpose(-1, -2)) * (self.head_dim ** -0.5)
        if keep is not None:
            s = s.masked_fill(~keep, float("-inf"))
            p = torch.softmax(s, dim=-1)
            p = torch.nan_to_num(p, nan=0.0)
        else:
            p = torch.softmax(s, dim=-1)
        o = p @ v
        b, h, n, d = o.shape
        return o.transpose(1, 2).reshape(b, n, h * d)

    def forward(self, x):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        return self.proj(self.core(q, k, v))


class FFN(nn.Module):
    def __init__(self, hidden: int, ffn_hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, ffn_hidden)
        self.act = nn.GELU()  # exact (erf) GELU, as golden/ffn_reuse.gelu
        self.fc2 = nn.Linear(ffn_hidden, hidden)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.hidden
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ffn = FFN(d, cfg.ffn_hidden)
        self.ada = nn.Linear(d, 6 * d)

    def forward(self, x, c, index=0, ops=None):
        b1, s1, g1, b2, s2, g2 = self.ada(F.silu(c)).chunk(6, dim=-1)
        h = modulate(self.norm1(x), b1, s1)
        a = self.attn(h) if ops is None else ops.attention(index, self, h)
        x = x + g1[:, None, :] * a
        h = modulate(self.norm2(x), b2, s2)
        f = self.ffn(h) if ops is None else ops.ffn(index, self, h)
        return x + g2[:, None, :] * f


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig = DiTConfig()):
        super().__init__()
        self.cfg = cfg
        d, p = cfg.hidden, cfg.patch
        self.patch_embed = nn.Linear(p * p * cfg.channels, d)
        self.register_buffer(
            "pos", torch.from_numpy(sincos_pos_embed(d, cfg.image_size // p)).float()[None],
            persistent=False)
        self.t_mlp = nn.Sequential(nn.Linear(cfg.freq_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.y_embed = nn.Embedding(cfg.num_classes + 1, d)  # + the null class
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm_f = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_f = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, p * p * cfg.channels)
        self._init()

    def _init(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.y_embed.weight, std=0.02)
        nn.init.normal_(self.t_mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_mlp[2].weight, std=0.02)
        for blk in self.blocks:  # adaLN-zero: every block starts as the identity
            nn.init.zeros_(blk.ada.weight)
            nn.init.zeros_(blk.ada.bias)
        for m in (self.ada_f, self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def patchify(self, x):
        b, c, hgt, wid = x.shape
        p = self.cfg.patch
        x = x.reshape(b, c, hgt // p, p, wid // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (hgt // p) * (wid // p), p * p * c)

    def unpatchify(self, x):
        b, n, _ = x.shape
        p, c = self.cfg.patch, self.cfg.channels
        g = int(round(math.sqrt(n)))
        x = x.reshape(b, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, g * p, g * p)

    def condition(self, t, y):
        return self.t_mlp(timestep_embedding(t, self.cfg.freq_dim)) + self.y_embed(y)

    def forward(self, x, t, y, ops=None):
        """Predicted noise for images ``x`` (b, 1, 16, 16) at timesteps ``t`` with labels ``y``."""
        c = self.condition(t, y)
        h = self.patch_embed(self.patchify(x)) + self.pos
        for i, blk in enumerate(self.blocks):
            h = blk(h, c, i, ops)
        shift, scale = self.ada_f(F.silu(c)).chunk(2, dim=-1)
        h = self.out(modulate(self.norm_f(h), shift, scale))
        return self.unpatchify(h)


def save_weights(model: DiT, path, meta: dict | None = None, dtype=np.float16) -> None:
    """Weights as an ``.npz`` of ``dtype`` arrays (float16 by default: half the size; the model
    used everywhere is the one *loaded* from this file) plus the JSON config and ``meta``."""
    arrays = {k: v.detach().cpu().numpy().astype(dtype) for k, v in model.state_dict().items()}
    info = {"config": asdict(model.cfg), "meta": meta or {}}
    arrays["__info__"] = np.frombuffer(json.dumps(info, sort_keys=True).encode(), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_weights(path) -> tuple[DiT, dict]:
    """The DiT stored at ``path`` (float32, eval mode) and its ``meta`` dict."""
    with np.load(path) as z:
        info = json.loads(bytes(z["__info__"]).decode())
        state = {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files if k != "__info__"}
    model = DiT(DiTConfig(**info["config"]))
    model.load_state_dict(state)
    model.eval()
    return model, info.get("meta", {})
