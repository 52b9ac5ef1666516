"""Eager prediction (EXION's intra-iteration output sparsity): executable specification.

Before the QKV projection, EXION's predictor (EPRE) estimates the attention scores of a head
from the block input ``X`` in the log domain and decides which ``(query, key)`` pairs, which
Q / K / V projection rows and which ``Q K^T`` entries can be skipped. All integer arithmetic the
hardware does is defined here (and in :mod:`golden.intsem`); the RTL is tested bit-for-bit
against it. See ``docs/eager-prediction.md``.

Pipeline (``W = cfg.data_width``)::

    xq, s_x   = quantize(x, W);  wqq, s_wq = quantize(wq, W);  wkq, s_wk = quantize(wk, W)
    q_acc     = shift_add_matmul(xq, wqq, steps)           # exact integer, shift-and-add only
    k_acc     = shift_add_matmul(xq, wkq, steps)
    shift_q   = auto_shift(q_acc, W);  shift_k = auto_shift(k_acc, W)   # host side
    qp        = requantize(q_acc, shift_q, W);  kp = requantize(k_acc, shift_k, W)
    s         = shift_add_matmul(qp, kp.T, steps)          # predicted scores, integer
    q_th_int  = floor(q_th * gain / scale_s),
                scale_s = s_x^2 s_wq s_wk 2^(shift_q + shift_k) / sqrt(dh),  gain = 1 by default
    keep, dominant = select(s, q_th_int, k)

Leading-one detection (:func:`lod`) of a signed ``W``-bit integer ``x``: ``sign = (x < 0)``,
``mag = |x|`` as an unsigned ``W``-bit number (so ``-2**(W-1)`` has ``mag = 2**(W-1)``),
``p1 = floor(log2(mag))`` in ``[0, W-1]``, ``rem = mag - 2**p1``, ``p2 = floor(log2(rem))``
if ``rem > 0`` (``has_second = 1``) else ``p2 = 0`` (``has_second = 0``). Zero has
``nonzero = 0`` and every other field 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from exion.config import ExionConfig
from exion.formats import MAX_MAG_BITS, shift_add_acc_width, topk_count
from exion.util import check_fraction
from exion.util import check_int
from golden import intsem

from ._checks import float_matrix

__all__ = [
    "LOD", "lod", "lod_approx", "shift_add_matmul", "shift_add_acc_width", "ScorePrediction",
    "predict_scores", "auto_shift", "topk_count", "select", "skippable_rows", "topk_mask",
    "score_scale", "logit_threshold_to_int", "EagerResult", "eager_predict",
    "eager_predict_heads", "MAX_MAG_BITS",
]

# -- leading-one detection -----------------------------------------------------------------

class LOD(NamedTuple):
    """Fields of a two-step leading-one detector, each an int64 array of the input's shape.

    ``sign`` (1 = negative), ``p1`` (first leading one of ``|x|``), ``p2`` (leading one of
    ``|x| - 2**p1``, 0 when absent), ``has_second`` (0/1), ``nonzero`` (0/1).
    """

    sign: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    has_second: np.ndarray
    nonzero: np.ndarray


def _as_int_array(name, x):
    a = np.asarray(x)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not dtype {a.dtype}")
    return a.astype(np.int64)


def _leading_one(mag, nbits):
    """floor(log2(mag)) for mag >= 1 (0 where mag == 0), by a bit scan over ``nbits`` bits."""
    p = np.zeros(mag.shape, np.int64)
    for b in range(1, nbits):
        p += (mag >> b) > 0
    return p


def _lod_fields(x) -> LOD:
    mag = np.abs(x)
    top = int(mag.max(initial=0))
    if top > (1 << MAX_MAG_BITS):
        raise ValueError(f"operand magnitude {top} is out of range [0, 2**{MAX_MAG_BITS}]")
    nbits = max(1, top.bit_length())
    nonzero = (mag != 0).astype(np.int64)
    p1 = _leading_one(mag, nbits)
    rem = np.where(nonzero == 1, mag - (np.int64(1) << p1), 0)
    has_second = (rem != 0).astype(np.int64)
    p2 = _leading_one(rem, nbits)
    return LOD((x < 0).astype(np.int64), p1, p2, has_second, nonzero)


def _check_width(width):
    return check_int("width", width, 2, MAX_MAG_BITS + 1)


def _check_range(name, x, width):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if x.size and (x.min() < lo or x.max() > hi):
        bad = int(x.min()) if x.min() < lo else int(x.max())
        raise ValueError(f"{name} holds {bad}, out of the signed {width}-bit range [{lo}, {hi}]")


def _check_steps(steps):
    return check_int("steps", steps, 1, 2)


def lod(x, width: int) -> LOD:
    """Leading-one detection of signed ``width``-bit integers.

    Parameters
    ----------
    x : array_like of int
        Values in ``[-2**(width-1), 2**(width-1) - 1]``.
    width : int
        Operand width, in [2, 32].

    Returns
    -------
    LOD
        ``p1`` is in ``[0, width-1]`` (``width-1`` only for ``-2**(width-1)``); ``p2 < p1``
        when ``has_second``; zero gives all fields 0.
    """
    width = _check_width(width)
    a = _as_int_array("x", x)
    _check_range("x", a, width)
    return _lod_fields(a)


def lod_approx(x, steps: int, width: int | None = None):
    """Leading-one approximation: ``sign * 2**p1`` (``steps=1``, FACT) or
    ``sign * (2**p1 + has_second * 2**p2)`` (``steps=2``, EXION); 0 for 0.

    The relative error ``|x - approx| / |x|`` is below 1/2 (one step) and 1/4 (two steps).

    Parameters
    ----------
    x : array_like of int
    steps : {1, 2}
    width : int, optional
        If given, ``x`` is checked against the signed ``width``-bit range.
    """
    steps = _check_steps(steps)
    a = _as_int_array("x", x)
    f = lod(a, width) if width is not None else _lod_fields(a)
    mag = (np.int64(1) << f.p1) * f.nonzero
    if steps == 2:
        mag = mag + (np.int64(1) << f.p2) * f.has_second
    return np.where(f.sign == 1, -mag, mag)


def _terms(x, steps):
    """Power-of-two terms ``(sign, exponent, valid)`` of each element: one or two per element."""
    f = _lod_fields(x)
    terms = [(f.sign, f.p1, f.nonzero.astype(bool))]
    if steps == 2:
        terms.append((f.sign, f.p2, f.has_second.astype(bool)))
    return terms


def shift_add_matmul(a, b, steps: int):
    """Integer ``lod_approx(a) @ lod_approx(b)`` computed with shifts and adds only.

    Every product of one term of ``a[m, k]`` and one term of ``b[k, n]`` is
    ``(-1)**(sign_a XOR sign_b) * (1 << (e_a + e_b))`` (zero if either term is absent); the
    result is the exact sum over ``k`` and over the ``steps x steps`` term pairs. The
    accumulator is exact (never saturates); :func:`shift_add_acc_width` gives the width it
    needs.

    Parameters
    ----------
    a : array_like of int, shape (M, K)
    b : array_like of int, shape (K, N)
    steps : {1, 2}

    Returns
    -------
    numpy.ndarray of int64, shape (M, N)
    """
    steps = _check_steps(steps)
    a = _as_int_array("a", a)
    b = _as_int_array("b", b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a {a.shape} and b {b.shape} must be (M, K) and (K, N)")
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), np.int64)
    if not (m and n and k):
        return out
    block = max(1, (1 << 22) // (k * n))
    for sa, ea, va in _terms(a, steps):
        for sb, eb, vb in _terms(b, steps):
            for m0 in range(0, m, block):
                sl = slice(m0, m0 + block)
                e = ea[sl, :, None] + eb[None, :, :]
                t = np.where(va[sl, :, None] & vb[None, :, :], np.int64(1) << e, 0)
                neg = (sa[sl, :, None] ^ sb[None, :, :]).astype(bool)
                out[sl] += np.where(neg, -t, t).sum(axis=1)
    return out


# -- score prediction ----------------------------------------------------------------------

class ScorePrediction(NamedTuple):
    """Integer intermediates of :func:`predict_scores` (all int64)."""

    q_acc: np.ndarray  # (tokens, head_dim) shift-add accumulator of X @ Wq
    qp: np.ndarray     # (tokens, head_dim) requantized to width bits
    k_acc: np.ndarray
    kp: np.ndarray
    s: np.ndarray      # (tokens, tokens) predicted scores Qp Kp^T (shift-add)


def auto_shift(acc, width: int) -> int:
    """Smallest shift ``s >= 0`` for which ``requantize(acc, s, width)`` saturates nothing.

    "Saturates nothing" means ``(acc + 2**(s-1)) >> s`` (``acc`` for ``s = 0``) lies in the
    signed ``width``-bit range for every element. Computed by the host; the hardware receives
    it as a register.
    """
    width = _check_width(width)
    acc = _as_int_array("acc", acc)
    if acc.size == 0:
        return 0
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    mn, mx = int(acc.min()), int(acc.max())
    for s in range(0, 63):
        r = (lambda v: (v + (1 << (s - 1))) >> s) if s else (lambda v: v)
        if lo <= r(mn) and r(mx) <= hi:
            return s
    raise ValueError(f"acc spans [{mn}, {mx}]; no shift in [0, 62] fits {width} bits")


def _check_shift(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 62:
        raise ValueError(f"{name} = {v!r} is out of range [0, 62]")
    return int(v)


def predict_scores(xq, wq_q, wk_q, *, steps: int, shift_q: int, shift_k: int,
                   width: int) -> ScorePrediction:
    """Predicted attention scores of one head, integer only.

    ``qp = requantize(shift_add_matmul(xq, wq_q), shift_q, width)``, ``kp`` likewise,
    ``s = shift_add_matmul(qp, kp.T)``.

    Parameters
    ----------
    xq : array_like of int, shape (tokens, d_model)
    wq_q, wk_q : array_like of int, shape (d_model, head_dim)
        All three in the signed ``width``-bit range.
    steps : {1, 2}
    shift_q, shift_k : int
        Requantization shifts, in [0, 62] (see :func:`auto_shift`).
    width : int
    """
    width = _check_width(width)
    for name, v in (("xq", xq), ("wq_q", wq_q), ("wk_q", wk_q)):
        _check_range(name, _as_int_array(name, v), width)
    shift_q = _check_shift("shift_q", shift_q)
    shift_k = _check_shift("shift_k", shift_k)
    q_acc = shift_add_matmul(xq, wq_q, steps)
    k_acc = shift_add_matmul(xq, wk_q, steps)
    return _scores_from_acc(q_acc, k_acc, steps, shift_q, shift_k, width)


def _scores_from_acc(q_acc, k_acc, steps, shift_q, shift_k, width) -> ScorePrediction:
    qp = intsem.requantize(q_acc, shift_q, width)
    kp = intsem.requantize(k_acc, shift_k, width)
    return ScorePrediction(q_acc, qp, k_acc, kp, shift_add_matmul(qp, kp.T, steps))


# -- selection -----------------------------------------------------------------------------

def _rank(scores):
    """Per row, key indices by descending score, ties by ascending key index."""
    return np.argsort(-scores, axis=1, kind="stable")


def topk_mask(scores, counts):
    """Per row ``i``, the ``counts[i]`` largest scores (ties: lower key index first)."""
    scores = np.asarray(scores)
    order = _rank(scores)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(scores.shape[1])[None, :], axis=1)
    return rank < np.asarray(counts)[:, None]


def select(scores, q_th_int: int, k: float):
    """Which keys each query keeps.

    Per query row ``i`` of the integer ``scores``: rank the keys by descending score, ties by
    ascending key index. If ``scores[i, top1] - scores[i, top2] > q_th_int`` the query is
    *dominant* and keeps only ``top1``; otherwise it keeps the first :func:`topk_count`
    ``(k, keys)`` keys of the ranking. With a single key the query keeps it and is dominant.

    Parameters
    ----------
    scores : array_like of int, shape (queries, keys)
    q_th_int : int
        Gap threshold, >= 0 (strict comparison).
    k : float
        Top-k ratio in [0, 1].

    Returns
    -------
    keep : numpy.ndarray of bool, shape (queries, keys)
    dominant : numpy.ndarray of bool, shape (queries,)
    """
    s = _as_int_array("scores", scores)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"scores has shape {s.shape}; it must be (queries, keys >= 1)")
    if isinstance(q_th_int, bool) or not isinstance(q_th_int, (int, np.integer)) \
            or q_th_int < 0:
        raise ValueError(f"q_th_int = {q_th_int!r} is out of range [0, inf)")
    nq, nk = s.shape
    count = topk_count(k, nk)
    if nq == 0:
        return np.zeros((0, nk), bool), np.zeros(0, bool)
    order = _rank(s)
    rows = np.arange(nq)
    if nk == 1:
        dominant = np.ones(nq, bool)
    else:
        gap = s[rows, order[:, 0]] - s[rows, order[:, 1]]
        dominant = gap > int(q_th_int)
    keep = topk_mask(s, np.where(dominant, 1, count))
    return keep, dominant


def skippable_rows(keep, dominant):
    """Projection rows the hardware may skip (our definition, see docs/eager-prediction.md).

    Returns ``(skip_q, skip_k, skip_v)``: Q row ``i`` iff query ``i`` is dominant; K row ``j``
    iff no non-dominant query keeps key ``j``; V row ``j`` iff no query keeps key ``j``.
    """
    keep = np.asarray(keep, bool)
    dominant = np.asarray(dominant, bool)
    skip_q = dominant.copy()
    skip_k = ~keep[~dominant].any(axis=0)
    skip_v = ~keep.any(axis=0)
    return skip_q, skip_k, skip_v


# -- from float tensors --------------------------------------------------------------------

def score_scale(s_x: float, s_wq: float, s_wk: float, shift_q: int, shift_k: int,
                head_dim: int) -> float:
    """Softmax-logit value of one unit of the predicted score ``s``:
    ``s_x**2 * s_wq * s_wk * 2**(shift_q + shift_k) / sqrt(head_dim)``."""
    return s_x * s_x * s_wq * s_wk * 2.0 ** (shift_q + shift_k) / math.sqrt(head_dim)


def logit_threshold_to_int(q_th: float, scale_s: float) -> int:
    """Integer gap threshold: ``floor(q_th / scale_s)``, capped at ``2**62``.

    For an integer gap ``g``: ``g > floor(q_th / scale_s)`` iff ``g * scale_s > q_th``.
    """
    q = float(q_th)
    if not q >= 0.0:
        raise ValueError(f"q_th = {q_th!r} is out of range [0, inf]")
    if not scale_s > 0.0:
        raise ValueError(f"scale_s = {scale_s!r} is out of range (0, inf)")
    r = q / scale_s
    return int(min(math.floor(r), 1 << 62)) if math.isfinite(r) else 1 << 62


@dataclass
class EagerResult:
    """Outcome of :func:`eager_predict` for one head.

    Members
    -------
    keep : bool (tokens, tokens)
        Predicted keep-mask of ``Q K^T`` (queries x keys).
    dominant, skip_q, skip_k, skip_v : bool (tokens,)
    pred : ScorePrediction
        Integer intermediates (``q_acc, qp, k_acc, kp, s``).
    xq, wq_q, wk_q : int64 arrays
        Quantized inputs; ``s_x, s_wq, s_wk`` their scales.
    shift_q, shift_k, q_th_int : int
    scale_s : float
        Logit value of one unit of ``pred.s`` (:func:`score_scale`).
    steps, q_th, k, gain : the parameters used.
    exact_scores : float (tokens, tokens)
        ``(x wq)(x wk)^T / sqrt(head_dim)`` in float64.
    """

    keep: np.ndarray
    dominant: np.ndarray
    skip_q: np.ndarray
    skip_k: np.ndarray
    skip_v: np.ndarray
    pred: ScorePrediction
    xq: np.ndarray
    wq_q: np.ndarray
    wk_q: np.ndarray
    s_x: float
    s_wq: float
    s_wk: float
    shift_q: int
    shift_k: int
    q_th_int: int
    scale_s: float
    steps: int
    q_th: float
    k: float
    gain: float
    exact_scores: np.ndarray

    @property
    def sparsity(self) -> float:
        """Fraction of ``(query, key)`` pairs of ``Q K^T`` not kept."""
        return 1.0 - float(self.keep.mean()) if self.keep.size else 0.0

    @property
    def exact_topk(self) -> np.ndarray:
        """Per row, the exact-score top-``n_i`` keys, ``n_i`` = keys kept by the prediction
        in that row (ties: lower key index)."""
        return topk_mask(self.exact_scores, self.keep.sum(axis=1))

    @property
    def hit_rate(self) -> float:
        """``sum_i |keep_i & exact_topk_i| / sum_i |keep_i|``."""
        kept = int(self.keep.sum())
        return float((self.keep & self.exact_topk).sum()) / kept if kept else 1.0

    @property
    def top1_hit_rate(self) -> float:
        """Fraction of queries whose predicted top key is the exact top key."""
        if not self.keep.shape[0]:
            return 1.0
        p = _rank(self.pred.s)[:, 0]
        e = np.argsort(-self.exact_scores, axis=1, kind="stable")[:, 0]
        return float(np.mean(p == e))

    @property
    def score_gain(self) -> float:
        """Least-squares slope of the predicted logits ``pred.s * scale_s`` against the exact
        ones: ``sum(p * e) / sum(e * e)`` (1.0 when all exact scores are 0).

        Leading-one approximations truncate, so predicted magnitudes are biased low; a host
        can measure this on calibration data and pass it as ``gain``.
        """
        e = self.exact_scores
        den = float(np.sum(e * e))
        return float(np.sum(self.pred.s * self.scale_s * e)) / den if den else 1.0

    def skip_fractions(self) -> dict[str, float]:
        """Fractions of Q, K, V projection rows skipped and of ``Q K^T`` pairs not kept."""
        return {"q": float(self.skip_q.mean()), "k": float(self.skip_k.mean()),
                "v": float(self.skip_v.mean()), "qk": self.sparsity}


def _predict_quantized(x, xq, s_x, wq, wq_q, s_wq, wk, wk_q, s_wk, head_dim, width,
                       steps, q_th, k, gain, shift_q, shift_k) -> EagerResult:
    q_acc = shift_add_matmul(xq, wq_q, steps)
    k_acc = shift_add_matmul(xq, wk_q, steps)
    sq = auto_shift(q_acc, width) if shift_q is None else _check_shift("shift_q", shift_q)
    sk = auto_shift(k_acc, width) if shift_k is None else _check_shift("shift_k", shift_k)
    pred = _scores_from_acc(q_acc, k_acc, steps, sq, sk, width)
    scale_s = score_scale(s_x, s_wq, s_wk, int(sq), int(sk), head_dim)
    q_th_int = logit_threshold_to_int(q_th * gain, scale_s)
    keep, dominant = select(pred.s, q_th_int, k)
    skip_q, skip_k, skip_v = skippable_rows(keep, dominant)
    exact = (x @ wq) @ (x @ wk).T / math.sqrt(head_dim)
    return EagerResult(keep, dominant, skip_q, skip_k, skip_v, pred, xq, wq_q, wk_q,
                       s_x, s_wq, s_wk, int(sq), int(sk), q_th_int, scale_s, steps,
                       float(q_th), float(k), float(gain), exact)


def _defaults(cfg, steps, q_th, k, gain):
    if not isinstance(cfg, ExionConfig):
        raise ValueError(f"cfg must be an ExionConfig, not {type(cfg).__name__}")
    steps = _check_steps(cfg.lod_steps if steps is None else steps)
    q_th = cfg.ep_q_th if q_th is None else q_th
    if not float(q_th) >= 0.0:
        raise ValueError(f"q_th = {q_th!r} is out of range [0, inf]")
    k = check_fraction("k", cfg.ep_k if k is None else k)
    g = float(gain)
    if not (g > 0.0 and math.isfinite(g)):
        raise ValueError(f"gain = {gain!r} is out of range (0, inf)")
    return steps, float(q_th), k, g


def eager_predict(x, wq, wk, *, head_dim: int, cfg: ExionConfig, steps: int | None = None,
                  q_th: float | None = None, k: float | None = None, gain: float = 1.0,
                  shift_q: int | None = None, shift_k: int | None = None) -> EagerResult:
    """Eager prediction for one attention head from float tensors.

    Parameters
    ----------
    x : array_like, shape (tokens, d_model)
        Block input (after the norm that precedes QKV).
    wq, wk : array_like, shape (d_model, head_dim)
        The head's query and key projections (biases are ignored by the predictor).
    head_dim : int
        Used for the ``1/sqrt(head_dim)`` logit scaling; must equal ``wq.shape[1]``.
    cfg : ExionConfig
        ``data_width`` is the operand width; defaults of ``steps`` / ``q_th`` / ``k`` come
        from ``cfg.lod_steps`` / ``cfg.ep_q_th`` / ``cfg.ep_k``.
    steps : {1, 2}, optional
    q_th : float, optional
        Gap threshold in softmax-logit units (of ``q.k / sqrt(head_dim)``), >= 0.
    k : float, optional
        Top-k ratio in [0, 1].
    gain : float
        Expected ratio of predicted to exact logits (see :attr:`EagerResult.score_gain`);
        the integer threshold is ``floor(q_th * gain / scale_s)``. 1.0 = no compensation.
    shift_q, shift_k : int, optional
        Requantization shifts; default :func:`auto_shift` of the accumulators.

    Returns
    -------
    EagerResult
    """
    steps, q_th, k, gain = _defaults(cfg, steps, q_th, k, gain)
    x = float_matrix("x", x)
    wq = float_matrix("wq", wq)
    wk = float_matrix("wk", wk)
    if wq.shape != wk.shape or wq.shape[0] != x.shape[1]:
        raise ValueError(f"wq {wq.shape} and wk {wk.shape} must both be (d_model, head_dim) "
                         f"with d_model = {x.shape[1]} (the columns of x)")
    if head_dim != wq.shape[1]:
        raise ValueError(f"head_dim = {head_dim!r} must equal the columns of wq ({wq.shape[1]})")
    w = cfg.data_width
    xq, s_x = intsem.quantize(x, w)
    wq_q, s_wq = intsem.quantize(wq, w)
    wk_q, s_wk = intsem.quantize(wk, w)
    return _predict_quantized(x, xq, s_x, wq, wq_q, s_wq, wk, wk_q, s_wk, head_dim, w,
                              steps, q_th, k, gain, shift_q, shift_k)


def eager_predict_heads(x, wq, wk, n_heads: int, cfg: ExionConfig, *,
                        steps: int | None = None, q_th: float | None = None,
                        k: float | None = None, gain: float = 1.0) -> list[EagerResult]:
    """Eager prediction for every head of a multi-head attention layer.

    ``wq`` and ``wk`` are ``(d_model, n_heads * head_dim)``; head ``h`` uses columns
    ``[h * head_dim, (h + 1) * head_dim)``. The weights are quantized once per layer tensor
    (one scale for all of ``wq``, one for ``wk``), ``x`` once; shifts are per head.
    With ``n_heads = 1`` the result equals :func:`eager_predict`.
    """
    steps, q_th, k, gain = _defaults(cfg, steps, q_th, k, gain)
    x = float_matrix("x", x)
    wq = float_matrix("wq", wq)
    wk = float_matrix("wk", wk)
    if isinstance(n_heads, bool) or not isinstance(n_heads, (int, np.integer)) or n_heads < 1:
        raise ValueError(f"n_heads = {n_heads!r} is out of range [1, inf)")
    if wq.shape != wk.shape or wq.shape[0] != x.shape[1] or wq.shape[1] % n_heads:
        raise ValueError(f"wq {wq.shape} and wk {wk.shape} must both be (d_model, n_heads * "
                         f"head_dim) with d_model = {x.shape[1]} and n_heads = {n_heads}")
    dh = wq.shape[1] // n_heads
    w = cfg.data_width
    xq, s_x = intsem.quantize(x, w)
    wq_q, s_wq = intsem.quantize(wq, w)
    wk_q, s_wk = intsem.quantize(wk, w)
    out = []
    for h in range(n_heads):
        c = slice(h * dh, (h + 1) * dh)
        out.append(_predict_quantized(x, xq, s_x, wq[:, c], wq_q[:, c], s_wq, wk[:, c],
                                      wk_q[:, c], s_wk, dh, w, steps, q_th, k, gain,
                                      None, None))
    return out


