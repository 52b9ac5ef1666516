"""Error of the CFSE's integer functions (golden/cfse.py) against float64 (prints a table).

GELU: exhaustively over every signed 16-bit Q5.10 input. Softmax and LayerNorm + adaLN:
seeded random rows (seed 2025) of several shapes and spreads; the float64 reference gets the
same integer inputs, read as real numbers, so the table shows the error of the integer
arithmetic alone (not of quantizing the inputs). Errors are in real units; the LSB of the
Q5.10 outputs is 2**-10 = 9.8e-4, of the Q1.15 probabilities 2**-15 = 3.1e-5.
Run: ``python bench/bench_cfse.py``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from exion import cfse_format as F  # noqa: E402
from golden import cfse  # noqa: E402

SEED = 2025
_ERF = np.frompyfunc(math.erf, 1, 1)


def gelu_ref(xr):
    """float64 GELU (exact erf form)."""
    return xr * 0.5 * (1.0 + _ERF(xr / math.sqrt(2.0)).astype(np.float64))


def softmax_ref(xr, keep):
    m = np.max(np.where(keep, xr, -np.inf), axis=-1, keepdims=True)
    e = np.where(keep, np.exp(np.where(keep, xr - m, 0.0)), 0.0)
    return e / e.sum(axis=-1, keepdims=True)


def layernorm_ref(xr, scale_r, shift_r):
    mu = xr.mean(axis=-1, keepdims=True)
    var = xr.var(axis=-1, keepdims=True)
    eps = F.EPS_Q * 2.0 ** (-2 * F.ACT_FRAC)
    y = (xr - mu) / np.sqrt(var + eps) * (1.0 + scale_r) + shift_r
    lsb = 2.0 ** -F.ACT_FRAC
    return np.clip(y, F.ACT_MIN * lsb, F.ACT_MAX * lsb)  # the integer result saturates


def err(got, want):
    d = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    return float(d.max()), float(d.mean())


def gelu_rows():
    x = np.arange(F.ACT_MIN, F.ACT_MAX + 1, dtype=np.int64)
    got = cfse.to_real(cfse.gelu(x))
    want = gelu_ref(cfse.to_real(x))
    inside = (x >= F.GELU_LO) & (x < F.GELU_HI)
    return [("gelu", "all 65536 Q5.10 inputs", *err(got, want)),
            ("gelu", "the 16384 inputs in [-8, 8)", *err(got[inside], want[inside]))]


def softmax_rows(rng):
    rows = []
    for n, sigma, density in ((64, 2.0, 1.0), (64, 4.0, 0.5), (256, 3.0, 0.25),
                              (1152, 2.0, 1.0), (4096, 1.0, 0.1)):
        x = np.clip(np.rint(rng.normal(0, sigma, (64, n)) * 1024), F.ACT_MIN, F.ACT_MAX)
        x = x.astype(np.int64)
        keep = rng.random((64, n)) < density
        keep[:, 0] = True
        got = cfse.to_real(cfse.softmax(x, keep), F.PROB_FRAC)
        want = softmax_ref(cfse.to_real(x), keep)
        rows.append(("softmax", f"64 rows x {n}, sigma {sigma}, keep {density}",
                     *err(got[keep], want[keep])))
    return rows


def layernorm_rows(rng):
    rows = []
    for c, sigma, mean in ((64, 1.0, 0.0), (1152, 2.0, 0.5), (1152, 0.05, -3.0),
                           (4096, 4.0, 1.0)):
        x = np.rint(rng.normal(mean, sigma, (32, c)) * 1024)
        x = np.clip(x, F.ACT_MIN, F.ACT_MAX).astype(np.int64)
        sc = np.rint(rng.normal(0, 0.5, (32, c)) * 1024).astype(np.int64)
        sh = np.rint(rng.normal(0, 0.5, (32, c)) * 1024).astype(np.int64)
        got = cfse.to_real(cfse.layernorm_adaln(x, sc, sh))
        want = layernorm_ref(cfse.to_real(x), cfse.to_real(sc), cfse.to_real(sh))
        rows.append(("layernorm+adaLN", f"32 rows x {c}, sigma {sigma}, mean {mean}",
                     *err(got, want)))
    return rows


def residual_rows(rng):
    a = rng.integers(F.ACT_MIN, F.ACT_MAX + 1, 1 << 16)
    b = rng.integers(F.ACT_MIN, F.ACT_MAX + 1, 1 << 16)
    g = rng.integers(-2048, 2048, 1 << 16)
    lsb = 2.0 ** -F.ACT_FRAC
    lo, hi = F.ACT_MIN * lsb, F.ACT_MAX * lsb
    r1 = err(cfse.to_real(cfse.residual_add(a, b)),
             np.clip(cfse.to_real(a) + cfse.to_real(b), lo, hi))
    r2 = err(cfse.to_real(cfse.residual_add(a, b, g)),
             np.clip(cfse.to_real(a) + cfse.to_real(g) * cfse.to_real(b), lo, hi))
    return [("residual", "65536 random pairs", *r1),
            ("residual, gated", "65536 random triples", *r2)]


def table():
    rng = np.random.default_rng(SEED)
    return gelu_rows() + softmax_rows(rng) + layernorm_rows(rng) + residual_rows(rng)


def main():
    print(f"{'function':<16} {'inputs':<40} {'max abs err':>12} {'mean abs err':>13}")
    for name, what, mx, mean in table():
        print(f"{name:<16} {what:<40} {mx:>12.3e} {mean:>13.3e}")
    print("(Q5.10 LSB = 9.766e-04, Q1.15 LSB = 3.052e-05)")


if __name__ == "__main__":
    main()
