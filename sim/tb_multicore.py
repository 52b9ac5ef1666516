"""cocotb bench of the N-core top (hw/multicore.py): the cores behind one control port.

Each core is driven by its own :class:`~sim.core_driver.CoreTB` (its streams ``c<i>_*``, its
registers at ``i * core_stride``) sharing one ``cocotbext-axi`` AXI4-Lite master, with random
pauses on every AXI4-Lite channel and stream. Expected values come from the golden model
through the core bench's ``run_dense_gemm`` (sim/tb_core.py) and the cycle model.
"""

from __future__ import annotations

import logging

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from exion.regmap import CAUSES, ID_VALUE, RESPONSES, RegisterMap, encode
from sim.core_driver import CoreTB
from sim.tb_common import config, start
from sim.tb_core import run_dense_gemm


async def _setup(dut) -> list[CoreTB]:
    cfg = config()
    logging.getLogger("cocotb.exion_multicore.s_axil").setLevel(logging.WARNING)
    for i in range(cfg.cores):
        for s in ("s_axis_imem", "s_axis_wmem", "m_axis"):
            logging.getLogger(f"cocotb.exion_multicore.c{i}_{s}").setLevel(logging.WARNING)
    # core 0's driver creates the shared AXI4-Lite master (and its pause generators)
    tbs = [CoreTB(dut, core=0)]
    tbs += [CoreTB(dut, core=i, axil=tbs[0].axil) for i in range(1, cfg.cores)]
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
