"""cocotb bench of the CFSE row softmax (hw/cfse.py, CfseSoftmax) against golden.cfse.softmax,
bit for bit, with random valid / ready pauses on both streams."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from exion import cfse_format as F
from exion.limits import MAX_KEYS
from golden.cfse import softmax
from golden.cycle_model import cfse_softmax_cycles

from .tb_common import start, stream_words, unpack


def rows(rng):
    """(scores, keep) rows: extremes first, then random lengths, spreads and masks."""
    out = [
        (np.full(5, 1234), np.ones(5, bool)),                           # all equal
        (np.array([F.ACT_MIN, F.ACT_MAX, F.ACT_MIN, 0]), np.ones(4, bool)),
        (np.full(8, F.ACT_MIN), np.ones(8, bool)),                      # all most negative
        (np.array([0, 20 << F.ACT_FRAC] + [0] * 30), np.ones(32, bool)),  # one dominant
        (rng.integers(-4096, 4096, 64), np.eye(1, 64, 17, dtype=bool)[0]),  # one kept
        (rng.integers(-4096, 4096, 7), np.zeros(7, bool)),              # none kept
        (np.array([77]), np.ones(1, bool)),                             # one key
        (rng.integers(F.ACT_MIN, F.ACT_MAX + 1, MAX_KEYS), np.ones(MAX_KEYS, bool)),
    ]
    for _ in range(24):
        n = int(rng.integers(1, MAX_KEYS + 1))
        sigma = float(rng.choice([0.5, 2.0, 6.0]))
        x = np.clip(np.rint(rng.normal(0, sigma, n) * 1024), F.ACT_MIN, F.ACT_MAX)
        keep = rng.random(n) < float(rng.choice([0.2, 0.6, 1.0]))
        out.append((x.astype(np.int64), keep))
    return out


def encode(x, keep, last):
    return (int(x) & 0xFFFF) | (int(keep) << 16) | (int(last) << 17)


async def run_rows(dut, todo, rng, gap, stall):
    """Every row bit for bit; without pauses also each row's cycles (first key in to last
    probability out) against golden.cycle_model.cfse_softmax_cycles."""
    keys = [(int(x), bool(k), j == len(xs) - 1)
            for xs, ks in todo for j, (x, k) in enumerate(zip(xs, ks))]
    trace = {}
    raw = await stream_words(dut, [encode(*k) for k in keys], len(keys), rng, gap, stall,
                             limit=20 * len(keys) + 200 * len(todo), trace=trace)
    assert len(raw) == len(keys), f"{len(raw)} outputs, want {len(keys)}"
    got = [(unpack(w, F.ACT_BITS, 1)[0], bool(w >> 16)) for w in raw]
    k = 0
    for r, (xs, ks) in enumerate(todo):
        want = softmax(np.asarray(xs)[None], np.asarray(ks)[None])[0].tolist()
        ps = [p for p, _ in got[k:k + len(xs)]]
        lasts = [lst for _, lst in got[k:k + len(xs)]]
        assert ps == want, f"row {r} (n = {len(xs)}): got {ps}, want {want}"
        assert lasts == [j == len(xs) - 1 for j in range(len(xs))], f"row {r}: last flags"
        if gap == stall == 0:
            cycles = trace["out"][k + len(xs) - 1] - trace["in"][k] + 1
            want_c = cfse_softmax_cycles(len(xs), bool(np.any(ks)))
            assert cycles == want_c, f"row {r} (n = {len(xs)}): {cycles} cycles, model {want_c}"
        k += len(xs)


@cocotb.test()
async def rows_back_to_back(dut):
    await start(dut)
    await FallingEdge(dut.clk)
    rng = np.random.default_rng(2025)
    await run_rows(dut, rows(rng), rng, gap=0.0, stall=0.0)


@cocotb.test()
async def rows_random_pauses(dut):
    await start(dut)
    await FallingEdge(dut.clk)
    rng = np.random.default_rng(7)
    await run_rows(dut, rows(rng), rng, gap=0.3, stall=0.3)
