"""Golden model of the special-function engine (CFSE): integer GELU, softmax, LayerNorm with
adaLN, residual add. The spec the RTL (``hw/cfse.py``) is tested against, bit for bit.

Only integer operations: add, shift, multiply, compare, the small tables of
:mod:`exion.cfse_format`, and two exact integer algorithms, each with a floor result defined
independently of how it is computed: ``floor(a / b)`` (restoring division, one quotient bit per
step) and ``isqrt(a) = floor(sqrt(a))`` (digit-by-digit square root, one root bit per step).
Formats, methods and measured errors: ``docs/cfse.md``.

All inputs are integer codes (``int64`` arrays); activations are Q5.10 in signed 16 bits.
"""

from __future__ import annotations

import math

import numpy as np

from exion import cfse_format as F

__all__ = ["gelu_phi", "gelu", "exp2_neg", "softmax_exp", "softmax", "isqrt_floor",
           "layernorm_stats", "layernorm_adaln", "residual_add", "to_real", "code_to_act",
           "act_to_code"]


def _act(x, name="x"):
    x = np.asarray(x, dtype=np.int64)
    if x.size and (x.min() < F.ACT_MIN or x.max() > F.ACT_MAX):
        raise ValueError(f"{name} holds codes outside the signed {F.ACT_BITS}-bit range")
    return x


def to_real(q, frac: int = F.ACT_FRAC):
    """Real value of fixed-point codes ``q`` with ``frac`` fraction bits."""
    return np.asarray(q, dtype=np.float64) / (1 << frac)


def _round_shift(v, s: int):
    """``(v + 2**(s-1)) >> s``: round half up, arithmetic shift (``s >= 1``)."""
    return (v + (np.int64(1) << (s - 1))) >> s


# ---- GELU -----------------------------------------------------------------------------------

_PHI = np.array(F.PHI_TABLE, dtype=np.int64)


def gelu_phi(x):
    """Phi(x) in Q1.16 (0 .. 65536) for Q5.10 codes ``x``: piecewise linear on [-8, 8).

    ``off = x + 8192``, ``i = off >> 6``, ``f = off & 63``,
    ``phi = T[i] + (((T[i+1] - T[i]) * f + 32) >> 6)``; 0 below -8, 65536 at 8 and above.
    """
    x = _act(x)
    inside = (x >= F.GELU_LO) & (x < F.GELU_HI)
    off = np.where(inside, x - F.GELU_LO, 0)
    i = off >> F.GELU_SEG_BITS
    f = off & ((1 << F.GELU_SEG_BITS) - 1)
    base = _PHI[i]
    delta = _PHI[i + 1] - base
    phi = base + _round_shift(delta * f, F.GELU_SEG_BITS)
    return np.where(inside, phi, np.where(x < F.GELU_LO, 0, F.PHI_ONE)).astype(np.int64)


def gelu(x):
    """Integer GELU of Q5.10 codes: ``y = (x * phi(x) + 2**15) >> 16`` (Q5.10, always fits:
    ``|y| <= |x|``)."""
    x = _act(x)
    return _round_shift(x * gelu_phi(x), F.PHI_FRAC)


# ---- softmax --------------------------------------------------------------------------------

_EXP = np.array(F.EXP_TABLE, dtype=np.int64)


def exp2_neg(z):
    """``2**(-z)`` in Q1.15 for ``z >= 0`` in Q.16: ``q = z >> 16``, ``r = z & 0xffff``;
    ``2**(-r)`` piecewise linear on 64 segments (``i = r >> 10``, ``f = r & 1023``,
    ``e = T[i] - (((T[i] - T[i+1]) * f + 512) >> 10)``), then ``(e + 2**(q-1)) >> q`` for
    ``q >= 1`` (q clamped to 31)."""
    z = np.asarray(z, dtype=np.int64)
    if z.size and z.min() < 0:
        raise ValueError("z must be non-negative")
    q = np.minimum(z >> F.Z_FRAC, F.EXP_MAX_SHIFT)
    r = z & ((1 << F.Z_FRAC) - 1)
    lo_bits = F.Z_FRAC - F.EXP_SEG_BITS
    i = r >> lo_bits
    f = r & ((1 << lo_bits) - 1)
    base = _EXP[i]
    e = base - _round_shift((base - _EXP[i + 1]) * f, lo_bits)
    half = np.where(q > 0, np.int64(1) << np.maximum(q - 1, 0), 0)
    return (e + half) >> q


