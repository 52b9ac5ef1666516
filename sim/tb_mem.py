"""cocotb benches of the banked memories (hw/mem.py) against golden.mem.BankedMemoryModel.

The design is one of the generator's tops "imem", "wmem" (host writes, array reads) or "omem"
(array writes, host reads), chosen by EXION_MEM.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from golden.mem import BankedMemoryModel

from .tb_common import config, pack, start, unpack


def geometry(cfg, mem):
    """(banks, depth, buffers, write lanes, bits per lane) of memory ``mem``."""
    lane_bits = cfg.lanes * cfg.data_width
    return {
        "imem": (cfg.rows, cfg.words("imem"), cfg.imem_buffers, 1, lane_bits),
        "wmem": (cfg.cols, cfg.words("wmem"), cfg.wmem_buffers, cfg.merge_degree, lane_bits),
        "omem": (cfg.rows, cfg.words("omem"), cfg.omem_buffers, 1, cfg.data_width),
    }[mem]


class ReadBanksPort:
    """Host write / array read of IMEM or WMEM, one cycle at a time."""

    def __init__(self, dut, geo):
        self.dut, (self.banks, self.depth, self.buffers, self.lanes, self.bits) = dut, geo
        dut.w_en.value = 0
        dut.swap.value = 0

    async def cycle(self, write=None, read_addr=0, swap=False):
        dut = self.dut
        dut.w_en.value = int(write is not None)
        if write is not None:
            bank, lane, addr, value, j = write
            dut.w_bank.value, dut.w_addr.value, dut.w_data.value = bank, addr, value
            dut.w_buf.value = j
            if self.lanes > 1:
                dut.w_lane.value = lane
        dut.r_addr.value = read_addr
        dut.swap.value = int(swap)
        await RisingEdge(dut.clk)
        await ReadOnly()
        word = dut.r_data.value.to_unsigned()
        await FallingEdge(dut.clk)
        # r_data: bank-major, then lane: split into (banks, lanes) unsigned lane words.
        flat = unpack(word, self.bits, self.banks * self.lanes, signed=False)
        return [flat[b * self.lanes:(b + 1) * self.lanes] for b in range(self.banks)]


class WriteBanksPort:
    """Array write / host read of OMEM."""

    def __init__(self, dut, geo):
        self.dut, (self.banks, self.depth, self.buffers, self.lanes, self.bits) = dut, geo
        dut.a_en.value = 0
        dut.swap.value = 0

    async def cycle(self, writes=(), read_addr=0, swap=False):
        dut = self.dut
        en, addrs, datas = 0, [0] * self.banks, [0] * self.banks
        for bank, addr, value in writes:
            en |= 1 << bank
            addrs[bank], datas[bank] = addr, value
        dut.a_en.value = en
        dut.a_addr.value = pack(addrs, max(1, (self.depth - 1).bit_length()))
        dut.a_data.value = pack(datas, self.bits)
        dut.r_buf.value = max(0, self.buffers - 2)
        dut.r_addr.value = read_addr
        dut.swap.value = int(swap)
        await RisingEdge(dut.clk)
        await ReadOnly()
        word = dut.r_data.value.to_unsigned()
        await FallingEdge(dut.clk)
        return [[v] for v in unpack(word, self.bits, self.banks, signed=False)]


async def _setup(dut):
    cfg = config()
    mem = os.environ["EXION_MEM"]
    geo = geometry(cfg, mem)
    await start(dut)
    await FallingEdge(dut.clk)
    port = (WriteBanksPort if mem == "omem" else ReadBanksPort)(dut, geo)
    # RAM contents survive between the tests of one simulation; reset only rewinds ``cur``.
    global _MODEL
    if _MODEL is None:
        _MODEL = BankedMemoryModel(geo[0], geo[1], geo[2], geo[3])
    _MODEL.cur = 0
    return mem, geo, port, _MODEL


_MODEL = None


async def _step(mem, port, model, rng, geo, *, write_all=None, read_addr, swap):
    banks, depth, buffers, lanes, bits = geo
    if mem == "omem":
        writes = write_all if write_all is not None else [
            (b, rng.randrange(depth), rng.getrandbits(bits)) for b in range(banks)
            if rng.random() < 0.5]
        want = model.cycle(writes=[(b, 0, a, v) for b, a, v in writes],
                           reads=[(b, read_addr) for b in range(banks)], swap=swap, side="array")
        got = await port.cycle(writes, read_addr, swap)
    else:
        w = write_all if write_all is not None else (
            (rng.randrange(banks), rng.randrange(lanes), rng.randrange(depth),
             rng.getrandbits(bits), rng.randrange(max(1, buffers - 1)))
            if rng.random() < 0.9 else None)
        want = model.cycle(writes=[w] if w else [], reads=[(b, read_addr) for b in range(banks)],
                           swap=swap, side="host")
        got = await port.cycle(w, read_addr, swap)
    want = [[int(v) for v in bank] for bank in want]
    assert got == want, f"read of address {read_addr}: got {got}, want {want}"


@cocotb.test()
async def every_bank_every_buffer(dut):
    """Fill every word of every bank (and lane) of each buffer in turn, then read all back."""
    mem, geo, port, model = await _setup(dut)
    banks, depth, buffers, lanes, bits = geo
    rng = random.Random(7)
    for _ in range(buffers):
        if mem == "omem":
            for a in range(depth):
                writes = [(b, a, rng.getrandbits(bits)) for b in range(banks)]
                await _step(mem, port, model, rng, geo, write_all=writes, read_addr=0,
                            swap=False)
        else:
            for b in range(banks):
                for lane in range(lanes):
                    for a in range(depth):
                        await _step(mem, port, model, rng, geo,
                                    write_all=(b, lane, a, rng.getrandbits(bits), 0),
                                    read_addr=0, swap=False)
        await _step(mem, port, model, rng, geo, write_all=[] if mem == "omem" else None,
                    read_addr=0, swap=True)
        for a in range(depth):  # read back the whole buffer (its write happened before swap)
            await _step(mem, port, model, rng, geo, write_all=[] if mem == "omem" else None,
                        read_addr=a, swap=False)


@cocotb.test()
async def pingpong_continuous(dut):
    """Writes and reads every cycle with swaps at random moments: nothing lost or duplicated."""
    mem, geo, port, model = await _setup(dut)
    rng = random.Random(11)
    for _ in range(1500):
        await _step(mem, port, model, rng, geo, read_addr=rng.randrange(geo[1]),
                    swap=rng.random() < 0.03)
