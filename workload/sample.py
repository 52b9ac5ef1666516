"""Sampling runs and the scores that compare them.

A *sample set* is ``n`` samples with labels ``0, 1, ..., 9, 0, 1, ...`` (``n = 100``: ten per class),
started from :func:`workload.diffusion.initial_noise` with a fixed seed: every configuration of
the accuracy table denoises the very same noise with the very same labels, so PSNR against the
vanilla run measures only what the configuration changed.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from . import diffusion, paths
from .classifier import frechet_distance, load_classifier
from .data import load_digits_16
from .golden_ops import RunSpec, make_ops
from .model import load_weights

__all__ = ["load_model", "labels_for", "run", "psnr", "Scorer", "compare_backends"]

SEED = 1234
#: Classifier-free guidance scale of every run (1.0 = plain conditional sampling).
GUIDANCE = 1.0


def load_model(path=paths.WEIGHTS):
    model, meta = load_weights(path)
    return model, meta


def labels_for(n: int) -> torch.Tensor:
    return torch.arange(n) % 10


def run(model, spec: RunSpec, n: int = 100, seed: int = SEED, backend: str = "fast",
        progress: bool = False, guidance: float | None = None, threads: int | None = None,
        **ops_kw):
    """Denoise one sample set with ``spec``. Returns ``(images (n, 1, 16, 16) in [-1, 1], ops,
    seconds)``; ``ops.stats`` holds the sparsity statistics (see ``golden_ops.RunStats``)."""
    torch.set_num_threads(paths.MODELS[paths.MODEL]["threads"] if threads is None else threads)
    y = labels_for(n)
    noise = diffusion.initial_noise(len(y), seed)
    ops = make_ops(spec, backend, **ops_kw)
    t0 = time.time()

    def prog(i, n):
        if progress and (i % 10 == 0 or i == n):
            el = time.time() - t0
            print(f"\r    {spec.name}: iteration {i:3d}/{n}  {el:5.1f} s", end="", flush=True)

    g = GUIDANCE if guidance is None else guidance
    if spec.int_cfse:                 # the integer path runs its own (numpy) sampler
        if g != 1.0:
            raise ValueError(f"guidance = {g} is not supported by int_cfse runs (only 1.0)")
        imgs = ops.sample(model, y, noise, progress=prog)
    else:
        imgs = diffusion.ddim_sample(model, y, noise, spec.iterations, ops=ops, progress=prog,
                                     guidance=g)
    if progress:
        print()
    return imgs, ops, time.time() - t0


def psnr(a, b) -> np.ndarray:
    """Per-image PSNR in dB of images in [-1, 1], measured on the [0, 1] scale
    (``10 log10(1 / MSE)``); identical images are capped at 100 dB."""
    a = (np.asarray(a, np.float64) + 1) / 2
    b = (np.asarray(b, np.float64) + 1) / 2
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(1)
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-10))


class Scorer:
    """Classifier accuracy and Frechet classifier distance (see ``workload/classifier.py``)."""

    def __init__(self, path=paths.CLASSIFIER):
        self.model, self.meta = load_classifier(path)
        x, _ = load_digits_16()
        with torch.no_grad():
            self.real = self.model.features(torch.from_numpy(x)).numpy()

    @torch.no_grad()
    def score(self, images, labels) -> dict:
        x = torch.as_tensor(images, dtype=torch.float32)
        f = self.model.features(x)
        pred = self.model.head(f).argmax(1).numpy()
        return {"class_acc": float(np.mean(pred == np.asarray(labels))),
                "fcd": frechet_distance(f.numpy(), self.real)}

    def reference(self) -> dict:
        """Scores of real digits: held-out accuracy, and the FCD of 100 real digits
        (10 per class, the held-out ones first) against all of them (the noise floor of
        a 100-sample FCD)."""
        from .data import split

        x, y = load_digits_16()
        _, te = split(len(x))
        pick = []
        for c in range(10):
            pick += [i for i in te if y[i] == c][:10]
        s = self.score(x[pick], y[pick])
        return {"test_accuracy": self.meta.get("test_accuracy"), "fcd_real100": s["fcd"],
                "acc_real100": s["class_acc"]}


def compare_backends(model, spec: RunSpec, n: int = 2, seed: int = SEED,
                     iterations: int | None = None) -> dict:
    """Run ``spec`` with the torch backend and with the golden model itself on the same noise;
    report mask agreement and output difference."""
    if iterations is not None:
        spec = RunSpec(**{**spec.__dict__, "iterations": iterations})
    a, fa, _ = run(model, spec, n, seed, "fast", record_masks=True)
    b, gb, _ = run(model, spec, n, seed, "golden", record_masks=True)

    def agree(xs, ys):
        if not xs:
            return 1.0, 0
        tot = diff = 0
        for (ma, ka), (mb, kb) in zip(xs, ys):
            assert ma == mb
            tot += ka.size
            diff += int((ka != kb).sum())
        return 1 - diff / tot, diff

    ffn_agree, ffn_diff = agree(fa.ffn_masks, gb.ffn_masks)
    ep_agree, ep_diff = agree(fa.eager_masks, gb.eager_masks)
    return {
        "ffn_mask_agreement": ffn_agree, "ffn_mask_differences": ffn_diff,
        "eager_mask_agreement": ep_agree, "eager_mask_differences": ep_diff,
        "max_abs_image_diff": float((a - b).abs().max()),
        "psnr_fast_vs_golden": float(np.mean(psnr(a.numpy(), b.numpy()))),
        "stats_fast": fa.stats.as_dict(), "stats_golden": gb.stats.as_dict(),
    }
