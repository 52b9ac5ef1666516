"""FFN-Reuse (EXION's inter-iteration output sparsity): executable specification.

A diffusion model runs the same transformer blocks for ``T`` denoising iterations. The GELU
output ``H = GELU(X @ W1 + b1)`` of a block's FFN changes little from one iteration to the
next. FFN-Reuse splits the iterations into groups of one *dense* iteration followed by ``N``
*sparse* ones (iteration ``t`` is dense iff ``t % (N + 1) == 0``):

* dense: compute FC1 fully, apply GELU, build the keep-mask of ``H`` (:func:`build_keep_mask`),
  cache ``H`` and the block output ``Y``;
* sparse: recompute only the kept elements of ``H`` (one dot product of length ``d_model`` per
  element) and reuse the cached value everywhere else; then FC2, either fully
  (``fc2_mode="dense"``: ``Y = H @ W2 + b2``) or incrementally (``fc2_mode="delta"``:
  ``Y = Y_cache + (H - H_cache) @ W2``, which only touches the rows of ``W2`` whose ``H``
  element was recomputed).

Float path (``cfg=None``): everything in float64.

Quantized path (``cfg`` given), the integer semantics the RTL is tested against (all integer
arithmetic comes from :mod:`golden.intsem`; ``W = cfg.data_width``)::

    w1q, s_w1 = quantize(w1, W)            # once, per tensor, at construction
    w2q, s_w2 = quantize(w2, W)            # once, per tensor, at construction
    # FC1 (every call; x is quantized per tensor, per call)
    xq, s_x   = quantize(x, W)
    acc1[i,j] = DPU dot product of xq[i, :] and w1q[:, j]   (dpu_dot / int_matmul,
                                                             cfg.lanes, cfg.acc_width)
    pre[i,j]  = dequantize(acc1[i,j], s_x * s_w1) + b1[j]   # float
    H[i,j]    = gelu(pre[i,j])                               # float (CFSE, not the SDUE)
    # FC2, fc2_mode="dense"
    hq, s_h   = quantize(H, W)
    Y         = dequantize(int_matmul(hq, w2q), s_h * s_w2) + b2
    # FC2, fc2_mode="delta" (sparse iterations only)
    D         = H - H_cache                                   # zero outside the keep-mask
    dq, s_d   = quantize(D, W)
    acc2[i,c] = DPU dot product of the *compacted* vectors dq[i, kept_i] and
                w2q[kept_i, c] (kept_i = ascending indices j with mask[i, j])
    Y         = Y_cache + dequantize(acc2, s_d * s_w2)

Biases, GELU, the caches ``H_cache`` / ``Y_cache`` and the mask decision stay in float64. See
``docs/ffn-reuse.md`` for the reasoning behind each choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._checks import float_matrix

from exion.config import ExionConfig
from golden import intsem

__all__ = [
    "FC2_MODES", "gelu", "keep_count", "build_keep_mask", "exact_ffn", "dense_macs",
    "sparse_macs", "FFNCallStats", "FFNReuseLayer", "FFNReuseResult", "run_ffn_reuse",
    "is_dense_iteration", "keep_mask_int", "reuse_fc1_int",
]

#: How FC2 is computed in a sparse iteration.
FC2_MODES = ("dense", "delta")

_erf = np.vectorize(math.erf, otypes=[np.float64])


# -- elementary functions ------------------------------------------------------------------

def gelu(x):
    """Exact (erf) GELU, the default of ``torch.nn.GELU``: ``0.5 x (1 + erf(x / sqrt 2))``.

    Parameters
    ----------
    x : array_like
        Float input of any shape.

    Returns
    -------
    numpy.ndarray
        float64 array of the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def is_dense_iteration(t: int, n: int) -> bool:
    """Whether iteration ``t`` (0-based) is dense: ``t % (n + 1) == 0`` for ``n`` sparse
    iterations after each dense one."""
    _check_int("n", n, 0, None)
    _check_int("t", t, 0, None)
    return t % (n + 1) == 0


