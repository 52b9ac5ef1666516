"""Export the real keep-masks of the trained DiT to ``data/traces`` (format: ``traces.py``).

The masks come from the golden model itself (:class:`workload.golden_ops.GoldenOps`) running
the paper's DiT operating point: FFN-Reuse N = 2, target sparsity 0.8, eager prediction
q_th = 0.15, k = 0.05 (two-step LOD, INT12 predictor), DDIM 100 iterations, float FFN.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict

import numpy as np

from . import paths, traces
from .golden_ops import RunSpec

__all__ = ["TRACE_SPEC", "TRACE_SETTINGS", "export_traces"]

TRACE_SPEC = RunSpec("trace-dit-row", 100, ffn_n=2, target_sparsity=0.8, ep=True,
                     q_th=0.15, k=0.05)

#: Per model: samples, backend and subsampling of the exported traces. The 256-token model's
#: masks are 16 times larger (256 x 576 FFN, 256 x 256 per head), so its traces keep one
#: sample, every second dense iteration's FFN masks and every fifth iteration's eager masks
#: (about 1 MB); its run uses the torch backend, bit-identical to the golden model (``python
#: -m workload check --model dit256``) and fast enough at 256 tokens.
TRACE_SETTINGS = {
    "dit64": {"n": 2, "backend": "golden", "ffn_every": 1, "eager_every": 1},
    "dit256": {"n": 1, "backend": "fast", "ffn_every": 2, "eager_every": 5},
}


def export_traces(model, n: int = 2, spec: RunSpec = TRACE_SPEC, out=None,
                  backend: str = "golden", log=print, ffn_every: int = 1, eager_every: int = 1):
    """Run ``spec`` on ``n`` samples and save its masks to ``out`` (default: the selected
    model's trace folder). ``ffn_every`` / ``eager_every`` > 1 keep only the masks of every
    such dense iteration (FFN: the ``j``-th dense iteration is kept iff ``j % ffn_every == 0``)
    / iteration (eager: iff ``iteration % eager_every == 0``), to keep the committed traces of
    a large model small; ``info["subsampling"]`` records it."""
    from .sample import SEED, labels_for, run

    out = paths.TRACES if out is None else out

    t0 = time.time()
    imgs, ops, secs = run(model, spec, n, backend=backend, progress=True, record_masks=True)
    cfg = model.cfg
    ffn_m, ffn_meta = [], []
    dense_seen: dict[int, int] = {}
    for meta, m in ops.ffn_masks:             # m: (samples, tokens, d_ff)
        j = dense_seen.get(meta["block"], 0)
        dense_seen[meta["block"]] = j + 1
        if j % ffn_every:
            continue
        for s in range(m.shape[0]):
            ffn_m.append(m[s])
            ffn_meta.append([s, meta["iteration"], meta["timestep"], meta["block"]])
    ep_m, ep_meta = [], []
    for meta, m in ops.eager_masks:           # m: (samples, heads, queries, keys)
        if meta["iteration"] % eager_every:
            continue
        for s in range(m.shape[0]):
            for h in range(m.shape[1]):
                ep_m.append(m[s, h])
                ep_meta.append([s, meta["iteration"], meta["timestep"], meta["block"], h])
    weights_sha = hashlib.sha256(paths.WEIGHTS.read_bytes()).hexdigest() \
        if paths.WEIGHTS.exists() else None
    info = {
        "model": {"name": "DiT on sklearn digits", **asdict(cfg), "tokens": cfg.tokens,
                  "weights": paths.WEIGHTS.relative_to(paths.ROOT).as_posix(),
                  "weights_sha256": weights_sha},
        "run": {**asdict(spec), "sampler": "DDIM eta=0, trailing spacing, x0 clipped",
                "backend": backend, "seed": SEED},
        "samples": [{"sample": i, "label": int(l)} for i, l in enumerate(labels_for(n))],
        "stats": ops.stats.as_dict(),
        **({"subsampling": {"ffn_every_dense_iteration": ffn_every,
                            "eager_every_iteration": eager_every}}
           if ffn_every > 1 or eager_every > 1 else {}),
        "notes": ("ffn: one mask per (sample, block, dense iteration); it is the FC1 output "
                  "keep-mask of the N sparse iterations that follow. eager: one mask per "
                  "(sample, iteration, block, head), Q K^T keep-mask, queries x keys."),
    }
    kinds = {
        "ffn": {"masks": np.stack(ffn_m), "meta": np.array(ffn_meta),
                "meta_columns": ["sample", "iteration", "timestep", "block"],
                "gemm": {"M": cfg.tokens, "K": cfg.hidden, "N": cfg.ffn_hidden,
                         "what": "FFN FC1 (tokens x d_model) @ (d_model x d_ff)"}},
        "eager": {"masks": np.stack(ep_m), "meta": np.array(ep_meta),
                  "meta_columns": ["sample", "iteration", "timestep", "block", "head"],
                  "gemm": {"M": cfg.tokens, "K": cfg.head_dim, "N": cfg.tokens,
                           "what": "attention scores Q K^T of one head (queries x keys)"}},
    }
    path = traces.save_traces(out, kinds, info)
    size = sum(f.stat().st_size for f in path.parent.iterdir())
    log(f"  traces: {len(ffn_m)} ffn masks {ffn_m[0].shape}, {len(ep_m)} eager masks "
        f"{ep_m[0].shape}, {size / 1e6:.2f} MB in {path.parent} ({time.time() - t0:.0f} s)")
    return path
