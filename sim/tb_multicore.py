"""cocotb bench of the N-core top (hw/multicore.py): the cores behind one control port.

Each core is driven by its own :class:`~sim.core_driver.CoreTB` (its streams ``c<i>_*``, its
registers at ``i * core_stride``) sharing one ``cocotbext-axi`` AXI4-Lite master, with random
pauses on every AXI4-Lite channel and stream. Expected values come from the golden model
through the core bench's ``run_dense_gemm`` (sim/tb_core.py) and the cycle model.
"""

from __future__ import annotations

import logging
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiBus, AxiRam

from exion.regmap import CAUSES, ID_VALUE, RESPONSES, RegisterMap, encode
from golden import core_mem, intsem
from golden.core_checks import Limits
from golden.sdue import dense_wmem_image
from sim.core_driver import CoreTB
from sim.dma_harness import FaultMem
from sim.tb_common import config, pauses, start
from sim.tb_core import run_dense_gemm

#: Memory behind the shared master port, and each core's slice of it (its region).
MEM_SIZE = 1 << 16
SLICE = 0x4000


async def _setup(dut) -> list[CoreTB]:
    """Drivers of every core (the first one's ``ram``: the memory behind the shared master
    port, cocotbext-axi's AxiRam, created before the reset, which its interfaces wait for)."""
    cfg = config()
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, mem=FaultMem(MEM_SIZE))
    logging.getLogger("cocotb.exion_multicore.s_axil").setLevel(logging.WARNING)
    for i in range(cfg.cores):
        for s in ("s_axis_imem", "s_axis_wmem", "m_axis"):
            logging.getLogger(f"cocotb.exion_multicore.c{i}_{s}").setLevel(logging.WARNING)
    # core 0's driver creates the shared AXI4-Lite master (and its pause generators)
    tbs = [CoreTB(dut, core=0)]
    tbs += [CoreTB(dut, core=i, axil=tbs[0].axil) for i in range(1, cfg.cores)]
    tbs[0].ram = ram
    logging.getLogger("cocotb.exion_multicore.m_axi").setLevel(logging.WARNING)
    await start(dut)
    await ClockCycles(dut.clk, 2)
    for tb in tbs:
        for buf in range(cfg.omem_buffers):
            tb.omem[buf] = await tb.read_omem(buf, 0, cfg.words("omem"))
    return tbs


@cocotb.test()
async def address_space(dut):
    """Every core answers at its own base; a select past the last core is DECERR (reads 0);
    an argument register written through one core's window is not seen by another."""
    tbs = await _setup(dut)
    m = RegisterMap(tbs[0].cfg)
    for i, tb in enumerate(tbs):
        assert await tb.read("ID") == ID_VALUE, f"core {i} ID"
        await tb.write("ARG0", 0x1000 + i)
    for i, tb in enumerate(tbs):
        assert await tb.read("ARG0") == 0x1000 + i, f"core {i} ARG0 mixed with another core's"
    axil = tbs[0].axil
    for sel in range(len(tbs), 1 << (m.top_addr_width - m.addr_width)):
        r = await axil.read(sel * m.core_stride, 4)
        assert r.resp == RESPONSES["DECERR"] and r.data == b"\0" * 4, f"select {sel}: {r}"
        w = await axil.write(sel * m.core_stride + 0x20, b"\xff" * 4)
        assert w.resp == RESPONSES["DECERR"], f"select {sel} write: {w}"


@cocotb.test()
async def cores_at_once(dut):
    """Every core runs a dense GEMM of several tiles and row groups at the same time, its
    commands interleaved with the others' on the control port: bit-exact outputs, CYCLES
    equal to the cycle model, byte counters equal to the traffic model, per core."""
    tbs = await _setup(dut)
    cfg = tbs[0].cfg
    k = min(2, cfg.words("imem")) * cfg.lanes
    n = min(2 * cfg.cols, cfg.words("omem"))
    tasks = [cocotb.start_soon(run_dense_gemm(tb, np.random.default_rng(50 + i), 2, k, n, 3,
                                              f"core {i}", tiles=2))
             for i, tb in enumerate(tbs)]
    for t in tasks:
        await t
    for tb in tbs:
        await tb.check_traffic()


@cocotb.test()
async def error_stays_in_its_core(dut):
    """A refused command sets error and cause in its core only; the other core keeps running
    commands; CTRL.clear of the failing core makes it work again."""
    tbs = await _setup(dut)
    cfg = tbs[0].cfg
    bad_args, bad_word = encode("LOAD_IMEM", base=0, count=1, buf=cfg.imem_buffers)
    await tbs[1].issue_raw(bad_args, bad_word, record=False)
    assert (await tbs[1].status())["error"]
    assert await tbs[1].read("CAUSE") == CAUSES["BAD_BUFFER"]
    assert not (await tbs[0].status())["error"] and await tbs[0].read("CAUSE") == 0
    k, n = cfg.lanes, cfg.cols
    await run_dense_gemm(tbs[0], np.random.default_rng(7), 1, k, n, 2, "core 0 beside an error")
    assert await tbs[1].read("CAUSE") == CAUSES["BAD_BUFFER"], "core 1's cause changed"
    await tbs[1].write("CTRL", 1)
    assert not (await tbs[1].status())["error"]
    await run_dense_gemm(tbs[1], np.random.default_rng(8), 1, k, n, 2, "core 1 after clear")