def keep_count(size: int, target_sparsity: float) -> int:
    """Elements the quantile rule keeps: ``floor((1 - s) * size + 1/2)`` (round half up).

    Parameters
    ----------
    size : int
        Elements in the layer tensor.
    target_sparsity : float
        Fraction to reuse, in [0, 1].
    """
    _check_int("size", size, 0, None)
    s = _check_fraction("target_sparsity", target_sparsity)
    return min(size, max(0, int(math.floor((1.0 - s) * size + 0.5))))


def build_keep_mask(h, *, threshold=None, target_sparsity=None):
    """Keep-mask of a dense iteration's GELU output: ``True`` = recompute in sparse iterations.

    Exactly one rule must be given.

    Parameters
    ----------
    h : array_like
        GELU output of the layer (any shape; the whole tensor is one population).
    threshold : float, optional
        Absolute rule: keep iff ``|h| > threshold`` (strict). ``-inf`` keeps everything,
        ``+inf`` nothing.
    target_sparsity : float, optional
        Quantile rule, in [0, 1]: keep the :func:`keep_count` ``(h.size, target_sparsity)``
        elements of largest ``|h|`` of the whole tensor. Ties are broken by the lower flat
        (row-major) index: the order is a stable sort of ``-|h|``.

    Returns
    -------
    numpy.ndarray
        bool array of the shape of ``h``.

    Raises
    ------
    ValueError
        Neither or both rules given, a NaN threshold, a target outside [0, 1], NaN in ``h``.
    """
    h = np.asarray(h, dtype=np.float64)
    if (threshold is None) == (target_sparsity is None):
        raise ValueError("give exactly one of threshold and target_sparsity "
                         f"(got threshold={threshold!r}, target_sparsity={target_sparsity!r})")
    if np.isnan(h).any():
        raise ValueError("h contains NaN; allowed: finite or infinite floats")
    mag = np.abs(h)
    if threshold is not None:
        th = float(threshold)
        if math.isnan(th):
            raise ValueError("threshold = nan is not allowed; allowed range [-inf, inf]")
        return mag > th
    n_keep = keep_count(h.size, target_sparsity)
    order = np.argsort(-mag.ravel(), kind="stable")
    flat = np.zeros(h.size, dtype=bool)
    flat[order[:n_keep]] = True
    return flat.reshape(h.shape)


def exact_ffn(x, w1, b1, w2, b2):
    """Reference FFN in float64: ``GELU(x @ w1 + b1) @ w2 + b2``.

    Leading axes of ``x`` are tokens (any shape ``(..., d_model)``).
    """
    x = np.asarray(x, dtype=np.float64)
    return gelu(x @ np.asarray(w1, np.float64) + np.asarray(b1, np.float64)) \
        @ np.asarray(w2, np.float64) + np.asarray(b2, np.float64)


def dense_macs(tokens: int, d_model: int, d_ff: int, d_out: int) -> int:
    """MACs of one dense FFN call: ``tokens * d_ff * (d_model + d_out)``."""
    return tokens * d_ff * (d_model + d_out)


def sparse_macs(kept: int, tokens: int, d_model: int, d_ff: int, d_out: int,
                fc2_mode: str) -> tuple[int, int]:
    """MACs ``(fc1, fc2)`` of one sparse call that recomputes ``kept`` elements of ``H``.

    ``fc1 = kept * d_model``; ``fc2 = tokens * d_ff * d_out`` (mode ``"dense"``) or
    ``kept * d_out`` (mode ``"delta"``).
    """
    _check_mode(fc2_mode)
    fc1 = kept * d_model
    fc2 = tokens * d_ff * d_out if fc2_mode == "dense" else kept * d_out
    return fc1, fc2