def _keep(x, keep):
    if keep is None:
        return np.ones(x.shape, dtype=bool)
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != x.shape:
        raise ValueError(f"keep has shape {keep.shape}, scores {x.shape}")
    return keep


def softmax_exp(x, keep=None):
    """Numerators and their row sum: ``(e, m, S)`` for scores ``x`` (Q5.10, last axis = keys).

    ``m`` = row maximum over kept keys, ``d = x - m`` (<= 0, 17 bits),
    ``z = (-d * 47274 + 2**8) >> 9`` (Q.16), ``e = exp2_neg(z)`` for kept keys, 0 for masked,
    ``S = sum(e)`` (at most 2**27 for 4096 keys: 32-bit accumulator). A row with no kept key
    has ``m = 0`` and ``S = 0``.
    """
    x = _act(x, "scores")
    keep = _keep(x, keep)
    if x.shape[-1] > F.MAX_SOFTMAX_KEYS:
        raise ValueError(f"{x.shape[-1]} keys exceed MAX_SOFTMAX_KEYS = {F.MAX_SOFTMAX_KEYS}")
    m = np.max(np.where(keep, x, F.ACT_MIN), axis=-1, keepdims=True)
    m = np.where(keep.any(axis=-1, keepdims=True), m, 0)
    a = np.where(keep, m - x, 0)
    z = _round_shift(a * F.LOG2E_Q, F.ACT_FRAC + F.LOG2E_FRAC - F.Z_FRAC)
    e = np.where(keep, exp2_neg(z), 0)
    return e, m[..., 0], e.sum(axis=-1)


