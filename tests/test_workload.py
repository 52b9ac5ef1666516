"""The trained-DiT workload (workload/): needs torch, so it runs only in the workload venv.

The trace-format round trip, which needs numpy only, is in tests/test_workload_traces.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the workload tests need torch: run them in the workload venv "
                    "(.venv-workload, see docs/workload.md)")

try:
    import workload  # noqa: F401
except ImportError:  # pytest run without the repository root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exion.config import ExionConfig  # noqa: E402
from golden import eager as g_eager  # noqa: E402
from workload import diffusion, paths  # noqa: E402
from workload.classifier import frechet_distance  # noqa: E402
from workload.data import load_digits_16, upscale  # noqa: E402
from workload.golden_ops import FastOps, RunSpec, lod_approx_t, quantize_t  # noqa: E402
from workload.sample import compare_backends, load_model, psnr, run  # noqa: E402

WEIGHTS64 = paths.weights_for("dit64")
needs_weights = pytest.mark.skipif(not WEIGHTS64.exists(),
                                   reason="data/dit_digits.npz missing: python -m workload train")


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    m, _ = load_model(WEIGHTS64)
    return m


def test_data():
    x, y = load_digits_16()
    assert x.shape == (1797, 1, 16, 16) and y.shape == (1797,)
    assert x.min() >= -1 and x.max() <= 1
    assert np.allclose(upscale(np.full((8, 8), 0.25)), 0.25)


def test_timesteps_and_schedule():
    ts = diffusion.timesteps(50)
    assert len(ts) == 50 and ts[0] == 999 and ts[-1] == 19 and ts == sorted(ts, reverse=True)
    a = diffusion.alphas_cumprod()
    assert np.all(np.diff(a) < 0) and 0 < a[-1] < 1e-3 < a[0] < 1


def test_lod_and_quantize_match_golden():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(-2047, 2048, size=(200,)), [0, 1, -1, 2047, -2048],
                        rng.integers(-(1 << 31), 1 << 31, size=(200,)),
                        [(1 << 31) - 1, -(1 << 31), (1 << 30), (1 << 30) - 1]])
    for steps in (1, 2):
        assert np.array_equal(lod_approx_t(torch.from_numpy(x), steps).numpy(),
                              g_eager.lod_approx(x, steps))
    from golden import intsem
    f = rng.standard_normal((5, 7))
    q, s = quantize_t(torch.from_numpy(f), 12, dims=(0, 1))
    q2, s2 = intsem.quantize(f, 12)
    assert np.array_equal(q.numpy().astype(np.int64), q2) and float(s) == s2


def test_keep_mask_matches_golden_with_ties():
    from golden.ffn_reuse import build_keep_mask
    from workload.golden_ops import keep_mask_t
    rng = np.random.default_rng(1)
    h = np.round(rng.standard_normal((3, 300)), 1)  # many exact ties
    for s in (0.0, 0.5, 0.8, 0.9, 1.0):
        want = np.stack([build_keep_mask(r, target_sparsity=s) for r in h])
        assert np.array_equal(keep_mask_t(torch.from_numpy(h), s).numpy(), want)


def test_metrics():
    a = np.random.default_rng(0).standard_normal((50, 8))
    assert abs(frechet_distance(a, a)) < 1e-6
    img = np.zeros((2, 1, 4, 4))
    assert np.all(psnr(img, img) == 100.0)
    assert np.allclose(psnr(img, img + 0.2), 20.0)  # 0.1 on the [0, 1] scale


@needs_weights
def test_committed_weights(model):
    cfg = model.cfg
    assert (cfg.depth, cfg.hidden, cfg.heads, cfg.tokens) == (4, 128, 4, 64)
    assert WEIGHTS64.stat().st_size < 8e6
    out = model(torch.zeros(2, 1, 16, 16), torch.tensor([10, 900]), torch.tensor([3, 7]))
    assert out.shape == (2, 1, 16, 16) and torch.isfinite(out).all()


@needs_weights
def test_short_sampling_with_and_without_ffn_reuse(model):
    y = torch.tensor([3, 8])
    noise = diffusion.initial_noise(2, 0)
    ref = diffusion.ddim_sample(model, y, noise, 4)
    van, ops, _ = run(model, RunSpec("v", 4), n=2, seed=0)
    assert van.shape == (2, 1, 16, 16)
    # the ops path (float64 FFN) reproduces the plain forward pass
    v2 = diffusion.ddim_sample(model, torch.arange(2) % 10, noise, 4, ops=FastOps(RunSpec("v", 4)))
    ref2 = diffusion.ddim_sample(model, torch.arange(2) % 10, noise, 4)
    assert float((v2 - ref2).abs().max()) < 1e-3
    assert torch.isfinite(ref).all()
    reuse, ops, _ = run(model, RunSpec("r", 4, ffn_n=1, target_sparsity=0.8), n=2, seed=0)
    st = ops.stats
    assert st.ffn_dense_calls == 2 * 2 * model.cfg.depth      # iterations 0, 2; two samples
    assert st.ffn_sparse_calls == 2 * 2 * model.cfg.depth
    assert abs(st.inter_sparsity - 0.8) < 1e-3
    assert 0 < float((reuse - van).abs().max()) < 1.0


@needs_weights
def test_eager_prediction_sparsity(model):
    _, ops, _ = run(model, RunSpec("e", 2, ep=True, q_th=0.15, k=0.05), n=2, seed=0)
    # k = 0.05 of 64 keys keeps 4 keys (or 1 for a dominant query): sparsity in [93.75%, 98.4%]
    assert 0.9375 - 1e-9 <= ops.stats.intra_sparsity <= 1 - 1 / 64 + 1e-9


@needs_weights
def test_fast_backend_equals_golden_model(model):
    spec = RunSpec("all", 3, ffn_n=1, target_sparsity=0.8, ep=True, q_th=0.15, k=0.05,
                   quant=True)
    r = compare_backends(model, spec, n=2)
    assert r["ffn_mask_agreement"] == 1.0
    assert r["eager_mask_agreement"] == 1.0
    assert r["max_abs_image_diff"] < 1e-5
    assert ExionConfig(**{**spec.exion_config().to_dict()}).ep_k == 0.05


@needs_weights
def test_integer_path_fast_equals_golden(model):
    """The all-integer path (RunSpec int_cfse, workload/int_ops.py): the fast backend (LOD
    products as integer matmuls) gives the golden backend's images and core operations bit for
    bit; every non-linearity is a golden/cfse.py function (CFSE output codes); the images stay
    close to the float-non-linearity INT12 run."""
    spec = RunSpec("all-int", 3, ffn_n=1, target_sparsity=0.8, ep=True, q_th=0.15, k=0.05,
                   quant=True, int_cfse=True)
    where = {(0, 1, 0)}
    a, fa, _ = run(model, spec, n=2, seed=0, backend="fast", record=where)
    b, gb, _ = run(model, spec, n=2, seed=0, backend="golden", record=where)
    assert torch.equal(a, b)
    assert fa.stats.as_dict() == gb.stats.as_dict()
    assert fa.stats.ffn_sparse_calls == 2 * model.cfg.depth and fa.stats.intra_sparsity > 0.9
    la, lb = fa.recorder.log, gb.recorder.log
    assert len(la) == len(lb) > 0
    for (wa, _, opa, _, _, ra), (wb, _, opb, _, _, rb) in zip(la, lb):
        assert wa == wb == (0, 1, 0) and opa == opb
        for x, y in zip(ra if isinstance(ra, tuple) else (ra,), rb if isinstance(rb, tuple)
                        else (rb,)):
            assert np.array_equal(x, y)
    ops = {e[2] for e in la}
    assert {"gelu", "softmax", "layernorm", "residual", "predict", "sparse_gemm"} <= ops
    step = 1 << (16 - spec.data_width)          # CFSE results come back as data_width codes
    for _, _, op, _, _, r in la:
        if op in ("gelu", "softmax", "layernorm", "residual"):
            assert np.all(r % step == 0)
    base = RunSpec("int", 3, quant=True)
    f, _, _ = run(model, base, n=2, seed=0)
    i, _, _ = run(model, RunSpec("int", 3, quant=True, int_cfse=True), n=2, seed=0)
    assert np.mean(psnr(i.numpy(), f.numpy())) > 25      # measured 29.6 dB (3 iterations)
    with pytest.raises(ValueError, match="int_cfse"):
        RunSpec("bad", 3, int_cfse=True)