# -- the layer -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FFNCallStats:
    """Statistics of one :meth:`FFNReuseLayer.forward` call.

    Members
    -------
    dense : bool
        Iteration kind.
    kept : int
        Elements of ``H`` computed in this call (all of them in a dense call).
    h_size : int
        Elements of ``H`` (``tokens * d_ff``).
    macs_fc1, macs_fc2 : int
        MACs spent by FC1 and FC2.
    dense_macs : int
        MACs a dense call of the same shape spends.
    """

    dense: bool
    kept: int
    h_size: int
    macs_fc1: int
    macs_fc2: int
    dense_macs: int

    @property
    def kind(self) -> str:
        return "dense" if self.dense else "sparse"

    @property
    def sparsity(self) -> float:
        """Fraction of ``H`` reused (not computed) in this call; 0.0 for a dense call."""
        return 1.0 - self.kept / self.h_size if self.h_size else 0.0

    @property
    def macs(self) -> int:
        return self.macs_fc1 + self.macs_fc2


class FFNReuseLayer:
    """One FFN (``Linear -> GELU -> Linear``) with FFN-Reuse state across iterations.

    Parameters
    ----------
    w1 : array_like, shape (d_model, d_ff)
    b1 : array_like, shape (d_ff,)
    w2 : array_like, shape (d_ff, d_out)
    b2 : array_like, shape (d_out,)
    threshold, target_sparsity : float, optional
        Keep-mask rule (see :func:`build_keep_mask`), exactly one. With neither given and a
        ``cfg``, the quantile rule with ``cfg.ffn_target_sparsity`` is used.
    fc2_mode : {"dense", "delta"}
        How FC2 is computed in sparse iterations.
    cfg : ExionConfig, optional
        If given, the GEMMs run quantized (see the module docstring); otherwise float64.

    Attributes
    ----------
    mask : numpy.ndarray or None
        Keep-mask built by the last dense call, shape ``(tokens, d_ff)``.
    h_cache, y_cache : numpy.ndarray or None
        ``H`` and ``Y`` of the last dense call (flattened tokens).
    last_h : numpy.ndarray or None
        ``H`` used by the last call (cached values merged with recomputed ones).
    stats : list of FFNCallStats
        One entry per call.
    """

    def __init__(self, w1, b1, w2, b2, *, threshold=None, target_sparsity=None,
                 fc2_mode: str = "dense", cfg: ExionConfig | None = None):
        if cfg is not None and not isinstance(cfg, ExionConfig):
            raise ValueError(f"cfg must be an ExionConfig or None, not {type(cfg).__name__}")
        self.w1 = float_matrix("w1", w1)
        d_model, d_ff = self.w1.shape
        self.b1 = _as_vector("b1", b1, d_ff)
        self.w2 = float_matrix("w2", w2)
        if self.w2.shape[0] != d_ff:
            raise ValueError(f"w2 has {self.w2.shape[0]} rows; it must have d_ff = {d_ff} "
                             f"(the columns of w1)")
        self.b2 = _as_vector("b2", b2, self.w2.shape[1])
        self.d_model, self.d_ff, self.d_out = d_model, d_ff, self.w2.shape[1]
        self.fc2_mode = _check_mode(fc2_mode)
        if threshold is None and target_sparsity is None:
            if cfg is None:
                raise ValueError("give exactly one of threshold and target_sparsity "
                                 "(or a cfg whose ffn_target_sparsity is used)")
            target_sparsity = cfg.ffn_target_sparsity
        if threshold is not None and target_sparsity is not None:
            raise ValueError("give exactly one of threshold and target_sparsity "
                             f"(got threshold={threshold!r}, "
                             f"target_sparsity={target_sparsity!r})")
        if target_sparsity is not None:
            _check_fraction("target_sparsity", target_sparsity)
        self.threshold = threshold
        self.target_sparsity = target_sparsity
        self.cfg = cfg
        if cfg is not None:
            self.w1q, self.s_w1 = intsem.quantize(self.w1, cfg.data_width)
            self.w2q, self.s_w2 = intsem.quantize(self.w2, cfg.data_width)
        self.reset()

    def reset(self) -> None:
        """Forget the caches and statistics (a new denoising run)."""
        self.mask = None
        self.h_cache = None
        self.y_cache = None
        self.last_h = None
        self.stats: list[FFNCallStats] = []

    # -- GEMM kernels (float or quantized) ----------------------------------------------

    def _fc1_full(self, x):
        if self.cfg is None:
            return x @ self.w1 + self.b1
        xq, s_x = intsem.quantize(x, self.cfg.data_width)
        acc = intsem.int_matmul(xq, self.w1q, self.cfg.lanes, self.cfg.acc_width)
        return intsem.dequantize(acc, s_x * self.s_w1) + self.b1

    def _fc1_elements(self, x, rows, cols):
        """Pre-activations of the elements ``(rows[e], cols[e])`` only: one dot product each."""
        if self.cfg is None:
            return np.einsum("ek,ek->e", x[rows], self.w1.T[cols]) + self.b1[cols]
        xq, s_x = intsem.quantize(x, self.cfg.data_width)
        acc = intsem.dpu_dot(xq[rows], self.w1q.T[cols], self.cfg.lanes, self.cfg.acc_width)
        return intsem.dequantize(acc, s_x * self.s_w1) + self.b1[cols]

    def _fc2_full(self, h):
        if self.cfg is None:
            return h @ self.w2 + self.b2
        hq, s_h = intsem.quantize(h, self.cfg.data_width)
        acc = intsem.int_matmul(hq, self.w2q, self.cfg.lanes, self.cfg.acc_width)
        return intsem.dequantize(acc, s_h * self.s_w2) + self.b2

    def _fc2_delta(self, d, mask):
        """``d @ w2`` summing, per token, only the rows of ``w2`` of its kept elements."""
        out = np.zeros((d.shape[0], self.d_out))
        if self.cfg is None:
            for i in range(d.shape[0]):
                idx = np.flatnonzero(mask[i])
                if idx.size:
                    out[i] = d[i, idx] @ self.w2[idx]
            return out
        dq, s_d = intsem.quantize(d, self.cfg.data_width)
        acc = np.zeros((d.shape[0], self.d_out), np.int64)
        for i in range(d.shape[0]):
            idx = np.flatnonzero(mask[i])
            if idx.size:
                acc[i] = intsem.int_matmul(dq[i, idx][None, :], self.w2q[idx],
                                           self.cfg.lanes, self.cfg.acc_width)[0]
        return intsem.dequantize(acc, s_d * self.s_w2)

    # -- one iteration ------------------------------------------------------------------

    def forward(self, x, dense: bool):
        """Run the FFN for one denoising iteration.

        Parameters
        ----------
        x : array_like, shape (..., d_model)
            Leading axes are flattened into tokens; a sparse call needs the token count of
            the last dense call.
        dense : bool
            Dense iteration (full FC1, new keep-mask and caches) or sparse (reuse).

        Returns
        -------
        numpy.ndarray, shape (..., d_out)
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 1 or x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {x.shape}; its last axis must be d_model = "
                             f"{self.d_model}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.d_model)
        tokens = x2.shape[0]
        full = dense_macs(tokens, self.d_model, self.d_ff, self.d_out)
        if dense:
            h = gelu(self._fc1_full(x2))
            y = self._fc2_full(h)
            self.mask = build_keep_mask(h, threshold=self.threshold,
                                        target_sparsity=self.target_sparsity)
            self.h_cache, self.y_cache = h, y
            st = FFNCallStats(True, h.size, h.size, tokens * self.d_model * self.d_ff,
                              tokens * self.d_ff * self.d_out, full)
        else:
            if self.mask is None:
                raise ValueError("dense=False before any dense call; the first call of a run "
                                 "must be dense")
            if tokens != self.mask.shape[0]:
                raise ValueError(f"x has {tokens} tokens; a sparse call needs the "
                                 f"{self.mask.shape[0]} tokens of the last dense call")
            rows, cols = np.nonzero(self.mask)
            h = self.h_cache.copy()
            if rows.size:
                h[rows, cols] = gelu(self._fc1_elements(x2, rows, cols))
            if self.fc2_mode == "dense":
                y = self._fc2_full(h)
            else:
                y = self.y_cache + self._fc2_delta(h - self.h_cache, self.mask)
            fc1, fc2 = sparse_macs(int(rows.size), tokens, self.d_model, self.d_ff,
                                   self.d_out, self.fc2_mode)
            st = FFNCallStats(False, int(rows.size), h.size, fc1, fc2, full)
        self.last_h = h
        self.stats.append(st)
        return y.reshape(lead + (self.d_out,))

    __call__ = forward


# -- a whole denoising run -----------------------------------------------------------------

@dataclass
class FFNReuseResult:
    """Outcome of :func:`run_ffn_reuse`.

    Members
    -------
    outputs : numpy.ndarray, shape (T, ..., d_out)
    masks : numpy.ndarray, shape (T, tokens, d_ff)
        Keep-mask in effect at each iteration (built by it if dense, used by it if sparse).
    stats : list of FFNCallStats
    n : int
        Sparse iterations per dense one.
    """

    outputs: np.ndarray
    masks: np.ndarray
    stats: list[FFNCallStats] = field(default_factory=list)
    n: int = 0

    @property
    def dense(self) -> np.ndarray:
        return np.array([s.dense for s in self.stats], dtype=bool)

    @property
    def sparsity(self) -> np.ndarray:
        """Per-iteration fraction of ``H`` reused (0 for dense iterations)."""
        return np.array([s.sparsity for s in self.stats])

    @property
    def macs(self) -> np.ndarray:
        return np.array([s.macs for s in self.stats], dtype=np.int64)

    @property
    def total_macs(self) -> int:
        return int(sum(s.macs for s in self.stats))

    @property
    def total_dense_macs(self) -> int:
        return int(sum(s.dense_macs for s in self.stats))

    @property
    def macs_saved(self) -> int:
        return self.total_dense_macs - self.total_macs

    @property
    def macs_saved_fraction(self) -> float:
        d = self.total_dense_macs
        return self.macs_saved / d if d else 0.0

    @property
    def mean_sparse_sparsity(self) -> float:
        """Mean sparsity over the sparse iterations (0.0 if there are none)."""
        sp = [s.sparsity for s in self.stats if not s.dense]
        return float(np.mean(sp)) if sp else 0.0

    def report(self) -> str:
        """A plain-text table: one line per iteration and a summary line."""
        lines = [f"{'t':>5} {'kind':<6} {'sparsity':>8} {'MACs':>14} {'dense MACs':>14} "
                 f"{'saved':>7}"]
        for t, s in enumerate(self.stats):
            saved = 1.0 - s.macs / s.dense_macs if s.dense_macs else 0.0
            lines.append(f"{t:>5} {s.kind:<6} {s.sparsity:>8.2%} {s.macs:>14,} "
                         f"{s.dense_macs:>14,} {saved:>7.2%}")
        lines.append(f"total: N = {self.n}, {len(self.stats)} iterations "
                     f"({int(self.dense.sum())} dense), mean sparse-iteration sparsity "
                     f"{self.mean_sparse_sparsity:.2%}, MACs {self.total_macs:,} of "
                     f"{self.total_dense_macs:,} (saved {self.macs_saved_fraction:.2%})")
        return "\n".join(lines)


def run_ffn_reuse(xs, w1, b1, w2, b2, *, n: int | None = None, threshold=None,
                  target_sparsity=None, fc2_mode: str = "dense",
                  cfg: ExionConfig | None = None) -> FFNReuseResult:
    """Run FFN-Reuse over a denoising loop.

    Parameters
    ----------
    xs : array_like, shape (T, ..., d_model)
        FFN input of every iteration (axis 0 = iteration).
    w1, b1, w2, b2 : array_like
        FFN weights, see :class:`FFNReuseLayer`.
    n : int, optional
        Sparse iterations after each dense one (iteration ``t`` is dense iff
        ``t % (n + 1) == 0``); default ``cfg.ffn_reuse_n``.
    threshold, target_sparsity, fc2_mode, cfg
        As for :class:`FFNReuseLayer`.

    Returns
    -------
    FFNReuseResult
    """
    xs = np.asarray(xs, dtype=np.float64)
    if xs.ndim < 2:
        raise ValueError(f"xs has shape {xs.shape}; it must be (T, ..., d_model) with T >= 1")
    if n is None:
        if cfg is None:
            raise ValueError("n is required when no cfg is given (cfg.ffn_reuse_n is the default)")
        n = cfg.ffn_reuse_n
    _check_int("n", n, 0, None)
    layer = FFNReuseLayer(w1, b1, w2, b2, threshold=threshold, target_sparsity=target_sparsity,
                          fc2_mode=fc2_mode, cfg=cfg)
    outputs, masks = [], []
    for t in range(xs.shape[0]):
        outputs.append(layer.forward(xs[t], dense=is_dense_iteration(t, n)))
        masks.append(layer.mask.copy())
    return FFNReuseResult(np.stack(outputs), np.stack(masks), list(layer.stats), int(n))


# -- validation helpers ----------------------------------------------------------------------

def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f"[{lo}, inf)"
        raise ValueError(f"{name} = {value} is out of range {rng}")
    return int(value)


def _check_fraction(name, value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], not {value!r}") from None
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} = {value} is out of range [0, 1]")
    return v


def _check_mode(mode):
    if mode not in FC2_MODES:
        raise ValueError(f"fc2_mode = {mode!r} is not one of {', '.join(FC2_MODES)}")
    return mode




def _as_vector(name, a, length):
    a = np.asarray(a, dtype=np.float64)
    if a.shape != (length,):
        raise ValueError(f"{name} has shape {a.shape}; it must be ({length},)")
    return a


# -- the integer rule the EXION core implements --------------------------------------------

def keep_mask_int(q, th_hi: int, th_lo: int):
    """The core's FFN-Reuse keep-mask on requantized FC1 outputs ``q`` (``GEMM`` with
    ``FFN_MASK``): keep iff ``q > th_hi`` or ``q < th_lo`` (both strict, signed).

    GELU is not in the SDUE, so the core compares the pre-activation codes. For a GELU
    threshold ``t >= 0.17`` (above ``max |GELU(x)|`` of negative ``x``, about 0.1700),
    ``|GELU(x)| > t`` is exactly ``x > GELU^-1(t)``: ``th_hi = floor(GELU^-1(t) / scale)``
    and ``th_lo`` below the code range reproduce :func:`build_keep_mask`; docs/core.md.
    """
    q = np.asarray(q, dtype=np.int64)
    return (q > int(th_hi)) | (q < int(th_lo))


def reuse_fc1_int(xq, w1q, mask, cache, shift: int, cfg: ExionConfig):
    """FC1 of a sparse iteration on the core: recompute the kept outputs, reuse the rest.

    ``where(mask, requantize(int_matmul(xq, w1q), shift), cache)`` with the DPU's integer
    semantics (``golden.intsem``): the sparse GEMM writes only kept outputs into the OMEM
    buffer that still holds the dense iteration's values, which *are* the cache.
    """
    acc = intsem.int_matmul(np.asarray(xq, np.int64), np.asarray(w1q, np.int64), cfg.lanes,
                            cfg.acc_width)
    y = intsem.requantize(acc, shift, cfg.data_width)
    return np.where(np.asarray(mask, bool), y, np.asarray(cache, np.int64))
