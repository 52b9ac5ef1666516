"""cocotb bench of one DPU (hw/dpu.py) against golden.sdue.dpu_trace."""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from golden.sdue import dpu_trace

from .tb_common import config, pack, start


class DpuDriver:
    """Drives one op per cycle: (a, w_streams, sel, valid, first)."""

    def __init__(self, dut, cfg):
        self.dut, self.cfg = dut, cfg

    def drive(self, op):
        a, w, sel, valid, first = op
        W = self.cfg.data_width
        self.dut.a.value = pack(a, W)
        self.dut.w.value = pack([v for stream in w for v in stream], W)
        self.dut.sel.value = sel
        self.dut.valid.value = int(valid)
        self.dut.first.value = int(first)


async def run_ops(dut, cfg, ops):
    """Apply ``ops`` one per cycle and return the accumulator after each, aligned to ops."""
    drv = DpuDriver(dut, cfg)
    idle = ([0] * cfg.lanes, [[0] * cfg.lanes] * cfg.merge_degree, 0, False, False)
    seen = []
    lat = cfg.operand_stages + cfg.adder_stages  # cycles from an op to its accumulator
    for op in list(ops) + [idle] * lat:
        drv.drive(op)
        await RisingEdge(dut.clk)
        await ReadOnly()
        seen.append(dut.acc.value.to_signed())
        await FallingEdge(dut.clk)  # leave the read-only phase before driving again
    return seen[lat:]


def random_ops(cfg, rng, n, lo=None, hi=None):
    lo = cfg.data_min if lo is None else lo
    hi = cfg.data_max if hi is None else hi
    ops = []
    for i in range(n):
        a = [rng.randint(lo, hi) for _ in range(cfg.lanes)]
        w = [[rng.randint(lo, hi) for _ in range(cfg.lanes)] for _ in range(cfg.merge_degree)]
        ops.append((a, w, rng.randint(0, cfg.merge_degree), rng.random() < 0.85,
                    i == 0 or rng.random() < 0.15))
    return ops


@cocotb.test()
async def random_vectors(dut):
    """Seeded random operands, stream selects (idle included), holds and clears."""
    cfg = config()
    await start(dut)
    await FallingEdge(dut.clk)
    rng = random.Random(2025)
    ops = random_ops(cfg, rng, 400)
    got = await run_ops(dut, cfg, ops)
    want = dpu_trace(ops, cfg)
    bad = [i for i in range(len(ops)) if got[i] != want[i]]
    assert not bad, f"first mismatch at op {bad[0]}: got {got[bad[0]]}, want {want[bad[0]]}"


@cocotb.test()
async def extremes_and_saturation(dut):
    """Most negative operands everywhere, until the accumulator saturates high, then low."""
    cfg = config()
    await start(dut)
    await FallingEdge(dut.clk)
    neg = [cfg.data_min] * cfg.lanes
    pos = [cfg.data_max] * cfg.lanes
    chunks_to_sat = (cfg.acc_max // (cfg.lanes * cfg.data_min ** 2)) + 3
    ops = [(neg, [neg] * cfg.merge_degree, cfg.merge_degree, True, i == 0)
           for i in range(chunks_to_sat)]
    ops += [(neg, [pos] * cfg.merge_degree, 1, True, False) for _ in range(2 * chunks_to_sat)]
    ops += [(neg, [neg] * cfg.merge_degree, 1, True, True)]  # clear out of saturation
    got = await run_ops(dut, cfg, ops)
    want = dpu_trace(ops, cfg)
    assert cfg.acc_max in want and cfg.acc_min in want, "the case must reach both limits"
    assert got == want, f"got {got[-5:]} want {want[-5:]}"
