"""cocotb bench of the key selector (hw/selector.py) against golden.eager.select, one query row
at a time: keep-mask row and dominant flag."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from golden.eager import select, topk_count
from hw.selector import Selector

from .tb_common import config, start
from .tb_lod import view


class SelectorDriver:
    """Streams one row of scores (random input gaps, random result back-pressure) and returns
    (keep bits, dominant)."""

    def __init__(self, dut, sel: Selector, rng):
        self.dut, self.sel, self.rng = dut, sel, rng

    async def row(self, scores, q_th: int, count: int):
        d, SW = self.dut, self.sel.score_width
        d.q_th.value = min(q_th, (1 << SW) - 1)
        d.count.value = count
        n = len(scores)
        i = 0
        result = None
        while result is None:
            if i < n and self.rng.random() < 0.85:
                d.scores__valid.value = 1
                d.scores__payload.value = (int(scores[i]) & ((1 << SW) - 1)) | \
                    (int(i == n - 1) << SW)
            else:
                d.scores__valid.value = 0
            d.result__ready.value = int(self.rng.random() < 0.7)
            await Timer(1, unit="ns")  # let the handshake settle, sample it before the edge
            if d.scores__valid.value and d.scores__ready.value:
                i += 1
            if d.result__valid.value and d.result__ready.value:
                word = d.result__payload.value.to_unsigned()
                result = (word & ((1 << self.sel.max_keys) - 1), word >> self.sel.max_keys)
            await RisingEdge(d.clk)
            await FallingEdge(d.clk)
        d.scores__valid.value = 0
        d.result__ready.value = 0
        return result


def _k_for(count, nk):
    """A ratio k whose topk_count for nk keys is ``count`` (the host's integer)."""
    k = (count - 0.5) / nk
    assert topk_count(k, nk) == count
    return k


async def check_rows(dut, rows):
    """rows: list of (scores, q_th_int, count); compare each with golden.eager.select."""
    cfg = config()
    sel = Selector(cfg)
    dut = view(dut, "sel")
    await start(dut)
    await FallingEdge(dut.clk)
    drv = SelectorDriver(dut, sel, np.random.default_rng(7))
    for n, (scores, q_th, count) in enumerate(rows):
        s = np.asarray(scores, np.int64)
        keep, dom = select(s[None, :], q_th, _k_for(count, len(s)))
        want = (sum(1 << int(j) for j in np.flatnonzero(keep[0])), int(dom[0]))
        got = await drv.row(s, q_th, count)
        assert got == want, f"row {n} {s.tolist()} q_th {q_th} count {count}: got " \
                            f"({got[0]:#x}, {got[1]}), want ({want[0]:#x}, {want[1]})"


def _limits():
    sel = Selector(config())
    return sel, -(1 << (sel.score_width - 1)), (1 << (sel.score_width - 1)) - 1


@cocotb.test()
async def random_rows(dut):
    """Seeded random rows: random lengths, score ranges narrow (ties) to full, thresholds."""
    sel, lo, hi = _limits()
    rng = np.random.default_rng(2025)
    rows = []
    for _ in range(60):
        nk = int(rng.integers(1, sel.max_keys + 1))
        span = int(rng.choice([3, 50, 1 << 20, hi]))
        s = rng.integers(max(lo, -span), min(hi, span) + 1, nk)
        q_th = int(rng.choice([0, 1, 2, 10, span // 2, 1 << 62]))
        count = int(rng.integers(1, min(sel.max_keep, nk) + 1))
        rows.append((s, q_th, count))
    await check_rows(dut, rows)


@cocotb.test()
async def degenerate(dut):
    """Ties, all equal, one dominant key, all zero, one key, extreme scores."""
    sel, lo, hi = _limits()
    N, P = sel.max_keys, sel.max_keep
    rows = [
        ([5, 9, 9, 1], 0, 2),                       # tie at the top: gap 0, not dominant
        ([7] * N, 0, P),                            # all equal: first P keys by index
        ([0] * N, 0, 1),                            # all zero
        ([0] * 10 + [1000] + [0] * 5, 999, 3),      # one dominant key (gap 1000 > 999)
        ([0] * 10 + [1000] + [0] * 5, 1000, 3),     # gap == q_th: strict, not dominant
        ([42], 0, 1),                               # one key: kept, dominant
        ([lo], 1 << 62, 1),                         # one key at the most negative score
        ([lo, hi], (1 << sel.score_width) - 2, 2),  # largest gap, just above q_th
        ([hi, lo], 1 << 62, 2),                     # q_th beyond any gap (clamped)
        ([lo] * N, 0, P),
        (list(range(N)), 0, P),                     # ascending: last keys win
        (list(range(N, 0, -1)), 0, P),              # descending
        ([3, 1, 3, 1, 3, 1, 3], 0, min(P, 3)),      # repeated ties beyond the list
    ]
    await check_rows(dut, rows)
