"""Reference tensors for the host runtime, recorded once from the workload's all-integer path
(``python -m workload runtime-ref``, ``make workload-runtime-ref``).

A short run of the golden backend of ``RunSpec(int_cfse=True)`` (workload/int_ops.py): one
image (:data:`LABELS`) from the table's starting noise (seed ``sample.SEED``), :data:`ITERATIONS`
DDIM iterations, in the runtime's modes ``base`` and ``all`` (FFN-Reuse N = 2 at 80 %, eager
prediction q_th = 0.15, k = 0.05, INT12: the ``exion`` preset's settings). Stored in
:data:`REF` (``numpy.savez_compressed``): the starting noise, the labels, the final images, and
every core operation (GEMM, sparse GEMM, ``PREDICT``, GELU, softmax, LayerNorm + adaLN,
residual) of block :data:`BLOCK` in iteration :data:`RECORDED` with its arguments and results
(``exion_tools.runtime.golden_host.log_to_arrays``), plus a JSON header (``__meta__``) with
the configuration. tests/test_runtime_ref.py (numpy only, part of ``make test``) replays them
on the runtime's model backend.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from exion_tools.runtime.golden_host import log_to_arrays

from . import paths
from .diffusion import initial_noise
from .golden_ops import RunSpec
from .int_ops import IntOps, weights_of

__all__ = ["REF", "LABELS", "ITERATIONS", "BLOCK", "MODES", "RECORDED", "spec_for", "record"]

#: The committed reference file.
REF = paths.ROOT / "data" / "runtime_ref" / "dit64_int.npz"
LABELS = (3,)
ITERATIONS = 2          # a dense and a sparse FFN-Reuse iteration (N = 2)
BLOCK = 0
MODES = ("base", "all")
#: The iteration whose block :data:`BLOCK` is recorded, per mode: ``all``'s second one has the
#: sparse FFN-Reuse GEMM and eager prediction (its first has the dense ``FFN_MASK`` GEMM).
RECORDED = {"base": 0, "all": 1}


def spec_for(mode: str, iterations: int = ITERATIONS) -> RunSpec:
    """The all-integer configuration of runtime mode ``mode`` (base or all)."""
    both = mode == "all"
    return RunSpec(f"ref-{mode}", iterations, ffn_n=2 if both else None,
                   target_sparsity=0.8 if both else None, ep=both, q_th=0.15, k=0.05,
                   quant=True, int_cfse=True)


def record(model, out=REF, seed: int | None = None) -> dict:
    """Run the modes and write :data:`REF`; returns the sizes (bytes, operations per mode)."""
    from .sample import SEED

    seed = SEED if seed is None else seed
    y = torch.tensor(LABELS)
    noise = initial_noise(len(LABELS), seed)
    arrays = {"noise": noise.double().numpy(), "labels": np.array(LABELS)}
    meta = {"labels": list(LABELS), "iterations": ITERATIONS, "block": BLOCK, "seed": seed,
            "modes": {}, "weights": "data/dit_digits.npz",
            "command": "python -m workload runtime-ref"}
    for mode in MODES:
        where = {(s, RECORDED[mode], BLOCK) for s in range(len(LABELS))}
        ops = IntOps(spec_for(mode), "golden", record=where)
        ops.sample(model, y, noise)
        a, index = log_to_arrays(ops.recorder.log, f"{mode}/op")
        arrays.update(a)
        arrays[f"{mode}/images"] = ops.images
        meta["modes"][mode] = {"config": ops.cfg.to_dict(), "ops": index}
    assert weights_of(model).spec.tokens == 64, "the reference is of the 64-token dit64"
    arrays["__meta__"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return {"bytes": out.stat().st_size,
            **{m: len(meta["modes"][m]["ops"]) for m in MODES}}
