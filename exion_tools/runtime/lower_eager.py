"""Eager prediction on chip: the predicted Q' / K' by ``PREDICT_PROJ``, then ``PREDICT`` on
them, with no transfer of Q' or K' through the host (docs/runtime.md, "Eager prediction on
chip"; docs/core.md, "The predicted projection").

The runtime's golden path (:meth:`exion_tools.runtime.model.DiTRuntime._eager_head` with the
projection on the host) requantizes the head's shift-add products by
``golden.eager.auto_shift`` of the whole head. ``PREDICT_PROJ`` takes its shift as an
argument and counts the outputs it saturated (``PROJ_SAT``); saturation only falls as the
shift grows, so the smallest shift whose passes over every row group saturate nothing, found
by bisection, *is* ``auto_shift``, and the results are bit-exact with the host path. The
bisection costs ``ceil(log2(acc width))`` passes per projection (a calibrated shift, as a
deployed predictor would have, needs none).

Buffers: IMEM 0 takes each row group of ``x``, IMEM 1 its Q'; WMEM 0 / 1 the dense-layout
``Wq`` / ``Wk`` of the head, WMEM 2 the keys K' of every token (key ``j`` = token ``j``).
"""

from __future__ import annotations

import numpy as np

from exion.limits import MAX_HEAD_DIM, MAX_KEYS, MAX_PROJ_DIM
from golden.sdue import dense_wmem_image

__all__ = ["chip_ok", "predict_head"]

_X, _Q = 0, 1                   # IMEM buffers
_WQ, _WK, _K = 0, 1, 2          # WMEM buffers


def chip_ok(host, n: int, d: int, dh: int) -> bool:
    """Whether a head of ``n`` tokens, hidden size ``d`` and head dimension ``dh`` fits:
    the reduction in ``MAX_PROJ_DIM`` and one IMEM buffer, the head in ``PREDICT``'s limits,
    ``Wq`` / ``Wk`` and all keys each in one WMEM buffer, three WMEM and two IMEM buffers."""
    cfg, lim = host.cfg, host.limits
    L, C = cfg.lanes, cfg.cols
    kc, kcp = -(-d // L), -(-dh // L)
    return (kc * L <= MAX_PROJ_DIM and kc <= lim.imem_words and kcp * L <= MAX_HEAD_DIM
            and -(-dh // C) * kc <= lim.wmem_words and -(-n // C) * kcp <= lim.wmem_words
            and n <= min(MAX_KEYS, lim.channels) and cfg.imem_buffers >= 2
            and cfg.wmem_buffers >= 3)


def _cmd(host, op: str, timed: bool = False, **f) -> int:
    """One command on the backend, accounted in the host's stats; returns its ``CYCLES``."""
    host.backend.command(op, **f)
    cycles = host.backend.reg("CYCLES") if timed else 0
    f = {k: v for k, v in f.items() if k not in ("imem", "wmem")}
    host.stats.command(op, f, cycles)
    return cycles


def _load_x(host, xg, kc: int) -> None:
    cfg = host.cfg
    pad = np.zeros((cfg.rows, kc * cfg.lanes), np.int64)
    pad[:xg.shape[0], :xg.shape[1]] = xg
    _cmd(host, "LOAD_IMEM", imem=pad.reshape(-1, cfg.lanes), buf=_X, base=0, count=kc)


def _load_w(host, w, buf: int) -> None:
    img = dense_wmem_image(w, host.cfg)
    beats = img[:, :, :1, :].transpose(0, 2, 1, 3).reshape(-1, host.cfg.lanes)
    _cmd(host, "LOAD_WMEM", wmem=beats, buf=buf, base=0, count=img.shape[1], streams=1)


def _pass(host, x, kc: int, dh: int, shift: int, keys: bool) -> int:
    """``PREDICT_PROJ`` of every row group of ``x``; returns the saturated outputs."""
    cfg, sat = host.cfg, 0
    for g0 in range(0, x.shape[0], cfg.rows):
        g1 = min(g0 + cfg.rows, x.shape[0])
        _load_x(host, x[g0:g1], kc)
        f = dict(kc=kc, n_ch=dh, n_rows=g1 - g0, ibuf=_X, shift=shift, dbase=0)
        if keys:
            f.update(flags=("KEYS",), wbuf=_WK, dbuf=_K, key_base=g0)
        else:
            f.update(wbuf=_WQ, dbuf=_Q)
        cycles = _cmd(host, "PREDICT_PROJ", timed=True, **f)
        host.stats.row().predict_cycles += cycles
        host.stats.eager_projection((g1 - g0) * dh * kc * cfg.lanes)
        sat += host.backend.reg("PROJ_SAT")
    return sat


def _shift(host, x, kc: int, dh: int, keys: bool) -> int:
    """The smallest shift that saturates nothing over every row group (= auto_shift)."""
    lo, hi = 0, host.limits.proj_acc_width - 1      # at the top shift nothing saturates
    while lo < hi:
        mid = (lo + hi) // 2
        if _pass(host, x, kc, dh, mid, keys):
            lo = mid + 1
        else:
            hi = mid
    return lo


def predict_head(host, xc, wq, wk, q_th_of, topk: int):
    """Eager prediction of one head on chip: ``(keep (n, n), dominant (n,), sq, sk)``.

    ``xc`` (n, d) token codes, ``wq`` / ``wk`` (d, dh) weight codes; ``q_th_of(sq, sk)``
    gives the integer gap threshold for the shifts found; ``topk`` keys per non-dominant
    query. Equal to ``golden.eager``: ``qp = requantize(shift_add_matmul(xc, wq),
    auto_shift(...))``, ``kp`` likewise, ``select(shift_add_matmul(qp, kp.T), q_th, topk /
    n)`` (one key chunk: ``n <= MAX_KEYS``, :func:`chip_ok`)."""
    cfg, lim = host.cfg, host.limits
    xc = np.asarray(xc, np.int64)
    n, d = xc.shape
    dh = wq.shape[1]
    kc, kcp = -(-d // cfg.lanes), -(-dh // cfg.lanes)
    _load_w(host, wq, _WQ)
    _load_w(host, wk, _WK)
    sq = _shift(host, xc, kc, dh, keys=False)
    sk = _shift(host, xc, kc, dh, keys=True)
    _pass(host, xc, kc, dh, sk, keys=True)          # every token's K' into WMEM 2
    q_th = q_th_of(sq, sk)
    keep = np.zeros((n, n), bool)
    dom = np.zeros(n, bool)
    for g0 in range(0, n, cfg.rows):
        g1 = min(g0 + cfg.rows, n)
        _load_x(host, xc[g0:g1], kc)
        cycles = _cmd(host, "PREDICT_PROJ", timed=True, kc=kc, n_ch=dh, n_rows=g1 - g0,
                      ibuf=_X, wbuf=_WQ, dbuf=_Q, dbase=0, shift=sq)
        host.stats.row().predict_cycles += cycles
        host.stats.eager_projection((g1 - g0) * dh * kc * cfg.lanes)
        _cmd(host, "PREDICT", timed=True, kc=kcp, topk=min(topk, n, lim.max_topk), n_keys=n,
             ibuf=_Q, wbuf=_K, n_rows=g1 - g0, wbase=0, q_th=q_th)
        keep[g0:g1] = host.backend.read_mask(n)[:g1 - g0]
        d_reg = host.backend.reg("DOMINANT")
        dom[g0:g1] = [(d_reg >> r) & 1 for r in range(g1 - g0)]
    return keep, dom, sq, sk
