"""cocotb bench of the CFSE residual add (hw/cfse.py, CfseResidual) against
golden.cfse.residual_add, bit for bit, with random valid / ready pauses on both streams."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from exion import cfse_format as F
from golden.cfse import residual_add
from golden.cycle_model import cfse_residual_cycles
from hw.cfse import RESIDUAL_LATENCY

from .tb_cfse import stream_through
from .tb_common import config, start

ONE = 1 << F.ACT_FRAC


def triples(rng):
    """(x, f, gate) columns: every pairing of the extremes with the extreme gates, then random
    codes with plain (1.0), small and full-range gates."""
    ext = np.array([F.ACT_MIN, F.ACT_MIN + 1, -1, 0, 1, F.ACT_MAX - 1, F.ACT_MAX])
    gates = np.array([F.ACT_MIN, -ONE, 0, ONE // 2, ONE, F.ACT_MAX])
    x, f, g = (a.ravel() for a in np.meshgrid(ext, ext, gates, indexing="ij"))
    n = 3000
    rx = rng.integers(F.ACT_MIN, F.ACT_MAX + 1, n)
    rf = rng.integers(F.ACT_MIN, F.ACT_MAX + 1, n)
    rg = np.concatenate([np.full(n // 3, ONE), rng.integers(-2 * ONE, 2 * ONE, n // 3),
                         rng.integers(F.ACT_MIN, F.ACT_MAX + 1, n - 2 * (n // 3))])
    return (np.concatenate([x, rx]), np.concatenate([f, rf]), np.concatenate([g, rg]))


async def check(dut, gap, stall, seed):
    lanes = config().lanes
    rng = np.random.default_rng(seed)
    x, f, g = triples(rng)
    pad = (-len(x)) % lanes
    x, f, g = (np.concatenate([a, np.zeros(pad, np.int64)]) for a in (x, f, g))
    want = residual_add(x, f, g).reshape(-1, lanes).tolist()
    m = (1 << F.ACT_BITS) - 1
    words = ((x & m) | ((f & m) << F.ACT_BITS) | ((g & m) << (2 * F.ACT_BITS)))
    beats = words.reshape(-1, lanes).tolist()
    got = await stream_through(dut, beats, lanes, rng, gap, stall, in_width=3 * F.ACT_BITS,
                               latency=RESIDUAL_LATENCY, model=cfse_residual_cycles)
    assert len(got) == len(want), f"{len(got)} beats out, want {len(want)}"
    for k, (gv, wv) in enumerate(zip(got, want)):
        assert gv == wv, f"beat {k}: got {gv}, want {wv}"


@cocotb.test()
async def back_to_back(dut):
    await start(dut)
    await FallingEdge(dut.clk)
    await check(dut, gap=0.0, stall=0.0, seed=1)


@cocotb.test()
async def random_pauses(dut):
    await start(dut)
    await FallingEdge(dut.clk)
    await check(dut, gap=0.25, stall=0.25, seed=2)
