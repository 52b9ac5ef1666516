"""Functional golden model of the DPU and the SDUE (what the RTL must compute, bit for bit).

Timing lives in :mod:`golden.cycle_model`; this module says *what* ends up in the accumulators
and in OMEM, using only :mod:`golden.intsem` arithmetic.
"""

from __future__ import annotations

import numpy as np

from exion.config import ExionConfig

from . import intsem
from .schedule import Schedule

__all__ = ["dpu_step", "dpu_trace", "sdue_outputs", "dense_wmem_image", "wmem_image"]


def dpu_step(acc: int, a, w_streams, sel: int, valid: bool, first: bool,
             cfg: ExionConfig) -> int:
    """One DPU cycle: ``sel = d + 1`` multiplies ``a`` with stream ``d`` of ``w_streams``;
    ``valid = 0`` or ``sel = 0`` holds; ``first`` clears before adding (saturating)."""
    if not valid or sel == 0:
        return acc
    chunk = int(intsem.dot_chunks(a, w_streams[sel - 1], cfg.lanes)[0])
    return int(intsem.accumulate([chunk], cfg.acc_width, 0 if first else acc))


def dpu_trace(ops, cfg: ExionConfig, acc: int = 0) -> list[int]:
    """Accumulator after each op of ``ops`` = ``[(a, w_streams, sel, valid, first), ...]``."""
    out = []
    for a, w, sel, valid, first in ops:
        acc = dpu_step(acc, a, w, sel, valid, first, cfg)
        out.append(acc)
    return out


def sdue_outputs(x, w, schedule: Schedule, shift: int, cfg: ExionConfig):
    """Outputs the SDUE writes for ``schedule`` of ``Y = X @ W``.

    ``x`` is ``(tokens, K)``, ``w`` is ``(K, channels)``, both integer codes. Returns
    ``(y, written)``: ``y[t, n] = requantize(dpu_dot(x[t], w[:, n]), shift)`` where the
    schedule computes ``(t, n)``, and the boolean map of those outputs.
    """
    x = np.asarray(x, np.int64)
    w = np.asarray(w, np.int64)
    acc = intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width)
    y = intsem.requantize(acc, shift, cfg.data_width)
    from .schedule import coverage
    written = coverage(schedule) > 0
    return np.where(written, y, 0), written


def dense_wmem_image(w, cfg: ExionConfig):
    """WMEM image ``(cols, words, merge_degree, lanes)`` of ``w`` (K, N) in the core's dense
    layout (what a dense ``GEMM`` reads): channel ``n`` in bank ``n % cols`` at words
    ``(n // cols) * kc ..``, stream 0, K padded with zeros to whole lane chunks."""
    w = np.asarray(w, np.int64)
    kc = intsem.lane_chunks(w.shape[0], cfg.lanes)
    nb = -(-w.shape[1] // cfg.cols)
    img = np.zeros((cfg.cols, nb * kc, cfg.merge_degree, cfg.lanes), np.int64)
    pad = np.zeros((kc * cfg.lanes, nb * cfg.cols), np.int64)
    pad[:w.shape[0], :w.shape[1]] = w
    # channel n = b * cols + c: (K, nb, cols) -> bank c, words b * kc .. (all at once)
    cols = pad.reshape(kc, cfg.lanes, nb, cfg.cols).transpose(3, 2, 0, 1)
    img[:, :, 0, :] = cols.reshape(cfg.cols, nb * kc, cfg.lanes)
    return img


def wmem_image(w, schedule: Schedule, cfg: ExionConfig, blocks=None):
    """WMEM contents for running ``blocks`` (default: all) of ``schedule`` back to back.

    Returns an array ``(cols, words, merge_degree, lanes)``: block ``b`` (in run order) uses
    words ``[b * kc, (b + 1) * kc)``; stream ``d`` of bank ``c`` holds the weight column of
    channel ``slots[c, d]`` split into lane chunks (zero padded; zeros for unused streams).
    """
    w = np.asarray(w, np.int64)
    k = w.shape[0]
    kc = intsem.lane_chunks(k, cfg.lanes)
    blocks = schedule.blocks if blocks is None else blocks
    img = np.zeros((cfg.cols, len(blocks) * kc, cfg.merge_degree, cfg.lanes), np.int64)
    padded = np.zeros((kc * cfg.lanes, w.shape[1]), np.int64)
    padded[:k] = w
    for b, blk in enumerate(blocks):
        for c in range(cfg.cols):
            for d in range(cfg.merge_degree):
                ch = blk.slots[c, d]
                if ch >= 0:
                    img[c, b * kc:(b + 1) * kc, d, :] = padded[:, ch].reshape(kc, cfg.lanes)
    return img
