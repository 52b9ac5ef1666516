"""cocotb bench of the CFSE row units (hw/cfse_rows.py, top ``cfse_rows``): LayerNorm + adaLN
and softmax of every row at once against golden.cfse.layernorm_adaln / golden.cfse.softmax,
bit for bit, each command's cycles (first read to last result) against
golden.cycle_model.cfse_layernorm_rows_cycles / cfse_softmax_rows_cycles.

The bench is the memory: a read's data comes the cycle after it (random codes in every cycle
without a read, which the units must ignore), commands start after random idle gaps. Extremes
(zero variance, most negative, saturating, one channel, one outlier, full-range codes, rows
of 1024 channels whose radicands need the right-shift normalization; softmax rows all
equal, one dominant, one kept, none kept, full range, 1 and 64 keys) and seeded random rows.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from exion import cfse_format as F
from exion.limits import MAX_KEYS
from golden.cfse import layernorm_adaln, softmax
from golden.cycle_model import cfse_layernorm_rows_cycles, cfse_softmax_rows_cycles

from .tb_common import config, pack, start, unpack

W = F.ACT_BITS


def _junk(rng, bits):
    return int.from_bytes(rng.bytes(-(-bits // 8)), "little") & ((1 << bits) - 1)


async def _command(dut, unit, n, answer, rng, rows):
    """Run one command of ``n`` channels on ``unit`` (``layernorm`` / ``softmax``): drive
    ``start``, answer every read with ``answer(sel, ch)`` (a dict of port values) one cycle
    later, collect the outputs. Returns (outputs, last flags, cycles first read .. last out)."""
    port = lambda name: getattr(dut, f"{unit}__{name}")   # noqa: E731
    out_name = "o_y" if unit == "layernorm" else "o_p"
    for _ in range(int(rng.integers(0, 4))):
        await FallingEdge(dut.clk)
    port("n").value = n
    port("start").value = 1
    await FallingEdge(dut.clk)
    port("start").value = 0
    pend, first, cyc, last_cyc = None, None, 0, None
    ys, lasts = [], []
    limit = 3 * n + 200 + (n if unit == "layernorm" else 0)
    while len(ys) < n:
        assert cyc < limit, f"{unit} n = {n}: {len(ys)} results after {cyc} cycles"
        vals = answer(*pend) if pend else {}
        port("rd_x").value = vals.get("rd_x", _junk(rng, W * rows))
        if unit == "layernorm":
            port("rd_m").value = vals.get("rd_m", _junk(rng, W))
        else:
            port("rd_keep").value = vals.get("rd_keep", _junk(rng, rows))
        pend = None
        if port("rd_en").value:
            sel = int(port("rd_sel").value) if unit == "layernorm" else 0
            pend = (sel, int(port("rd_ch").value))
            first = cyc if first is None else first
        if port("o_valid").value:
            ys.append(unpack(int(port(out_name).value), W, rows))
            lasts.append(bool(port("o_last").value))
            last_cyc = cyc
        await FallingEdge(dut.clk)
        cyc += 1
    assert lasts == [j == n - 1 for j in range(n)], f"{unit} n = {n}: last flags {lasts}"
    return np.array(ys, np.int64).T, last_cyc - first + 1


def _ln_cases(rng, R):
    lo, hi = F.ACT_MIN, F.ACT_MAX
    full = lambda *s: rng.integers(lo, hi + 1, s)      # noqa: E731
    z = np.zeros
    out = []
    x = full(R, 64)
    x[0] = 777                                           # zero variance
    x[1 % R] = lo                                        # all most negative
    x[2 % R] = np.tile([lo, hi], 32)                     # saturates with scale = max
    out.append((x, np.full(64, hi), full(64)))
    out.append((full(R, 1), full(1), full(1)))            # one channel
    x = z((R, 40), np.int64)
    x[:, 5] = lo                                         # one outlier
    x[R - 1] = np.tile([1000, 1001], 20)                  # variance 1/4 LSB^2
    out.append((x, z(40, np.int64), z(40, np.int64)))
    out.append((full(R, 39), full(39), full(39)))          # statistics-bound / read-bound edge
    x = full(R, 1024)                                    # radicands of 49 and 50 bits: j = -1
    x[0] = np.tile([lo, hi], 512)
    out.append((x, rng.integers(-2048, 2048, 1024), rng.integers(-2048, 2048, 1024)))
    for _ in range(6):
        c = int(rng.integers(1, 130))
        sig = rng.choice([0.02, 0.5, 3.0], R)[:, None]
        mean = rng.normal(0, 2, (R, 1))
        x = np.clip(np.rint(rng.normal(mean, sig, (R, c)) * 1024), lo, hi).astype(np.int64)
        sc = np.rint(rng.normal(0, 0.5, c) * 1024).astype(np.int64)
        sh = np.rint(rng.normal(0, 0.5, c) * 1024).astype(np.int64)
        out.append((x, sc, sh))
    return out


def _sm_cases(rng, R):
    lo, hi = F.ACT_MIN, F.ACT_MAX
    out = []
    n = MAX_KEYS
    x = rng.integers(lo, hi + 1, (R, n))
    x[0] = 5                                             # all equal
    x[1 % R] = lo                                        # most negative
    x[2 % R, 7] = hi                                     # one dominant
    keep = np.ones((R, n), bool)
    keep[R - 1] = False                                  # none kept
    keep[R - 1, 3] = R == 1                              # (one kept when one row)
    out.append((x, keep))
    keep = rng.random((R, n)) < 0.5
    keep[0] = False
    keep[0, n - 1] = True                                # one kept, the last key
    out.append((rng.integers(lo, hi + 1, (R, n)), keep))
    out.append((rng.integers(lo, hi + 1, (R, 1)), np.ones((R, 1), bool)))    # one key
    for _ in range(6):
        k = int(rng.integers(1, n + 1))
        x = np.clip(np.rint(rng.normal(0, rng.choice([0.5, 2.0, 8.0]), (R, k)) * 1024), lo, hi)
        out.append((x.astype(np.int64), rng.random((R, k)) < rng.choice([0.3, 1.0])))
    return out


@cocotb.test()
async def layernorm_rows(dut):
    """Every LayerNorm case bit for bit with the model's cycles."""
    await start(dut)
    await FallingEdge(dut.clk)
    R = config().rows
    rng = np.random.default_rng(31)
    for i, (x, sc, sh) in enumerate(_ln_cases(rng, R)):
        n = x.shape[1]

        def answer(sel, ch, x=x, sc=sc, sh=sh):
            if sel == 0:
                return {"rd_x": pack(x[:, ch], W)}
            return {"rd_m": int(sc[ch] if sel == 1 else sh[ch]) & 0xFFFF}

        got, cycles = await _command(dut, "layernorm", n, answer, rng, R)
        want = layernorm_adaln(x, sc, sh)
        assert np.array_equal(got, want), f"case {i} (C = {n}): rows differ from golden"
        want_c = cfse_layernorm_rows_cycles(n)
        assert cycles == want_c, f"case {i} (C = {n}): {cycles} cycles, model {want_c}"


@cocotb.test()
async def softmax_rows(dut):
    """Every softmax case bit for bit with the model's cycles."""
    await start(dut)
    await FallingEdge(dut.clk)
    R = config().rows
    rng = np.random.default_rng(32)
    for i, (x, keep) in enumerate(_sm_cases(rng, R)):
        n = x.shape[1]

        def answer(sel, ch, x=x, keep=keep):
            return {"rd_x": pack(x[:, ch], W), "rd_keep": pack(keep[:, ch], 1)}

        got, cycles = await _command(dut, "softmax", n, answer, rng, R)
        want = softmax(x, keep)
        assert np.array_equal(got, want), f"case {i} (N = {n}): rows differ from golden"
        want_c = cfse_softmax_rows_cycles(n)
        assert cycles == want_c, f"case {i} (N = {n}): {cycles} cycles, model {want_c}"
