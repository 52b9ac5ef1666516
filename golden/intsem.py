"""Integer semantics shared by the golden model and the RTL. Defined here once.

All arithmetic the hardware does is written here in numpy ``int64`` (products and sums of
operands up to 16 bits and accumulators up to 64 bits never exceed what the functions below
handle: accumulators are at most 48 bits). The RTL is tested bit-for-bit
against these functions; see ``docs/integer-semantics.md``.

Rules
-----
Quantization
    Symmetric, per tensor: ``scale = max|x| / qmax`` with ``qmax = 2**(W-1) - 1``;
    ``q = clip(round_half_even(x / scale), -qmax, qmax)``. The most negative code ``-2**(W-1)``
    is never produced by quantization but every unit accepts it.
Products
    Exact: a ``W x W`` signed product needs ``2W`` bits.
Accumulation
    A DPU consumes ``lanes`` operand pairs per cycle. The lane sum of one cycle is exact
    (``2W + clog2(lanes)`` bits, guaranteed to fit the accumulator by config validation).
    It is added to the accumulator with **saturation** to ``[-2**(A-1), 2**(A-1) - 1]``.
    Chunks are added in ascending K order (chunk ``c`` holds ``k`` in
    ``[c*lanes, (c+1)*lanes)``; the tail chunk is zero padded), so the result is
    deterministic even when saturation occurs.
Requantization
    ``out = clip((acc + 2**(s-1)) >> s, -2**(W-1), 2**(W-1) - 1)`` for shift ``s >= 1``
    (round half up, arithmetic shift), ``out = clip(acc, ...)`` for ``s == 0``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "qmax", "quantize", "dequantize", "saturate", "lane_chunks", "dot_chunks", "accumulate",
    "dpu_dot", "int_matmul", "requantize", "wrap",
]


def qmax(width: int) -> int:
    """Largest magnitude symmetric quantization produces for a signed ``width``-bit code."""
    return (1 << (width - 1)) - 1


def quantize(x, width: int, scale: float | None = None):
    """Symmetric per-tensor quantization of float array ``x`` to signed ``width`` bits.

    Returns ``(q, scale)`` with ``q`` an ``int64`` array and ``x ~= q * scale``. An all-zero
    tensor gets scale 1.0.
    """
    x = np.asarray(x, dtype=np.float64)
    if scale is None:
        m = float(np.max(np.abs(x))) if x.size else 0.0
        scale = m / qmax(width)
        if not (scale > 0 and np.isfinite(scale)):  # all zero, or a subnormal maximum
            scale = 1.0
    elif not (scale > 0 and np.isfinite(scale)):
        raise ValueError(f"scale = {scale!r} must be a positive finite number")
    q = np.clip(np.rint(x / scale), -qmax(width), qmax(width)).astype(np.int64)
    return q, float(scale)


def dequantize(q, scale: float):
    return np.asarray(q, dtype=np.float64) * scale


def saturate(x, width: int):
    """Clip to the signed ``width``-bit range."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return np.clip(x, lo, hi)


def wrap(x, width: int):
    """Two's-complement wrap to signed ``width`` bits (what a plain adder does)."""
    x = np.asarray(x, dtype=np.int64)
    if width >= 64:
        return x
    m = np.int64(1) << width
    return ((x + (m >> 1)) % m) - (m >> 1)


def lane_chunks(k: int, lanes: int) -> int:
    """Cycles a DPU needs for a dot product of length ``k``: ``ceil(k / lanes)``."""
    return -(-k // lanes)


def dot_chunks(a, b, lanes: int):
    """Per-cycle exact lane sums of the dot products along the last axis.

    ``a`` has shape ``(..., K)`` and ``b`` ``(..., K)`` (broadcastable); returns shape
    ``(..., ceil(K / lanes))``: the sum of the ``lanes`` products of each chunk.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    prod = a * b
    k = prod.shape[-1]
    n = lane_chunks(k, lanes)
    pad = n * lanes - k
    if pad:
        prod = np.concatenate([prod, np.zeros(prod.shape[:-1] + (pad,), np.int64)], axis=-1)
    return prod.reshape(prod.shape[:-1] + (n, lanes)).sum(axis=-1)


def accumulate(chunks, acc_width: int, init=0):
    """Saturating accumulation of chunk sums along the last axis, in ascending order."""
    chunks = np.asarray(chunks, dtype=np.int64)
    acc = np.broadcast_to(np.asarray(init, dtype=np.int64), chunks.shape[:-1]).copy()
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    for i in range(chunks.shape[-1]):
        # acc_width <= 48 and chunk sums < 2**39 (config validation): int64 cannot overflow.
        acc = np.clip(acc + chunks[..., i], lo, hi)
    return acc


def dpu_dot(a, b, lanes: int, acc_width: int, init=0):
    """What one DPU computes for operand vectors ``a`` and ``b`` (last axis = K)."""
    return accumulate(dot_chunks(a, b, lanes), acc_width, init)


def int_matmul(x, w, lanes: int, acc_width: int):
    """``x @ w`` with DPU semantics: ``x`` is ``(M, K)``, ``w`` is ``(K, N)``, result ``(M, N)``.

    Fast path: when no saturation can occur (``K * max|x| * max|w|`` fits the accumulator) the
    plain integer matmul is exact and equal to the chunked saturating sum.
    """
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    k = x.shape[-1]
    bound = k * int(np.max(np.abs(x), initial=0)) * int(np.max(np.abs(w), initial=0))
    if bound <= (1 << (acc_width - 1)) - 1:
        return _exact_float_matmul(x, w)
    return dpu_dot(x[:, None, :], w.T[None, :, :], lanes, acc_width)


#: Largest ``M * K * N`` of one float matmul: OpenBLAS runs products up to this size on one
#: thread (its ``GEMM_MULTITHREAD_THRESHOLD`` 4 x 65536); its threads spin on a loaded
#: machine (a 16 x 512 x 256 product took 57 ms instead of 0.3 ms with other jobs running).
_ONE_THREAD_MNK = 1 << 18


def _exact_float_matmul(x, w):
    """``x @ w`` of int64 arrays whose partial sums stay below ``2**47`` (the accumulator's
    range, ``acc_width <= 48``): exact in float64, whose matmul is a BLAS call where numpy's
    int64 matmul is a plain loop (4 to 40 times slower); in column slices of at most
    :data:`_ONE_THREAD_MNK` multiplies."""
    xf, wf = x.astype(np.float64), w.astype(np.float64)
    m, k = xf.shape[-2:] if xf.ndim > 1 else (1, xf.shape[-1])
    n = wf.shape[-1]
    step = max(1, _ONE_THREAD_MNK // max(1, m * k))
    if step >= n or wf.ndim != 2:
        return (xf @ wf).astype(np.int64)
    return np.concatenate([xf @ wf[:, c:c + step] for c in range(0, n, step)],
                          axis=-1).astype(np.int64)


def requantize(acc, shift: int, width: int):
    """Accumulator to ``width``-bit output: round half up by ``shift`` bits, then saturate."""
    acc = np.asarray(acc, dtype=np.int64)
    if not 0 <= shift <= 62:
        raise ValueError(f"shift = {shift} is out of range [0, 62]")
    if shift:
        acc = (acc + (np.int64(1) << (shift - 1))) >> shift
    return saturate(acc, width)
