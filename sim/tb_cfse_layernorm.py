"""cocotb bench of the CFSE LayerNorm + adaLN (hw/cfse.py, CfseLayerNorm) against
golden.cfse.layernorm_adaln, bit for bit, with random valid / ready pauses on both streams."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from exion import cfse_format as F
from golden.cfse import layernorm_adaln
from golden.cycle_model import cfse_layernorm_cycles

from .tb_common import start, stream_words, unpack

#: Length of the extreme and random rows; two long rows (1152 and MAX_LN_DIM channels of wide
#: spread) reach the radicands above 48 bits, the right-shift normalization (j < 0).
N = 64


def rows(rng, long_rows: bool):
    """(x, scale, shift) rows: extremes first (with ``long_rows`` also the two long ones),
    then random ones."""
    z = np.zeros(N, np.int64)
    outlier = z.copy()
    outlier[5] = F.ACT_MIN
    out = [
        (np.full(N, 777), rng.integers(-600, 600, N), np.arange(N) - N // 2),  # zero variance
        (np.full(3, F.ACT_MIN), z[:3], np.array([1, 2, 3])),
        (outlier, z, z),                                                  # one outlier
        (np.tile([F.ACT_MIN, F.ACT_MAX], N // 2), np.full(N, F.ACT_MAX), z),  # saturates
        (np.array([5]), np.array([100]), np.array([-7])),                 # one channel
        (rng.integers(F.ACT_MIN, F.ACT_MAX + 1, N), rng.integers(F.ACT_MIN, F.ACT_MAX + 1, N),
         rng.integers(F.ACT_MIN, F.ACT_MAX + 1, N)),
        (np.array([1000, 1001] * 8), z[:16], z[:16]),                     # variance 1/4 LSB^2
    ]
    long = [
        (rng.integers(F.ACT_MIN, F.ACT_MAX + 1, 1152), rng.integers(-2048, 2048, 1152),
         rng.integers(-2048, 2048, 1152)),                                # j = -1
        (np.tile([F.ACT_MIN, F.ACT_MAX], F.MAX_LN_DIM // 2), np.zeros(F.MAX_LN_DIM, np.int64),
         np.zeros(F.MAX_LN_DIM, np.int64)),                               # j = -3, 54 bits
    ]
    if long_rows:
        out += long
    for _ in range(16):
        c = int(rng.integers(1, N + 1))
        sigma, mean = float(rng.choice([0.02, 0.5, 3.0])), float(rng.normal(0, 2))
        x = np.clip(np.rint(rng.normal(mean, sigma, c) * 1024), F.ACT_MIN, F.ACT_MAX)
        sc = np.rint(rng.normal(0, 0.5, c) * 1024)
        sh = np.rint(rng.normal(0, 0.5, c) * 1024)
        out.append((x.astype(np.int64), sc.astype(np.int64), sh.astype(np.int64)))
    return out


def encode(x, scale, shift, last):
    m = 0xFFFF
    return (int(x) & m) | ((int(scale) & m) << 16) | ((int(shift) & m) << 32) | (int(last) << 48)


async def run_rows(dut, todo, rng, gap, stall):
    """Every row bit for bit; without pauses also each row's cycles (first channel in to last
    output) against golden.cycle_model.cfse_layernorm_cycles."""
    beats = [(x, s, h, j == len(xs) - 1) for xs, ss, hs in todo
             for j, (x, s, h) in enumerate(zip(xs, ss, hs))]
    trace = {}
    raw = await stream_words(dut, [encode(*b) for b in beats], len(beats), rng, gap, stall,
                             limit=20 * len(beats) + 300 * len(todo), trace=trace)
    assert len(raw) == len(beats), f"{len(raw)} outputs, want {len(beats)}"
    got = [(unpack(w, F.ACT_BITS, 1)[0], bool(w >> F.ACT_BITS)) for w in raw]
    k = 0
    for r, (xs, ss, hs) in enumerate(todo):
        want = layernorm_adaln(np.asarray(xs)[None], np.asarray(ss)[None],
                               np.asarray(hs)[None])[0].tolist()
        ys = [y for y, _ in got[k:k + len(xs)]]
        lasts = [lst for _, lst in got[k:k + len(xs)]]
        assert ys == want, f"row {r} (C = {len(xs)}): got {ys}, want {want}"
        assert lasts == [j == len(xs) - 1 for j in range(len(xs))], f"row {r}: last flags"
        if gap == stall == 0:
            cycles = trace["out"][k + len(xs) - 1] - trace["in"][k] + 1
            want_c = cfse_layernorm_cycles(len(xs))
            assert cycles == want_c, f"row {r} (C = {len(xs)}): {cycles} cycles, model {want_c}"
        k += len(xs)


@cocotb.test()
async def rows_back_to_back(dut):
    await start(dut)
    await FallingEdge(dut.clk)
    rng = np.random.default_rng(2025)
    await run_rows(dut, rows(rng, True), rng, gap=0.0, stall=0.0)


@cocotb.test()
async def rows_random_pauses(dut):
    await start(dut)
    await FallingEdge(dut.clk)
    rng = np.random.default_rng(11)
    await run_rows(dut, rows(rng, False), rng, gap=0.3, stall=0.3)
