"""Functional golden model of the DPU and the SDUE (what the RTL must compute, bit for bit).

Timing lives in :mod:`golden.cycle_model`; this module says *what* ends up in the accumulators
and in OMEM, using only :mod:`golden.intsem` arithmetic.
"""

from __future__ import annotations

import numpy as np

from exion.config import ExionConfig

from . import intsem
from .schedule import Schedule

__all__ = ["dpu_step", "dpu_trace", "sdue_outputs", "dense_wmem_image", "wmem_image",
           "resident_word", "resident_wmem_image", "resident_beats", "block_weights"]


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


def resident_word(channel, kc: int, cfg: ExionConfig):
    """First WMEM word (from ``wbase``) of ``channel`` in the resident layout: channel ``j``
    of a window lives in bank ``j % cols``, stream ``(j // cols) % merge_degree``, words
    ``(j // (cols * merge_degree)) * kc ..`` (its class times ``kc``)."""
    return (np.asarray(channel) // (cfg.cols * cfg.merge_degree)) * kc


def resident_wmem_image(w, cfg: ExionConfig):
    """WMEM image ``(cols, words, merge_degree, lanes)`` of ``w`` (K, N): the resident layout
    of a window of ``N`` channels, which a ``GEMM`` with ``SPARSE | RESIDENT`` reads in place
    for every row group (:func:`resident_word`; K padded with zeros to whole lane chunks as in
    :func:`dense_wmem_image`; ``words = ceil(N / (cols * merge_degree)) * kc``, zeros past
    channel ``N - 1``). With ``merge_degree`` 1 it is :func:`dense_wmem_image`."""
    w = np.asarray(w, np.int64)
    C, D, L = cfg.cols, cfg.merge_degree, cfg.lanes
    kc = intsem.lane_chunks(w.shape[0], L)
    nq = -(-w.shape[1] // (C * D))
    pad = np.zeros((kc * L, nq * C * D), np.int64)
    pad[:w.shape[0], :w.shape[1]] = w
    # channel j = (q * D + d) * C + c: (K, nq, D, C) -> bank c, words q * kc .., stream d
    img = pad.reshape(kc, L, nq, D, C).transpose(4, 2, 0, 3, 1)    # (C, nq, kc, D, L)
    return img.reshape(C, nq * kc, D, L)


def resident_beats(w, cfg: ExionConfig):
    """The ``s_axis_wmem`` beats ``(cols * merge_degree * words, lanes)`` of one ``LOAD_WMEM``
    (``streams`` 0, ``count`` = words of :func:`resident_wmem_image`, ``base`` = ``wbase``)
    that writes the resident image: bank by bank, stream by stream, word by word."""
    img = resident_wmem_image(w, cfg)
    return img.transpose(0, 2, 1, 3).reshape(-1, cfg.lanes)


def block_weights(wmem, slots, wbase: int, kc: int, cfg: ExionConfig, *, block: int = 0,
                  resident: bool = False, n_ch: int = 0):
    """The weights a sparse ``GEMM`` block multiplies with, read from one WMEM buffer
    ``wmem`` ``(cols, words, merge_degree, lanes)``: ``(kc * lanes, cols * merge_degree)``,
    column ``c * merge_degree + d`` = stream ``d`` of bank ``c``, and the boolean
    ``(cols, merge_degree)`` map of the streams whose outputs may be written.

    Without ``resident`` every stream reads words ``wbase + block * kc ..`` (the block's own
    words, :func:`wmem_image`). With it stream ``d`` of bank ``c`` reads words ``wbase +
    resident_word(slots[c, d]) ..`` where the slot is valid and names a channel ``< n_ch``
    (the window); other streams are not read (zeros; their DPUs are idle: a ``sel`` naming
    one writes nothing). A channel outside its bank's and stream's class reads the word its
    class names from that bank and stream, whatever it holds."""
    C, D, L = cfg.cols, cfg.merge_degree, cfg.lanes
    slots = np.asarray(slots, np.int64)
    if not resident:
        lo = wbase + block * kc
        w = np.asarray(wmem[:, lo:lo + kc, :, :])                      # (C, kc, D, L)
        return w.transpose(0, 2, 1, 3).reshape(C * D, kc * L).T, slots >= 0
    ok = (slots >= 0) & (slots < n_ch)
    words = wbase + np.where(ok, resident_word(slots, kc, cfg), 0)[:, :, None] + np.arange(kc)
    w = wmem[np.arange(C)[:, None, None], words, np.arange(D)[None, :, None], :]   # C, D, kc, L
    w = np.where(ok[:, :, None, None], w, 0)
    return w.reshape(C * D, kc * L).T, ok
