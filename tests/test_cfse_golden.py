"""Golden model of the CFSE (golden/cfse.py): extremes, properties and the documented error
bounds (docs/cfse.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exion import cfse_format as F
from golden import cfse

LSB = 2.0 ** -F.ACT_FRAC
PLSB = 2.0 ** -F.PROB_FRAC
ALL = np.arange(F.ACT_MIN, F.ACT_MAX + 1, dtype=np.int64)
_ERF = np.frompyfunc(math.erf, 1, 1)

#: Documented bounds (docs/cfse.md), in real units.
GELU_MAX_ERR = 0.65 * LSB
SOFTMAX_MAX_ERR = 3.0e-4
LN_MAX_ERR = 0.52 * LSB


def gelu_ref(xr):
    return xr * 0.5 * (1.0 + _ERF(xr / math.sqrt(2.0)).astype(np.float64))


# ---- tables --------------------------------------------------------------------------------

def test_tables():
    assert F.PHI_TABLE[0] == 0 and F.PHI_TABLE[-1] == F.PHI_ONE
    assert F.PHI_TABLE[F.GELU_SEGMENTS // 2] == F.PHI_ONE // 2
    assert all(b >= a for a, b in zip(F.PHI_TABLE, F.PHI_TABLE[1:]))
    assert F.EXP_TABLE[0] == F.EXP_ONE and F.EXP_TABLE[-1] == F.EXP_ONE // 2
    assert all(b < a for a, b in zip(F.EXP_TABLE, F.EXP_TABLE[1:]))
    assert F.LOG2E_Q == 47274


# ---- GELU ----------------------------------------------------------------------------------

def test_gelu_exhaustive_error_bound():
    err = np.abs(cfse.gelu(ALL) * LSB - gelu_ref(ALL * LSB))
    assert err.max() <= GELU_MAX_ERR


def test_gelu_extremes():
    assert cfse.gelu([F.ACT_MIN]).tolist() == [0]
    assert cfse.gelu([F.ACT_MAX]).tolist() == [F.ACT_MAX]
    assert cfse.gelu([0]).tolist() == [0]
    assert cfse.gelu([F.GELU_HI, F.GELU_LO - 1]).tolist() == [F.GELU_HI, 0]
    y = cfse.gelu(ALL)
    assert np.all(np.abs(y) <= np.abs(ALL))
    assert np.all(y >= -175)  # the minimum of GELU is -0.170 (-174.1 codes)


def test_gelu_monotonic():
    """Non-increasing up to the minimum of GELU (x = -0.7518), non-decreasing after it."""
    y = cfse.gelu(ALL)
    xmin = int(round(-0.7518 / LSB))
    left, right = y[ALL <= xmin], y[ALL >= xmin]
    assert np.all(np.diff(left) <= 0)
    assert np.all(np.diff(right) >= 0)


def test_gelu_phi_monotonic_and_range():
    phi = cfse.gelu_phi(ALL)
    assert np.all(np.diff(phi) >= 0)
    assert phi.min() == 0 and phi.max() == F.PHI_ONE


def test_gelu_rejects_out_of_range():
    with pytest.raises(ValueError):
        cfse.gelu([F.ACT_MAX + 1])


# ---- softmax -------------------------------------------------------------------------------

def softmax_ref(xr, keep):
    m = np.max(np.where(keep, xr, -np.inf), axis=-1, keepdims=True)
    e = np.where(keep, np.exp(np.where(keep, xr - m, 0.0)), 0.0)
    return e / e.sum(axis=-1, keepdims=True)


def random_rows(rng, rows, n, sigma):
    x = np.rint(rng.normal(0, sigma, (rows, n)) / LSB)
    return np.clip(x, F.ACT_MIN, F.ACT_MAX).astype(np.int64)


def test_exp2_neg():
    assert cfse.exp2_neg([0]).tolist() == [F.EXP_ONE]
    assert cfse.exp2_neg([1 << F.Z_FRAC, 2 << F.Z_FRAC]).tolist() == [F.EXP_ONE // 2,
                                                                      F.EXP_ONE // 4]
    assert cfse.exp2_neg([17 << F.Z_FRAC, 40 << F.Z_FRAC]).tolist() == [0, 0]
    z = np.arange(0, 20 << F.Z_FRAC, 7)
    e = cfse.exp2_neg(z)
    assert np.all(np.diff(e) <= 0)
    assert np.abs(e - 2.0 ** (-z / 2.0 ** F.Z_FRAC) * F.EXP_ONE).max() <= 1.35


def test_softmax_all_equal():
    for n in (1, 3, 64, 1152):
        p = cfse.softmax(np.full((2, n), 1234))
        assert np.ptp(p) == 0
        assert abs(int(p[0, 0]) - 2 ** F.PROB_FRAC / n) <= 1


def test_softmax_most_negative_and_extremes():
    x = np.array([[F.ACT_MIN, F.ACT_MAX, F.ACT_MIN, 0]])
    p = cfse.softmax(x)
    assert p.tolist() == [[0, F.PROB_MAX, 0, 0]]
    p = cfse.softmax(np.full((1, 8), F.ACT_MIN))
    assert np.all(p == 4096)


def test_softmax_one_dominant():
    x = np.zeros((1, 64), np.int64)
    x[0, 17] = 20 << F.ACT_FRAC  # e**-20 per other key: 64 * 2e-9 of the mass
    p = cfse.softmax(x)
    assert p[0, 17] == F.PROB_MAX and p.sum() == F.PROB_MAX


def test_softmax_all_masked_but_one():
    rng = np.random.default_rng(1)
    x = random_rows(rng, 4, 64, 3.0)
    keep = np.zeros_like(x, dtype=bool)
    keep[np.arange(4), [0, 9, 33, 63]] = True
    p = cfse.softmax(x, keep)
    assert np.all(p[keep] == F.PROB_MAX) and np.all(p[~keep] == 0)


def test_softmax_masked_keys_zero_and_ignored():
    """Masked keys give 0 and do not enter the maximum or the sum, however large they are."""
    rng = np.random.default_rng(2)
    x = random_rows(rng, 8, 64, 2.0)
    keep = rng.random(x.shape) < 0.5
    keep[:, 0] = True
    p = cfse.softmax(x, keep)
    assert np.all(p[~keep] == 0)
    x2 = np.where(keep, x, F.ACT_MAX)
    assert np.array_equal(cfse.softmax(x2, keep), p)
    # the kept keys alone, as a dense row, give the same probabilities
    row = x[0][keep[0]]
    assert np.array_equal(cfse.softmax(row[None])[0], p[0][keep[0]])


def test_softmax_no_kept_key():
    assert cfse.softmax(np.ones((2, 5)), np.zeros((2, 5), bool)).tolist() == [[0] * 5] * 2


def test_softmax_sums_to_one():
    """|sum(p) - 2**15| <= n_kept / 2 + 1 (docs/cfse.md: rounding of each p, reciprocal
    truncation below half an LSB, the clip at 32767)."""
    rng = np.random.default_rng(3)
    for n, sigma, dens in ((16, 1.0, 1.0), (64, 4.0, 0.5), (1152, 2.0, 1.0),
                           (4096, 0.5, 0.3)):
        x = random_rows(rng, 16, n, sigma)
        keep = rng.random(x.shape) < dens
        keep[:, -1] = True
        p = cfse.softmax(x, keep)
        dev = np.abs(p.sum(axis=-1) - (1 << F.PROB_FRAC))
        assert np.all(dev <= keep.sum(axis=-1) / 2 + 1)
        assert p.min() >= 0 and p.max() <= F.PROB_MAX


def test_softmax_error_bound():
    rng = np.random.default_rng(4)
    for n, sigma, dens in ((64, 2.0, 1.0), (256, 3.0, 0.25), (1152, 2.0, 1.0)):
        x = random_rows(rng, 32, n, sigma)
        keep = rng.random(x.shape) < dens
        keep[:, 0] = True
        got = cfse.softmax(x, keep) * PLSB
        want = softmax_ref(x * LSB, keep)
        assert np.abs(got - want)[keep].max() <= SOFTMAX_MAX_ERR


def test_softmax_rejects_bad_mask():
    with pytest.raises(ValueError):
        cfse.softmax(np.zeros((2, 4)), np.ones((2, 3), bool))


# ---- LayerNorm + adaLN ---------------------------------------------------------------------

def ln_ref(xr, sc, sh):
    mu = xr.mean(axis=-1, keepdims=True)
    var = xr.var(axis=-1, keepdims=True)
    y = (xr - mu) / np.sqrt(var + F.EPS_Q * LSB * LSB) * (1 + sc) + sh
    return np.clip(y, F.ACT_MIN * LSB, F.ACT_MAX * LSB)


def test_layernorm_zero_variance():
    for v in (0, F.ACT_MIN, F.ACT_MAX, 777):
        x = np.full((1, 1152), v)
        sh = np.arange(1152) - 576
        assert np.array_equal(cfse.layernorm_adaln(x, 3000, sh)[0], sh)


def test_layernorm_stats_exact():
    rng = np.random.default_rng(5)
    x = random_rows(rng, 4, 1152, 8.0)
    s1, s2, v, j, s, r = cfse.layernorm_stats(x)
    c = x.shape[-1]
    for k in range(4):
        xs = [int(t) for t in x[k]]
        assert s1[k] == sum(xs) and s2[k] == sum(t * t for t in xs)
        assert v[k] == c * s2[k] - s1[k] ** 2 >= 0
        assert (1 << 23) <= s[k] < (1 << 24)
        assert r[k] == (1 << F.LN_RECIP_BITS) // s[k]


def test_layernorm_extremes():
    """One outlier at the most negative code; the row max-min range; saturation."""
    x = np.zeros((1, 64), np.int64)
    x[0, 5] = F.ACT_MIN
    y = cfse.layernorm_adaln(x)
    want = ln_ref(x * LSB, 0.0, 0.0)
    assert np.abs(y * LSB - want).max() <= LN_MAX_ERR
    x = np.tile([F.ACT_MIN, F.ACT_MAX], (1, 32))
    y = cfse.layernorm_adaln(x, scale=F.ACT_MAX)  # (1 + 32) * +-1 saturates both ways
    assert set(y[0].tolist()) == {F.ACT_MIN, F.ACT_MAX}


def test_layernorm_error_bound():
    rng = np.random.default_rng(6)
    for c, sigma, mean in ((16, 1.0, 0.0), (1152, 2.0, 0.5), (1152, 0.02, -3.0),
                           (4096, 4.0, 1.0)):
        x = np.clip(np.rint(rng.normal(mean, sigma, (8, c)) / LSB), F.ACT_MIN, F.ACT_MAX)
        x = x.astype(np.int64)
        sc = np.rint(rng.normal(0, 0.5, (8, c)) / LSB).astype(np.int64)
        sh = np.rint(rng.normal(0, 0.5, (8, c)) / LSB).astype(np.int64)
        got = cfse.layernorm_adaln(x, sc, sh) * LSB
        assert np.abs(got - ln_ref(x * LSB, sc * LSB, sh * LSB)).max() <= LN_MAX_ERR


def test_layernorm_rejects_long_rows():
    with pytest.raises(ValueError):
        cfse.layernorm_adaln(np.zeros((1, F.MAX_LN_DIM + 1)))


# ---- residual ------------------------------------------------------------------------------

def test_residual_saturates():
    a = np.array([F.ACT_MAX, F.ACT_MIN, 100, F.ACT_MAX, F.ACT_MIN])
    b = np.array([1, -1, -50, F.ACT_MAX, F.ACT_MIN])
    assert cfse.residual_add(a, b).tolist() == [F.ACT_MAX, F.ACT_MIN, 50, F.ACT_MAX, F.ACT_MIN]


def test_residual_gated():
    one = 1 << F.ACT_FRAC
    a = np.array([0, 5, F.ACT_MAX, 0])
    f = np.array([1000, 7, 1, F.ACT_MIN])
    g = np.array([one, 0, one, F.ACT_MIN])  # gate -32 times -32 = 1024: saturates
    assert cfse.residual_add(a, f, g).tolist() == [1000, 5, F.ACT_MAX, F.ACT_MAX]
    assert cfse.residual_add([0], [3], [one // 2]).tolist() == [2]  # 1.5 rounds half up
