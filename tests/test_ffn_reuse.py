"""Golden model of FFN-Reuse (golden/ffn_reuse.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exion.config import ExionConfig
from golden import intsem
from golden.ffn_reuse import (
    FFNReuseLayer, build_keep_mask, dense_macs, exact_ffn, gelu, is_dense_iteration,
    keep_count, run_ffn_reuse, sparse_macs,
)

D_MODEL, D_FF, D_OUT, TOKENS = 12, 40, 10, 7


def make_ffn(seed=0, d_model=D_MODEL, d_ff=D_FF, d_out=D_OUT):
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((d_model, d_ff)) / math.sqrt(d_model)
    b1 = 0.1 * rng.standard_normal(d_ff)
    w2 = rng.standard_normal((d_ff, d_out)) / math.sqrt(d_ff)
    b2 = 0.1 * rng.standard_normal(d_out)
    return w1, b1, w2, b2


def make_xs(t, seed=1, tokens=TOKENS, d_model=D_MODEL, drift=0.1):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((tokens, d_model))
    return np.stack([base + drift * rng.standard_normal((tokens, d_model)) for _ in range(t)])


# -- GELU ----------------------------------------------------------------------------------

def test_gelu_known_values():
    # 0.5 x (1 + erf(x / sqrt 2)) = x * Phi(x); Phi(1) = 0.8413447460685429
    got = gelu([0.0, 1.0, -1.0, 2.0, -30.0, 30.0])
    want = [0.0, 0.8413447460685429, -0.15865525393145707, 1.9544997361036416, 0.0, 30.0]
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-300)


def test_gelu_is_erf_not_tanh():
    # The tanh approximation differs from erf GELU by ~1e-4 around |x| ~ 2.
    x = np.linspace(-4, 4, 81)
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.array_equal(gelu(x), exact)
    assert np.max(np.abs(gelu(x) - tanh)) > 1e-5
    assert gelu(np.zeros((2, 3))).shape == (2, 3)


# -- keep-mask -----------------------------------------------------------------------------

def test_keep_mask_needs_exactly_one_rule():
    h = np.ones(4)
    with pytest.raises(ValueError, match="exactly one"):
        build_keep_mask(h)
    with pytest.raises(ValueError, match="exactly one"):
        build_keep_mask(h, threshold=0.1, target_sparsity=0.5)
    with pytest.raises(ValueError, match=r"target_sparsity = 1.5 is out of range \[0, 1\]"):
        build_keep_mask(h, target_sparsity=1.5)
    with pytest.raises(ValueError, match="threshold = nan"):
        build_keep_mask(h, threshold=float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        build_keep_mask([1.0, float("nan")], target_sparsity=0.5)


def test_keep_mask_threshold_is_strict_on_magnitude():
    h = np.array([[-0.5, 0.2, 0.3], [0.3, -0.31, 0.0]])
    assert build_keep_mask(h, threshold=0.3).tolist() == [[True, False, False],
                                                          [False, True, False]]
    assert build_keep_mask(h, threshold=-np.inf).all()
    assert not build_keep_mask(h, threshold=np.inf).any()
    assert build_keep_mask(h, threshold=-1.0).all()  # |h| >= 0 > -1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**32 - 1),
       st.floats(0.0, 1.0, allow_nan=False), st.booleans())
def test_keep_mask_quantile_count_and_order(size, seed, s, with_ties):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(size)
    if with_ties:
        h = np.round(h)  # many equal magnitudes (and +-x pairs)
    mask = build_keep_mask(h, target_sparsity=s)
    n_keep = math.floor((1 - s) * size + 0.5)
    assert mask.sum() == n_keep == keep_count(size, s)
    mag = np.abs(h)
    if 0 < n_keep < size:
        assert mag[mask].min() >= mag[~mask].max()
        # ties broken by lower flat index: among equal magnitudes at the boundary, the kept
        # ones come first
        edge = mag[mask].min()
        tied = np.flatnonzero(mag == edge)
        kept_tied = tied[mask[tied]]
        assert np.array_equal(kept_tied, tied[:kept_tied.size])


def test_keep_mask_quantile_ties_and_extremes():
    h = np.full((3, 4), 0.7)
    m = build_keep_mask(h, target_sparsity=0.5)
    assert m.ravel().tolist() == [True] * 6 + [False] * 6
    assert build_keep_mask(h, target_sparsity=0.0).all()
    assert not build_keep_mask(h, target_sparsity=1.0).any()
    # round half up: (1 - 0.5) * 5 = 2.5 -> 3
    assert build_keep_mask(np.arange(5.0), target_sparsity=0.5).tolist() == \
        [False, False, True, True, True]
    # the whole tensor is one population (not per row)
    h = np.array([[10.0, 9.0], [1.0, 2.0]])
    assert build_keep_mask(h, target_sparsity=0.5).tolist() == [[True, True], [False, False]]


# -- the layer -----------------------------------------------------------------------------

def test_keep_all_equals_exact():
    w = make_ffn()
    xs = make_xs(6)
    for mode in ("dense", "delta"):
        r = run_ffn_reuse(xs, *w, n=2, threshold=-np.inf, fc2_mode=mode)
        np.testing.assert_allclose(r.outputs, exact_ffn(xs, *w), rtol=1e-12, atol=1e-12)
        assert np.all(r.sparsity == 0.0)


def test_n0_all_dense_equals_exact():
    w = make_ffn()
    xs = make_xs(5)
    r = run_ffn_reuse(xs, *w, n=0, target_sparsity=0.9)
    assert r.dense.all()
    assert r.macs_saved == 0
    assert np.array_equal(r.outputs, exact_ffn(xs, *w))


def test_dense_schedule_and_reuse_is_visible():
    w = make_ffn()
    xs = make_xs(7, drift=0.5)
    r = run_ffn_reuse(xs, *w, n=2, target_sparsity=0.75)
    assert r.dense.tolist() == [True, False, False, True, False, False, True]
    assert [is_dense_iteration(t, 2) for t in range(7)] == r.dense.tolist()
    ex = exact_ffn(xs, *w)
    for t in (0, 3, 6):
        np.testing.assert_array_equal(r.outputs[t], ex[t])
    # sparse iterations reuse stale values: they differ from exact
    assert np.abs(r.outputs[1] - ex[1]).max() > 1e-6
    # masks: built at dense t, reused by the following sparse ones
    assert np.array_equal(r.masks[1], r.masks[0]) and np.array_equal(r.masks[2], r.masks[0])
    assert not np.array_equal(r.masks[3], r.masks[0])


def test_sparse_merges_recomputed_and_cached_h():
    w = make_ffn(3)
    xs = make_xs(2, seed=4, drift=0.5)
    layer = FFNReuseLayer(*w, target_sparsity=0.6)
    layer.forward(xs[0], dense=True)
    h0, mask = layer.h_cache.copy(), layer.mask.copy()
    y = layer.forward(xs[1], dense=False)
    fresh = gelu(xs[1] @ w[0] + w[1])
    want_h = np.where(mask, fresh, h0)
    np.testing.assert_allclose(layer.last_h, want_h, rtol=1e-13, atol=1e-14)
    assert np.array_equal(layer.last_h[~mask], h0[~mask])  # reused bit-for-bit
    np.testing.assert_allclose(y, want_h @ w[2] + w[3], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("s", [0.0, 0.3, 0.8, 0.97, 1.0])
def test_sparsity_matches_target_within_rounding(s):
    w = make_ffn()
    xs = make_xs(4)
    r = run_ffn_reuse(xs, *w, n=3, target_sparsity=s)
    size = TOKENS * D_FF
    want = 1 - math.floor((1 - s) * size + 0.5) / size
    assert abs(want - s) <= 0.5 / size + 1e-12
    assert r.sparsity.tolist() == [0.0, want, want, want]


def test_delta_equals_dense_in_float():
    w = make_ffn(5)
    xs = make_xs(9, seed=6, drift=0.3)
    a = run_ffn_reuse(xs, *w, n=3, target_sparsity=0.7, fc2_mode="dense")
    b = run_ffn_reuse(xs, *w, n=3, target_sparsity=0.7, fc2_mode="delta")
    assert np.array_equal(a.masks, b.masks)
    np.testing.assert_allclose(a.outputs, b.outputs, rtol=0, atol=1e-9)
    assert np.abs(a.outputs - exact_ffn(xs, *w)).max() > 1e-6  # reuse really happened


@pytest.mark.parametrize("mode", ["dense", "delta"])
def test_mac_counting_formula(mode):
    w = make_ffn()
    xs = make_xs(6)
    r = run_ffn_reuse(xs, *w, n=2, threshold=0.2, fc2_mode=mode)
    full = TOKENS * D_FF * (D_MODEL + D_OUT)
    assert dense_macs(TOKENS, D_MODEL, D_FF, D_OUT) == full
    total = 0
    for t, s in enumerate(r.stats):
        assert s.dense_macs == full
        kept = int(r.masks[t].sum())
        if s.dense:
            assert (s.macs_fc1, s.macs_fc2) == (TOKENS * D_MODEL * D_FF, TOKENS * D_FF * D_OUT)
        else:
            assert s.kept == kept
            fc2 = TOKENS * D_FF * D_OUT if mode == "dense" else kept * D_OUT
            assert (s.macs_fc1, s.macs_fc2) == (kept * D_MODEL, fc2)
            assert sparse_macs(kept, TOKENS, D_MODEL, D_FF, D_OUT, mode) == (kept * D_MODEL, fc2)
        total += s.macs
    assert r.total_macs == total
    assert r.total_dense_macs == 6 * full
    assert r.macs_saved == 6 * full - total > 0
    assert r.macs_saved_fraction == pytest.approx((6 * full - total) / (6 * full))
    rep = r.report()
    assert len(rep.splitlines()) == 1 + 6 + 1 and "sparse" in rep and f"{total:,}" in rep


def test_batch_axes_are_tokens():
    w = make_ffn()
    xs = make_xs(3, tokens=6)
    xb = xs.reshape(3, 2, 3, D_MODEL)
    a = run_ffn_reuse(xs, *w, n=2, target_sparsity=0.5)
    b = run_ffn_reuse(xb, *w, n=2, target_sparsity=0.5)
    assert b.outputs.shape == (3, 2, 3, D_OUT)
    assert np.array_equal(a.outputs.reshape(b.outputs.shape), b.outputs)
    assert np.array_equal(a.masks, b.masks)


def test_layer_errors():
    w1, b1, w2, b2 = make_ffn()
    with pytest.raises(ValueError, match="fc2_mode = 'sparse' is not one of dense, delta"):
        FFNReuseLayer(w1, b1, w2, b2, threshold=0.1, fc2_mode="sparse")
    with pytest.raises(ValueError, match="exactly one"):
        FFNReuseLayer(w1, b1, w2, b2)
    with pytest.raises(ValueError, match="w2 has 39 rows"):
        FFNReuseLayer(w1, b1, w2[:-1], b2, threshold=0.1)
    with pytest.raises(ValueError, match=r"b1 has shape \(3,\)"):
        FFNReuseLayer(w1, b1[:3], w2, b2, threshold=0.1)
    layer = FFNReuseLayer(w1, b1, w2, b2, threshold=0.1)
    with pytest.raises(ValueError, match="before any dense call"):
        layer.forward(np.zeros((2, D_MODEL)), dense=False)
    with pytest.raises(ValueError, match="last axis must be d_model = 12"):
        layer.forward(np.zeros((2, 5)), dense=True)
    layer.forward(np.zeros((2, D_MODEL)), dense=True)
    with pytest.raises(ValueError, match="x has 3 tokens; a sparse call needs the 2"):
        layer.forward(np.zeros((3, D_MODEL)), dense=False)
    with pytest.raises(ValueError, match=r"n = -1 is out of range \[0, inf\)"):
        run_ffn_reuse(np.zeros((2, 2, D_MODEL)), w1, b1, w2, b2, n=-1, threshold=0.0)
    with pytest.raises(ValueError, match="n is required"):
        run_ffn_reuse(np.zeros((2, 2, D_MODEL)), w1, b1, w2, b2, threshold=0.0)


def test_cfg_defaults():
    cfg = ExionConfig(ffn_reuse_n=3, ffn_target_sparsity=0.5)
    w = make_ffn()
    r = run_ffn_reuse(make_xs(5), *w, cfg=cfg)
    assert r.n == 3 and r.dense.tolist() == [True, False, False, False, True]
    assert r.sparsity[1] == 0.5


# -- quantized path ------------------------------------------------------------------------

def _explicit_quantized_run(xs, w1, b1, w2, b2, n, s, mode, cfg):
    """The module docstring's integer semantics, written out with golden.intsem only."""
    W, L, A = cfg.data_width, cfg.lanes, cfg.acc_width
    w1q, s_w1 = intsem.quantize(w1, W)
    w2q, s_w2 = intsem.quantize(w2, W)
    outs = []
    for t, x in enumerate(xs):
        xq, s_x = intsem.quantize(x, W)
        acc1 = np.array([[intsem.dpu_dot(xq[i], w1q[:, j], L, A) for j in range(w1.shape[1])]
                         for i in range(x.shape[0])])
        h_new = gelu(intsem.dequantize(acc1, s_x * s_w1) + b1)
        if t % (n + 1) == 0:
            h = h_new
            mask = build_keep_mask(h, target_sparsity=s)
            hq, s_h = intsem.quantize(h, W)
            y = intsem.dequantize(intsem.int_matmul(hq, w2q, L, A), s_h * s_w2) + b2
            h_c, y_c = h, y
        else:
            h = np.where(mask, h_new, h_c)
            if mode == "dense":
                hq, s_h = intsem.quantize(h, W)
                y = intsem.dequantize(intsem.int_matmul(hq, w2q, L, A), s_h * s_w2) + b2
            else:
                dq, s_d = intsem.quantize(h - h_c, W)
                acc2 = np.zeros((x.shape[0], w2.shape[1]), np.int64)
                for i in range(x.shape[0]):
                    idx = np.flatnonzero(mask[i])
                    for c in range(w2.shape[1]):
                        acc2[i, c] = intsem.dpu_dot(dq[i, idx], w2q[idx, c], L, A)
                y = y_c + intsem.dequantize(acc2, s_d * s_w2)
        outs.append(y)
    return np.stack(outs)


