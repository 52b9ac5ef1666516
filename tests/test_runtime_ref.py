"""The host runtime against the workload's all-integer run (docs/runtime.md, "The workload's
reference"): reference tensors recorded once from the workload (``python -m workload
runtime-ref``: one dit64 image, two DDIM iterations, modes base and all, the ``exion`` preset)
replayed on the runtime's model backend, numpy only (no torch).

* every recorded core operation of the recorded block (GEMM, sparse GEMM, ``PREDICT``, GELU,
  softmax, LayerNorm + adaLN, residual), fed the recorded inputs, gives the recorded outputs
  bit for bit;
* the whole run from the recorded noise gives the recorded images (PSNR >= 60 dB; they are
  equal) and makes the same operations with the same operands in the recorded block.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exion.config import ExionConfig
from exion_tools.runtime import dit as D
from exion_tools.runtime.backend import make_backend
from exion_tools.runtime.counts import Stats
from exion_tools.runtime.golden_host import Recorder, digest, log_from_arrays
from exion_tools.runtime.lower import Host
from exion_tools.runtime.model import DiTRuntime

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "data" / "runtime_ref" / "dit64_int.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(REF) as z:
        meta = json.loads(bytes(z["__meta__"]).decode())
        logs = {m: log_from_arrays(z, f"{m}/op", e["ops"]) for m, e in meta["modes"].items()}
        arrays = {k: z[k] for k in ("noise", "labels")}
        images = {m: z[f"{m}/images"] for m in meta["modes"]}
    return meta, logs, arrays, images


@pytest.fixture(scope="module")
def runs(ref):
    """The runtime on the model backend from the recorded noise, with the recorded block's
    operations logged: ``{mode: (images, log)}``."""
    meta, logs, arrays, _ = ref
    w = D.load_npz(ROOT / meta["weights"])
    out = {}
    for mode, e in meta["modes"].items():
        cfg = ExionConfig.from_dict(e["config"])
        places = {tuple(x[0]) for x in logs[mode]}
        host = Recorder(Host(cfg, make_backend("model", cfg), Stats(cfg)), places)
        rt = DiTRuntime(w, cfg, mode, host, cfse="chip")
        imgs = rt.sample([int(v) for v in arrays["labels"]], 0, noise=arrays["noise"])
        out[mode] = (imgs, host.log)
    return out


def _psnr(a, b):
    mse = np.mean(((a + 1) / 2 - (b + 1) / 2) ** 2)
    return 100.0 if mse == 0 else 10 * np.log10(1 / mse)


def _results(r):
    return r if isinstance(r, tuple) else (r,)


def test_reference_is_small_and_complete(ref):
    meta, logs, _, _ = ref
    assert REF.stat().st_size < 1_000_000
    assert set(meta["modes"]) == {"base", "all"}
    ops = {e[2] for m in logs for e in logs[m]}
    assert ops == {"gemm", "sparse_gemm", "predict", "gelu", "softmax", "layernorm",
                   "residual"}


@pytest.mark.parametrize("mode", ["base", "all"])
def test_operations_bit_exact_on_model_backend(ref, runs, mode):
    """Each recorded operation, fed the recorded inputs (a weight operand: the runtime's own,
    checked against the recorded digest), on a fresh model-backend core."""
    meta, logs, _, _ = ref
    cfg = ExionConfig.from_dict(meta["modes"][mode]["config"])
    host = Host(cfg, make_backend("model", cfg), Stats(cfg))
    mine = runs[mode][1]
    assert len(mine) == len(logs[mode])
    for i, ((where, layer, op, args, kw, want), got_entry) in enumerate(zip(logs[mode], mine)):
        assert got_entry[:3] == (where, layer, op), i
        args = list(args)
        for j, a in enumerate(args):
            if isinstance(a, str):                     # a weight operand's digest
                assert digest(got_entry[3][j]) == a, (i, layer, op)
                args[j] = got_entry[3][j]
        host.stats.where, host.stats.layer = where, layer
        got = getattr(host, op)(*args, **kw)
        for g, w_ in zip(_results(got), _results(want)):
            assert np.array_equal(np.asarray(g), w_), (i, layer, op)


@pytest.mark.parametrize("mode", ["base", "all"])
def test_run_matches_workload(ref, runs, mode):
    """The whole run: the recorded images (PSNR >= 60 dB), the recorded block's operands and
    results identical."""
    _, logs, _, images = ref
    imgs, mine = runs[mode]
    assert _psnr(imgs, images[mode]) >= 60
    for (w1, l1, o1, a1, k1, r1), (w2, l2, o2, a2, k2, r2) in zip(logs[mode], mine):
        assert (w1, l1, o1) == (w2, l2, o2)
        for x, y in zip(a1, a2):
            if isinstance(x, str):
                assert x == digest(y)
            elif x is not None:
                assert np.array_equal(x, np.asarray(y)), (l1, o1)
        for x, y in zip(_results(r1), _results(r2)):
            assert np.array_equal(x, np.asarray(y)), (l1, o1)