def softmax(x, keep=None):
    """Integer softmax over the kept keys of each row (Q1.15 probabilities, signed 16 bits).

    ``R = floor(2**47 / S)`` once per row (exact division), then per key
    ``p = min((e * R + 2**31) >> 32, 32767)``; masked keys and rows without a kept key give 0.
    """
    e, _, s = softmax_exp(x, keep)
    r = np.where(s > 0, (np.int64(1) << F.RECIP_BITS) // np.maximum(s, 1), 0)
    p = _round_shift(e * r[..., None], F.RECIP_SHIFT)
    return np.minimum(p, F.PROB_MAX)


# ---- LayerNorm + adaLN ----------------------------------------------------------------------

def isqrt_floor(a: int) -> int:
    """``floor(sqrt(a))`` of a non-negative integer: what the digit-by-digit square root
    produces (``math.isqrt`` computes the same floor)."""
    return math.isqrt(int(a))


def layernorm_stats(x):
    """Per-row statistics of Q5.10 rows ``x`` (last axis = C channels, C <= 4096).

    Returns ``(s1, s2, v, j, s, r)`` as int64 arrays: ``s1 = sum x`` (28 bits),
    ``s2 = sum x**2`` (42 bits), ``v = C*s2 - s1**2 = C**2 * var`` (exact, >= 0),
    ``D = v + C**2 * EPS_Q``, the even normalization ``j = (48 - bitlen(D)) // 2`` (may be
    negative), ``s = isqrt(D << 2j)`` (or ``D >> -2j``; s in [2**23, 2**24)) and the reciprocal
    ``r = floor(2**47 / s)``; so ``1/sqrt(var + eps) = C * r * 2**(j - 47)`` up to rounding.
    """
    x = _act(x)
    c = x.shape[-1]
    if not 1 <= c <= F.MAX_LN_DIM:
        raise ValueError(f"row length {c} outside [1, MAX_LN_DIM = {F.MAX_LN_DIM}]")
    s1 = x.sum(axis=-1)
    s2 = (x * x).sum(axis=-1)
    v = c * s2 - s1 * s1
    d = v + c * c * F.EPS_Q
    flat_d = d.reshape(-1)
    j = np.empty_like(flat_d)
    s = np.empty_like(flat_d)
    for k, dk in enumerate(flat_d.tolist()):
        jk = (F.RSQRT_BITS - int(dk).bit_length()) // 2
        dn = dk << (2 * jk) if jk >= 0 else dk >> (-2 * jk)
        j[k], s[k] = jk, isqrt_floor(dn)
    j, s = j.reshape(d.shape), s.reshape(d.shape)
    r = (np.int64(1) << F.LN_RECIP_BITS) // s
    return s1, s2, v, j, s, r


def layernorm_adaln(x, scale=None, shift=None):
    """LayerNorm (no learned affine, as DiT) followed by adaLN modulation, all Q5.10.

    ``u = C*x - s1`` (29 bits), ``n = (u * r + 2**(k-1)) >> k`` with ``k = 47 - j - 16``
    (Q15.16, ``(x - mean) / sqrt(var + eps)``), ``g = 1024 + scale`` (Q.10, 17 bits),
    ``y = sat16(((n * g + 2**15) >> 16) + shift)``. ``scale`` and ``shift`` broadcast against
    ``x`` (per channel, or per row and channel); default 0.
    """
    x = _act(x)
    scale = _act(0 if scale is None else scale, "scale")
    shift = _act(0 if shift is None else shift, "shift")
    c = x.shape[-1]
    s1, _, _, j, _, r = layernorm_stats(x)
    u = c * x - s1[..., None]
    k = (F.LN_RECIP_BITS - F.NORM_FRAC - j)[..., None]
    n = (u * r[..., None] + (np.int64(1) << (k - 1))) >> k
    g = (1 << F.ACT_FRAC) + scale
    y = _round_shift(n * g, F.NORM_FRAC) + shift
    return np.clip(y, F.ACT_MIN, F.ACT_MAX)


# ---- residual -------------------------------------------------------------------------------

def residual_add(x, f, gate=None):
    """Residual add with saturation, Q5.10: ``sat16(x + f)``, or with an adaLN-Zero gate
    (Q5.10) ``sat16(x + ((gate * f + 2**9) >> 10))``."""
    x, f = _act(x), _act(f, "f")
    if gate is not None:
        f = _round_shift(_act(gate, "gate") * f, F.ACT_FRAC)
    return np.clip(x + f, F.ACT_MIN, F.ACT_MAX)


# ---- conversions at the core's memories (docs/cfse.md, "Core commands") ---------------------

def code_to_act(q, in_shift: int):
    """A memory code (an OMEM word: a requantized SDUE output; an IMEM lane) to the CFSE's
    16-bit activation: ``sat16(q << in_shift)``.

    ``in_shift`` in [0, 15]: codes with ``f`` fraction bits (``f <= 10``; the host picks the
    GEMM's requantization shift so) become Q5.10 with ``in_shift = 10 - f``.
    """
    if not 0 <= int(in_shift) <= 15:
        raise ValueError(f"in_shift = {in_shift} is out of range [0, 15]")
    q = np.asarray(q, dtype=np.int64)
    return np.clip(q << int(in_shift), F.ACT_MIN, F.ACT_MAX)


def act_to_code(v, out_shift: int, width: int):
    """A 16-bit CFSE output (Q5.10, or a softmax's Q1.15) to a ``width``-bit IMEM code:
    ``(v + 2**(out_shift-1)) >> out_shift`` (none when ``out_shift`` = 0), saturated to signed
    ``width`` bits: the rounding and saturation of ``golden.intsem.requantize``."""
    if not 0 <= int(out_shift) <= 15:
        raise ValueError(f"out_shift = {out_shift} is out of range [0, 15]")
    v = np.asarray(v, dtype=np.int64)
    if out_shift:
        v = _round_shift(v, int(out_shift))
    return np.clip(v, -(1 << (width - 1)), (1 << (width - 1)) - 1)