@cocotb.test()
async def shared_memory_port(dut):
    """Every core runs a dense GEMM with its tokens and weights loaded and its outputs written
    through its master port (``MEM`` commands), all cores at once: their ports share ``m_axi``
    through the arbiter, one ``AxiRam`` with random pauses on its five channels. Each core
    works in its own region; outputs bit-exact with golden.intsem, the byte counters equal to
    the traffic model, nothing written outside a core's output rows."""
    tbs = await _setup(dut)
    cfg = tbs[0].cfg
    ram = tbs[0].ram
    ram.read_if.ar_channel.queue_occupancy_limit = 64
    rng_p = random.Random(5)
    for ch in (ram.read_if.ar_channel, ram.read_if.r_channel, ram.write_if.aw_channel,
               ram.write_if.w_channel, ram.write_if.b_channel):
        ch.set_pause_generator(pauses(random.Random(rng_p.random()), tbs[0].pause or 0.0))
    lim = Limits.of(cfg)
    ib, _ob = core_mem.item_bytes(cfg.lanes, cfg.rows, cfg.data_width)
    bb = cfg.bus_bytes
    stride = lambda n: -(-n // bb) * bb       # noqa: E731  gap-free rows

    async def run(i: int, tb: CoreTB):
        rng = np.random.default_rng(70 + i)
        base = (i + 1) * SLICE
        await tb.write("REGION_BASE", base)
        await tb.write("REGION_END", base + SLICE)
        kc = min(2, cfg.words("imem"))
        k, n = kc * cfg.lanes, min(2 * cfg.cols, cfg.words("omem"))
        hi = cfg.data_max // 2
        x = rng.integers(-hi, hi + 1, (cfg.rows, k))
        w = rng.integers(-hi, hi + 1, (k, n))
        img = dense_wmem_image(w, cfg)[:, :, :1, :]            # dense blocks: stream 0 only
        count_w = img.shape[1]
        fw = dict(base=0, count=count_w, addr=base, streams=1, stride=stride(count_w * ib))
        vec = img.transpose(0, 2, 1, 3).reshape(cfg.cols, count_w, cfg.lanes)
        core_mem.place_rows(ram.mem, core_mem.mem_descriptor("LOAD_WMEM", fw, lim),
                            core_mem.lane_rows(vec, cfg.data_width))
        fi = dict(base=0, count=kc, addr=base + 0x1000, stride=stride(kc * ib))
        core_mem.place_rows(ram.mem, core_mem.mem_descriptor("LOAD_IMEM", fi, lim),
                            core_mem.lane_rows(x.reshape(cfg.rows, kc, cfg.lanes),
                                               cfg.data_width))
        fo = dict(base=0, count=n, addr=base + 0x2000, stride=stride(_ob))
        out = core_mem.mem_descriptor("READ_OMEM", fo, lim)
        await tb.issue("LOAD_WMEM", flags=("MEM",), buf=0, **fw)
        await tb.issue("LOAD_IMEM", flags=("MEM",), buf=0, **fi)
        await tb.issue("GEMM", kc=kc, shift=4, n_ch=n, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
        await tb.issue("READ_OMEM", flags=("MEM",), buf=0, **fo)
        await with_timeout(tb.expect_ok(), 500, "us")
        got = np.array(core_mem.out_frame(ram.mem, out, cfg.rows, cfg.data_width)).T
        want = intsem.requantize(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), 4,
                                 cfg.data_width)
        assert np.array_equal(got, want), f"core {i}: outputs through the shared port differ"
        return out

    tasks = [cocotb.start_soon(run(i, tb)) for i, tb in enumerate(tbs)]
    outs = [await t for t in tasks]
    for tb in tbs:
        await tb.check_traffic()
    # nothing but inputs and each core's output rows changed
    touched = set()
    for i, d in enumerate(outs):
        for r in range(d.rows):
            touched.update(range(d.row_addr(r), d.row_addr(r) + d.row_bytes))
    inputs = set()
    for i in range(len(tbs)):
        inputs.update(range((i + 1) * SLICE, (i + 1) * SLICE + 0x2000))
    stray = [a for a in range(MEM_SIZE) if ram.mem[a] and a not in touched | inputs]
    assert not stray, f"bytes written outside the output rows: {[hex(a) for a in stray[:8]]}"