SATURATING = ExionConfig(data_width=6, lanes=1, acc_width=12, adder_stages=0)


def _saturating_case(seed=7):
    """An FFN whose FC1 accumulators leave the 12-bit range of SATURATING."""
    w1, b1, w2, b2 = make_ffn(seed, d_model=32)
    return (w1 + 0.25, b1, w2, b2), make_xs(5, seed=seed + 1, d_model=32, drift=0.4) + 0.8


@pytest.mark.parametrize("mode", ["dense", "delta"])
@pytest.mark.parametrize("saturating", [False, True], ids=["wide", "saturating"])
def test_quantized_equals_explicit_intsem(mode, saturating):
    if saturating:
        cfg = SATURATING
        w, xs = _saturating_case()
        w1q, _ = intsem.quantize(w[0], cfg.data_width)
        xq, _ = intsem.quantize(xs[0], cfg.data_width)
        sat = intsem.int_matmul(xq, w1q, cfg.lanes, cfg.acc_width)
        assert 0.05 < np.mean(sat != xq @ w1q) < 0.95  # saturation really happens, not always
    else:
        cfg = ExionConfig(lanes=4, acc_width=32)
        w, xs = make_ffn(7), 3.0 * make_xs(5, seed=8, drift=0.4)
    r = run_ffn_reuse(xs, *w, n=2, target_sparsity=0.6, fc2_mode=mode, cfg=cfg)
    want = _explicit_quantized_run(xs, *w, 2, 0.6, mode, cfg)
    assert np.array_equal(r.outputs, want)


def test_quantized_keep_all_sparse_equals_dense_bit_exact():
    cfg = SATURATING
    w, xs = _saturating_case(9)
    a = run_ffn_reuse(xs, *w, n=2, threshold=-np.inf, cfg=cfg)
    b = run_ffn_reuse(xs, *w, n=0, threshold=-np.inf, cfg=cfg)
    assert a.dense.tolist() == [True, False, False, True, False] and b.dense.all()
    assert np.array_equal(a.outputs, b.outputs)
    # and quantization is really on: differs from float
    assert np.abs(a.outputs - exact_ffn(xs, *w)).max() > 1e-4
