"""cocotb bench of the shift-and-add predictor unit (hw/predictor.py) against
golden.eager.shift_add_matmul: after every chunk (``cfg.operand_stages`` cycles later with
operand registers) the accumulator must equal the golden product of the operand prefixes
consumed so far."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from golden.eager import shift_add_matmul
from hw.predictor import DEFAULT_K_MAX

from .tb_common import config, pack, start
from .tb_lod import view


class PredictorDriver:
    """Runs dot products chunk by chunk and checks the accumulator after each valid chunk."""

    def __init__(self, dut, cfg):
        self.dut, self.cfg = dut, cfg
        self.checked = 0
        self.pending = []       # per cycle driven: the expected acc (None: no chunk), label

    def drive(self, a, b, valid, first):
        W = self.cfg.data_width
        self.dut.a.value = pack(a, W)
        self.dut.b.value = pack(b, W)
        self.dut.valid.value = int(valid)
        self.dut.first.value = int(first)

    async def dot(self, a, b, rng=None):
        """Feed ``a . b`` (1-D, same length) and compare after every chunk; ``rng`` inserts
        idle cycles (valid = 0: the accumulator must hold)."""
        cfg, L = self.cfg, self.cfg.lanes
        k = len(a)
        kc = -(-k // L)
        ap = np.zeros(kc * L, np.int64)
        bp = np.zeros(kc * L, np.int64)
        ap[:k], bp[:k] = a, b
        for c in range(kc):
            while rng is not None and rng.random() < 0.2:
                await self._cycle(rng.integers(cfg.data_min, cfg.data_max + 1, L).tolist(),
                                  [0] * L, False, rng.random() < 0.5)
            hi = (c + 1) * L
            want = int(shift_add_matmul(ap[None, :hi], bp[:hi, None], cfg.lod_steps)[0, 0])
            got = await self._cycle(ap[c * L:hi].tolist(), bp[c * L:hi].tolist(), True, c == 0,
                                    (want, f"chunk {c} of a length-{k} dot"))
        for _ in range(cfg.operand_stages):     # the last chunk's sum through the stages
            got = await self._cycle([0] * L, [0] * L, False, False)
        return got

    async def _cycle(self, a, b, valid, first, want=None):
        """Drive one cycle; check the acc of the cycle driven ``operand_stages`` earlier."""
        self.drive(a, b, valid, first)
        got = await self._step()
        self.pending.append(want)
        if len(self.pending) > self.cfg.operand_stages:
            w = self.pending.pop(0)
            if w is not None:
                assert got == w[0], f"{w[1]}: got {got}, want {w[0]}"
                self.checked += 1
        return got

    async def _step(self):
        await RisingEdge(self.dut.clk)
        await ReadOnly()
        v = self.dut.acc.value.to_signed()
        await FallingEdge(self.dut.clk)
        return v


async def _setup(dut):
    cfg = config()
    dut = view(dut, "pred")
    await start(dut)
    await FallingEdge(dut.clk)
    return cfg, PredictorDriver(dut, cfg)


@cocotb.test()
async def random_dots(dut):
    """Seeded random operands over the whole range, random lengths, idle cycles."""
    cfg, drv = await _setup(dut)
    rng = np.random.default_rng(2025)
    for _ in range(40):
        k = int(rng.integers(1, 6 * cfg.lanes))
        a = rng.integers(cfg.data_min, cfg.data_max + 1, k)
        b = rng.integers(cfg.data_min, cfg.data_max + 1, k)
        if rng.random() < 0.3:  # small magnitudes: p1 / p2 near the bottom
            a = a >> int(rng.integers(4, cfg.data_width))
        await drv.dot(a, b, rng)


@cocotb.test()
async def extremes(dut):
    """Zeros, the most negative value everywhere at the longest K the accumulator is sized for
    (its bound is reached exactly), mixed extremes with both signs."""
    cfg, drv = await _setup(dut)
    k = DEFAULT_K_MAX
    lo, hi = cfg.data_min, cfg.data_max
    await drv.dot(np.zeros(k, np.int64), np.full(k, lo))
    got = await drv.dot(np.full(k, lo), np.full(k, lo))
    assert got == k << (2 * cfg.data_width - 2), "the most negative operands reach the bound"
    await drv.dot(np.full(k, lo), np.full(k, hi))
    alt = np.where(np.arange(k) % 2, lo, hi)
    await drv.dot(alt, np.full(k, lo))
    await drv.dot(np.array([lo, -1, 1, hi, 0]), np.array([lo, lo, -1, hi, 5]))
