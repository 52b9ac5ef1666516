"""Sample quality of a model with and without classifier-free guidance.

``python -m workload quality [--model NAME] [--n 100] [--scales 1,2,3] [--iterations 100]``
samples the vanilla DDIM run of the selected model and, for comparison, of the other model(s)
on the same starting noise and labels (ten per class) at each guidance scale, and prints the
class accuracy and the Frechet classifier distance (``workload/classifier.py``) of each, plus
the same scores of 100 real digits. Results also go to ``quality.json`` in the build folder.
"""

from __future__ import annotations

import json
import time

from . import paths

__all__ = ["guidance_sweep"]


def guidance_sweep(models, scales, n: int = 100, iterations: int = 100, log=print) -> dict:
    """Scores of ``n`` vanilla samples per (model, guidance scale)."""
    import torch

    from .golden_ops import RunSpec
    from .model import load_weights
    from .sample import SEED, Scorer, labels_for, run

    torch.set_num_threads(2)
    scorer = Scorer()
    labels = labels_for(n).numpy()
    spec = RunSpec(f"vanilla-{iterations}", iterations)
    out = {"samples": n, "iterations": iterations, "seed": SEED, "rows": [],
           "reference": scorer.reference()}
    for name in models:
        model, meta = load_weights(paths.weights_for(name))
        for g in scales:
            imgs, _, secs = run(model, spec, n, guidance=g, threads=2)
            sc = scorer.score(imgs.numpy(), labels)
            row = {"model": name, "tokens": model.cfg.tokens, "guidance": g, **sc,
                   "seconds": round(secs, 1)}
            out["rows"].append(row)
            log(f"  {name} ({model.cfg.tokens} tokens)  guidance {g:g}:  class acc "
                f"{sc['class_acc']:.3f}  FCD {sc['fcd']:.2f}  ({secs:.0f} s)")
    return out


def main_quality(args) -> None:
    t0 = time.time()
    scales = [float(s) for s in args.scales.split(",")]
    models = [paths.MODEL] + [m for m in paths.MODELS if m != paths.MODEL]
    print(f"quality: {', '.join(models)}; guidance {scales}; {args.n} samples, "
          f"{args.iterations} DDIM iterations")
    res = guidance_sweep(models, scales, n=args.n, iterations=args.iterations)
    ref = res["reference"]
    print(f"  real digits: classifier held-out accuracy {ref['test_accuracy']}, 100 real "
          f"digits: class acc {ref['acc_real100']:.3f}, FCD {ref['fcd_real100']:.2f}")
    out = paths.build_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"  -> {out / 'quality.json'} ({time.time() - t0:.0f} s)")
