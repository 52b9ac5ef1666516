"""cocotb bench of the SDUE with its memories (hw/sdue_top.py).

Each case builds a GEMM, schedules its output mask with a golden ConMerge strategy, loads IMEM,
WMEM and the schedule memory group by group through the host ports, runs, reads OMEM back and
compares every output with golden.sdue.sdue_outputs and the busy cycles with
golden.cycle_model.compute_cycles. Cases arrive as JSON in EXION_SDUE_CASES.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from golden import conmerge, intsem
from golden.cycle_model import compute_cycles
from golden.schedule import check_schedule, pack_block
from golden.sdue import sdue_outputs, wmem_image

from .tb_common import config, pack, start, unpack


class SdueHost:
    """Host-side driver of SdueTop: memory loads, runs, OMEM read-back."""

    def __init__(self, dut, cfg):
        self.dut, self.cfg = dut, cfg
        for name in ("imem_w_en", "wmem_w_en", "smem_w_en", "start", "imem_swap", "wmem_swap",
                     "omem_swap"):
            getattr(dut, name).value = 0

    async def _strobe(self):
        await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)

    async def load_imem(self, x_group):
        """``x_group``: (rows, K) codes, row r into bank r, lane chunks at addresses 0..kc-1."""
        cfg, dut = self.cfg, self.dut
        kc = intsem.lane_chunks(x_group.shape[1], cfg.lanes)
        padded = np.zeros((cfg.rows, kc * cfg.lanes), np.int64)
        padded[:, :x_group.shape[1]] = x_group
        dut.imem_w_en.value = 1
        dut.imem_w_buf.value = 0
        for r in range(cfg.rows):
            for a in range(kc):
                dut.imem_w_bank.value = r
                dut.imem_w_addr.value = a
                dut.imem_w_data.value = pack(padded[r, a * cfg.lanes:(a + 1) * cfg.lanes],
                                             cfg.data_width)
                await self._strobe()
        dut.imem_w_en.value = 0

    async def load_wmem(self, image):
        """``image``: (cols, words, merge_degree, lanes) from golden.sdue.wmem_image."""
        cfg, dut = self.cfg, self.dut
        dut.wmem_w_en.value = 1
        dut.wmem_w_buf.value = 0
        for c in range(image.shape[0]):
            for a in range(image.shape[1]):
                for d in range(image.shape[2]):
                    dut.wmem_w_bank.value = c
                    dut.wmem_w_lane.value = d
                    dut.wmem_w_addr.value = a
                    dut.wmem_w_data.value = pack(image[c, a, d], cfg.data_width)
                    await self._strobe()
        dut.wmem_w_en.value = 0

    async def load_schedule(self, blocks):
        dut = self.dut
        dut.smem_w_en.value = 1
        for i, b in enumerate(blocks):
            dut.smem_w_addr.value = i
            dut.smem_w_data.value = pack_block(b, self.cfg)
            await self._strobe()
        dut.smem_w_en.value = 0

    async def swap(self, *mems):
        for mem in mems:
            getattr(self.dut, f"{mem}_swap").value = 1
        await self._strobe()
        for mem in mems:
            getattr(self.dut, f"{mem}_swap").value = 0

    async def run(self, n_blocks, kc, shift, timeout=200000):
        dut = self.dut
        dut.n_blocks.value = n_blocks
        dut.kc.value = kc
        dut.shift.value = shift
        dut.start.value = 1
        await self._strobe()
        dut.start.value = 0
        for _ in range(timeout):
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.done.value:
                cycles = dut.cycles.value.to_unsigned()
                await FallingEdge(dut.clk)
                return cycles
        raise AssertionError(f"run of {n_blocks} blocks did not finish in {timeout} cycles")

    async def read_omem(self, channels):
        """Host-side OMEM buffer contents: (rows, channels) signed outputs."""
        cfg, dut = self.cfg, self.dut
        out = np.zeros((cfg.rows, channels), np.int64)
        # After a swap the buffer the array just filled is the last host-side one.
        dut.omem_r_buf.value = max(0, cfg.omem_buffers - 2)
        for n in range(channels):
            dut.omem_r_addr.value = n
            await RisingEdge(dut.clk)
            await ReadOnly()
            out[:, n] = unpack(dut.omem_r_data.value.to_unsigned(), cfg.data_width, cfg.rows)
            await FallingEdge(dut.clk)
        return out


def make_case(cfg, case, rng):
    """Operands and mask of one case description (dict from the pytest side)."""
    m, n, k = case["tokens"], case["channels"], case["k"]
    lo, hi = (cfg.data_min, cfg.data_max) if case.get("extreme") else (-300, 300)
    if case.get("extreme"):
        x = np.full((m, k), cfg.data_min, np.int64)
        w = rng.choice([cfg.data_min, cfg.data_max], size=(k, n)).astype(np.int64)
    else:
        x = rng.integers(lo, hi + 1, size=(m, k))
        w = rng.integers(lo, hi + 1, size=(k, n))
    kind = case.get("mask", "uniform")
    if kind == "ones":
        mask = np.ones((m, n), bool)
    elif kind == "zeros":
        mask = np.zeros((m, n), bool)
    else:
        mask = conmerge.synthetic_mask(m, n, case["sparsity"], kind, seed=case["seed"])
    return x, w, mask


@cocotb.test()
async def gemm_cases(dut):
    """Every case: outputs bit-exact with the golden model, cycles equal to the cycle model."""
    cfg = config()
    cases = json.loads(os.environ["EXION_SDUE_CASES"])
    await start(dut)
    await FallingEdge(dut.clk)
    host = SdueHost(dut, cfg)
    omem = np.zeros((cfg.omem_buffers, cfg.rows, cfg.words("omem")), np.int64)  # model of OMEM
    cur = 0  # OMEM buffer on the array side
    for case in cases:
        rng = np.random.default_rng(case["seed"])
        x, w, mask = make_case(cfg, case, rng)
        sched = conmerge.schedule(mask, cfg, case["strategy"])
        check_schedule(sched, mask)
        want, written = sdue_outputs(x, w, sched, case["shift"], cfg)
        kc = intsem.lane_chunks(x.shape[1], cfg.lanes)
        for g in range(sched.groups):
            blocks = [b for b in sched.blocks if b.group == g]
            tokens = sched.group_tokens(g)
            xg = np.zeros((cfg.rows, x.shape[1]), np.int64)
            xg[tokens >= 0] = x[tokens[tokens >= 0]]
            await host.load_imem(xg)
            await host.load_wmem(wmem_image(w, sched, cfg, blocks))
            await host.load_schedule(blocks)
            await host.swap("imem", "wmem")
            cycles = await host.run(len(blocks), kc, case["shift"])
            # What the array-side OMEM buffer must now hold: what it held before, with this
            # group's scheduled outputs written over it (so a stray write is caught too).
            image = omem[cur]
            for r in np.nonzero(tokens >= 0)[0]:
                n = np.nonzero(written[tokens[r]])[0]
                image[r, n] = want[tokens[r], n]
            await host.swap("omem")
            cur = (cur + 1) % cfg.omem_buffers
            got = await host.read_omem(mask.shape[1])
            expect = image[:, :mask.shape[1]]
            assert np.array_equal(got, expect), (
                f"case {case}: group {g}: {np.count_nonzero(got != expect)} outputs differ; "
                f"first at {np.argwhere(got != expect)[0].tolist()}")
            model = compute_cycles(len(blocks), x.shape[1], cfg)
            if blocks:
                assert cycles == model, f"case {case}: group {g}: {cycles} cycles, model {model}"
            dut._log.info("case %s group %d: %d blocks, %d cycles (model %d)",
                          case["strategy"], g, len(blocks), cycles, model)
            if os.environ.get("EXION_SDUE_REPORT"):  # bench/bench_rtl.py collects these
                with open(os.environ["EXION_SDUE_REPORT"], "a") as f:
                    f.write(json.dumps({**case, "group": g, "blocks": len(blocks),
                                        "cycles": cycles, "model": model,
                                        "active": int(mask[tokens[tokens >= 0]].sum())})
                            + "\n")
