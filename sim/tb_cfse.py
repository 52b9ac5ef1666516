"""cocotb bench of the CFSE GELU unit (hw/cfse.py) against golden.cfse.gelu, bit for bit, with
random valid / ready pauses on both streams.

``CFSE_GELU_SPAN`` (environment) selects the inputs: ``all`` drives every signed 16-bit code
(in shuffled order, ``lanes`` per beat), ``edges`` a few thousand codes around the table's
segment boundaries, the ends of [-8, 8) and the 16-bit extremes.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from exion import cfse_format as F
from golden.cfse import gelu
from golden.cycle_model import cfse_gelu_cycles
from hw.cfse import GELU_LATENCY

from .tb_common import config, pack, start, stream_words, unpack


def inputs(span: str, rng) -> np.ndarray:
    if span == "all":
        x = np.arange(F.ACT_MIN, F.ACT_MAX + 1, dtype=np.int64)
        return rng.permutation(x)
    knots = np.arange(F.GELU_LO, F.GELU_HI + 1, 1 << F.GELU_SEG_BITS)
    near = (knots[:, None] + np.arange(-2, 3)[None, :]).ravel()
    ends = np.array([F.ACT_MIN, F.ACT_MIN + 1, -1, 0, 1, F.ACT_MAX - 1, F.ACT_MAX])
    rand = rng.integers(F.ACT_MIN, F.ACT_MAX + 1, 1024)
    x = np.concatenate([near, ends, rand])
    return np.clip(x, F.ACT_MIN, F.ACT_MAX)


async def stream_through(dut, beats, lanes, rng, gap, stall, in_width=F.ACT_BITS,
                         latency=GELU_LATENCY, model=cfse_gelu_cycles):
    """Drive ``beats`` (lists of ``lanes`` values of ``in_width`` bits) into ``i``, collect
    ``o`` (``lanes`` Q5.10 codes); ``gap`` / ``stall`` are the probabilities of an idle input
    cycle and of ``o.ready = 0``. Without pauses the cycles from the first input to the last
    output transfer must equal ``model(len(beats))`` (golden.cycle_model)."""
    words = [pack(b, in_width) for b in beats]
    trace = {}
    raw = await stream_words(dut, words, len(beats), rng, gap, stall,
                             limit=20 * len(beats) + 200, tail=latency + 4, trace=trace)
    if gap == stall == 0 and len(raw) == len(beats):
        cycles = trace["out"][-1] - trace["in"][0] + 1
        assert cycles == model(len(beats)), f"{cycles} cycles, model {model(len(beats))}"
    return [unpack(w, F.ACT_BITS, lanes) for w in raw]


async def check(dut, gap, stall, seed):
    lanes = config().lanes
    rng = np.random.default_rng(seed)
    x = inputs(os.environ.get("CFSE_GELU_SPAN", "edges"), rng)
    pad = (-len(x)) % lanes
    x = np.concatenate([x, np.zeros(pad, np.int64)])
    want = gelu(x).reshape(-1, lanes).tolist()
    beats = x.reshape(-1, lanes).tolist()
    got = await stream_through(dut, beats, lanes, rng, gap, stall)
    assert len(got) == len(want), f"{len(got)} beats out, want {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"beat {k}: x = {beats[k]}: got {g}, want {w}"


@cocotb.test()
async def back_to_back(dut):
    """No pauses: one beat per cycle, and the first result after GELU_LATENCY cycles."""
    await start(dut)
    await FallingEdge(dut.clk)
    lanes = config().lanes
    dut.o__ready.value = 1
    dut.i__valid.value = 1
    dut.i__payload.value = pack([1024] * lanes, F.ACT_BITS)
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.i__valid.value = 0
    for cyc in range(1, GELU_LATENCY + 2):
        await Timer(1, unit="ns")
        if dut.o__valid.value:
            break
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
    assert cyc == GELU_LATENCY, f"first result after {cyc} cycles, want {GELU_LATENCY}"
    assert unpack(dut.o__payload.value.to_unsigned(), F.ACT_BITS, lanes) == \
        gelu([1024] * lanes).tolist()
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    await check(dut, gap=0.0, stall=0.0, seed=1)


@cocotb.test()
async def random_pauses(dut):
    """Random idle input cycles and output stalls on both streams."""
    await start(dut)
    await FallingEdge(dut.clk)
    await check(dut, gap=0.2, stall=0.2, seed=2)
