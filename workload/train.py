"""Deterministic training of the DiT and of the scoring classifier (one CPU thread).

DiT: all 1,797 digits, AdamW (lr 1e-3, 100 warm-up steps, cosine decay to 1e-4), gradient
clipping at 1.0, EMA of the weights (decay ``min(ema, (1 + s) / (10 + s))``); the EMA weights are
saved (float16). The two models' settings are :data:`TRAIN_SETTINGS` (``dit64``: batch 64,
1,500 steps, one thread, ``data/dit_digits.npz``; ``dit256``: patch 1, hidden 144, two heads
of 72, batch 32, 1,200 steps, EMA 0.995, two threads, ``data/dit256_digits.npz``).
Classifier: fixed 80 / 20 split, random +-1 pixel shifts, 40 epochs of Adam.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from . import diffusion, paths
from .classifier import DigitClassifier, save_classifier
from .data import load_digits_16, split
from .model import DiT, DiTConfig, save_weights

__all__ = ["setup_determinism", "train_dit", "train_classifier"]

DEFAULT_STEPS = 1500

#: Training settings per model (``workload.paths.MODELS``). ``dit256`` keeps DiT-XL/2's head
#: dimension (72) and FFN ratio (4) at a width (144, two heads) and depth (4) that trains
#: in well under an hour on two CPU cores shared with other jobs: 0.7 s per step at batch 32
#: with a load average of 6, 1.7 s with 11 (``OMP_WAIT_POLICY=PASSIVE``, see
#: ``workload/__init__.py``); a 3,000-step run was stopped at step 800 when the load rose,
#: and 1,200 steps (21 epochs) were what the time left allowed.
TRAIN_SETTINGS = {
    "dit64": {"cfg": DiTConfig(depth=4), "steps": DEFAULT_STEPS, "batch": 64, "lr": 1e-3,
              "ema": 0.995, "threads": 1},
    "dit256": {"cfg": DiTConfig(patch=1, hidden=144, heads=2, depth=4), "steps": 1200,
               "batch": 32, "lr": 1e-3, "ema": 0.995, "threads": 2},
}


def setup_determinism(seed: int, threads: int = 1) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def train_dit(steps: int = DEFAULT_STEPS, batch: int = 64, seed: int = 0, lr: float = 1e-3,
              cfg: DiTConfig = DiTConfig(depth=4), out=paths.WEIGHTS, log=print,
              ema_decay: float = 0.995, threads: int = 1):
    setup_determinism(seed, threads)
    x, y = load_digits_16()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = DiT(cfg)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    order, pos = rng.permutation(len(x)), 0
    warm, lr_min = 100, lr / 10
    t0, losses = time.time(), []
    for s in range(steps):
        if pos + batch > len(order):
            order, pos = rng.permutation(len(x)), 0
        idx = torch.from_numpy(order[pos:pos + batch])
        pos += batch
        cur = lr * (s + 1) / warm if s < warm else \
            lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))
        for gparam in opt.param_groups:
            gparam["lr"] = cur
        loss = diffusion.loss(model, x[idx], y[idx], gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(ema_decay, (1 + s) / (10 + s))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm, alpha=1 - decay)
        losses.append(float(loss.detach()))
        if (s + 1) % 50 == 0 or s + 1 == steps:
            el = time.time() - t0
            log(f"  dit step {s + 1:5d}/{steps}  loss {np.mean(losses[-50:]):.4f}  "
                f"lr {cur:.2e}  {el:6.1f} s  (eta {el / (s + 1) * (steps - s - 1):5.0f} s)")
    seconds = time.time() - t0
    meta = {"steps": steps, "batch": batch, "seed": seed, "lr": lr, "train_seconds": round(seconds, 1),
            "final_loss_avg50": round(float(np.mean(losses[-50:])), 5),
            "torch": torch.__version__, "threads": threads, "ema": ema_decay, "schedule": "cosine",
            "loss": "eps MSE, min-SNR-5", "class_dropout": cfg.class_dropout,
            "weights_dtype": "float16", "params": sum(p.numel() for p in model.parameters())}
    if out is not None:
        save_weights(ema, out, meta)
        log(f"  saved {out} ({out.stat().st_size / 1e6:.2f} MB) after {seconds:.0f} s")
    return ema, meta


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random shifts by -1, 0 or +1 pixel in each direction (zero = background -1 padding)."""
    b = x.shape[0]
    d = torch.randint(-1, 2, (b, 2), generator=gen)
    pad = torch.nn.functional.pad(x, (1, 1, 1, 1), value=-1.0)
    out = torch.empty_like(x)
    for i in range(b):
        dy, dx = int(d[i, 0]) + 1, int(d[i, 1]) + 1
        out[i] = pad[i, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return out


def train_classifier(epochs: int = 40, batch: int = 64, seed: int = 1, out=paths.CLASSIFIER,
                     log=print):
    setup_determinism(seed)
    x, y = load_digits_16()
    tr, te = split(len(x))
    xtr, ytr = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])
    xte, yte = torch.from_numpy(x[te]), torch.from_numpy(y[te])
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.cross_entropy(model(_shift(xtr[idx], gen)), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(xte).argmax(1) == yte).float().mean())
    meta = {"epochs": epochs, "seed": seed, "test_accuracy": round(acc, 4),
            "train_seconds": round(time.time() - t0, 1), "train_images": len(tr),
            "test_images": len(te)}
    log(f"  classifier: held-out accuracy {acc:.4f} ({len(te)} images), "
        f"{time.time() - t0:.0f} s")
    if out is not None:
        save_classifier(model, out, meta)
    return model, meta
