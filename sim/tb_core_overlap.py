"""ConMerge overlapped with compute on the core (hw/core.py): SMEM halves.

One FFN-Reuse sparse iteration over several row groups, twice: in the serial order (``half``
0, today's command stream: ``SCHEDULE`` g, sparse ``GEMM`` g) and overlapped (``SCHEDULE`` of
group g + 1 into one SMEM half while the ``GEMM`` of group g reads the other,
docs/core.md, "ConMerge overlapped with compute"). Every command also goes to the
command-level model (:class:`golden.core_model.CoreModel`): the ``READ_OMEM`` frames must be
bit-exact with it, and ``BLOCKS``, ``BLOCKS_H1``, ``BLOCKS_H2``, ``CYCLES``,
``SCHED_CYCLES``, ``DONE`` equal to it after each order; the model's ``GEMM`` outputs are
also checked against ``golden.ffn_reuse.reuse_fc1_int`` row group by row group. A
``SCHEDULE`` with ``half`` = 3 is refused (``BAD_FIELD``) as the model says.

All groups share one keep-mask (written once through the mask window), so the host does not
touch the mask memory while a ``SCHEDULE`` reads it and one WMEM image serves both halves;
each group has its own tokens. The wall cycles of each order, from its first command to its
last ``READ_OMEM`` frame, go to ``EXION_OVERLAP_REPORT`` (a JSON file) with the per-group
``SCHEDULE`` cycles and blocks, for bench/bench_core_overlap.py (run it with
``EXION_CORE_PAUSE=0``).

Environment: ``EXION_OVERLAP_GROUPS`` (row groups, default 6), ``EXION_OVERLAP_KC`` (lane
chunks of K, default 8), ``EXION_OVERLAP_REPORT``.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotbext.axi import AxiStreamFrame

from exion.regmap import CAUSES, encode
from golden import conmerge, cycle_model, eager, ffn_reuse, intsem
from golden.core_model import CoreModel
from golden.sdue import wmem_image
from sim.core_driver import CoreTB
from sim.tb_common import pack, write_report

#: Registers compared with the model after each order.
COMPARED = ("BLOCKS", "BLOCKS_H1", "BLOCKS_H2", "CYCLES", "SCHED_CYCLES", "DONE", "CAUSE")


class Twin:
    """The core and the command-level model driven with the same commands."""

    def __init__(self, tb: CoreTB):
        self.tb, self.cfg = tb, tb.cfg
        self.model = CoreModel(tb.cfg)
        self.reads = 0          # READ_OMEM frames issued and not yet received

    async def issue(self, op: str, **fields):
        args, word = encode(op, **fields)
        await self.tb.issue_raw(args, word)
        self.model.issue(args, word)

    async def refused(self, op: str, cause: str, **fields):
        """Issue a command both sides refuse with ``cause``, then clear the error; the core
        and the model must be equal after it (nothing else changed)."""
        args, word = encode(op, **fields)
        await self.tb.issue_raw(args, word, record=False)
        assert self.model.issue(args, word) == CAUSES[cause]
        s = await self.tb.wait_idle()
        assert s["error"] and await self.tb.read("CAUSE") == CAUSES[cause]
        await self.tb.write("CTRL", 1)
        self.model.clear_error()
        await self.compare(f"after refused {op} ({cause})")

    async def load_imem(self, buf: int, x):
        cfg = self.cfg
        kc = intsem.lane_chunks(x.shape[1], cfg.lanes)
        full = np.zeros((cfg.rows, kc * cfg.lanes), np.int64)
        full[:x.shape[0], :x.shape[1]] = x
        await self.issue("LOAD_IMEM", base=0, count=kc, buf=buf)
        lanes = full.reshape(cfg.rows * kc, cfg.lanes)          # bank by bank, word by word
        self.model.push_imem(lanes)
        await self.tb.src_i.send(AxiStreamFrame([pack(v, cfg.data_width) for v in lanes]))

    async def load_wmem(self, buf: int, img):
        cfg = self.cfg
        await self.issue("LOAD_WMEM", base=0, count=img.shape[1], buf=buf, streams=0)
        lanes = img.transpose(0, 2, 1, 3).reshape(-1, cfg.lanes)   # bank, stream, word
        self.model.push_wmem(lanes)
        await self.tb.src_w.send(AxiStreamFrame([pack(v, cfg.data_width) for v in lanes]))

    async def write_mask(self, mask):
        await self.tb.write_mask(mask)
        for ch in range(mask.shape[1]):
            self.model.state.write_mask_cv(ch, sum(1 << r for r in range(mask.shape[0])
                                                   if mask[r, ch]))

    async def read_omem(self, buf: int, n: int):
        await self.issue("READ_OMEM", base=0, count=n, buf=buf)
        self.reads += 1

    async def frames(self, n: int, label: str):
        """Receive the pending READ_OMEM frames and compare them with the model's."""
        outs = [o for o in self.model.run() if o.frame is not None]
        assert len(outs) == self.reads, f"{label}: model has {len(outs)} frames"
        for i, o in enumerate(outs):
            got = await self.tb.recv_omem(n)
            exp = o.frame.T
            bad = np.argwhere(got != exp)
            assert not len(bad), (f"{label}, frame {i}: {len(bad)} outputs differ from the "
                                  f"model, first {tuple(bad[0])}")
        self.reads = 0

    async def compare(self, label: str):
        await self.tb.expect_ok()
        self.model.run()
        want = self.model.regs.as_dict()
        for name in COMPARED:
            got = await self.tb.read(name)
            assert got == want[name], f"{label}: {name} = {got}, model {want[name]}"


def _data(cfg, rng, groups):
    """Weights, tokens per group, one keep-mask, shift: an FFN-Reuse FC1 whose schedule fits
    an SMEM half and whose blocks fit one WMEM buffer."""
    half = cfg.schedule_depth // 2
    kc = min(int(os.environ.get("EXION_OVERLAP_KC", "8")), cfg.words("imem"))
    k = kc * cfg.lanes
    n = min(32, cfg.words("omem"))
    for _ in range(100):
        mask = rng.random((cfg.rows, n)) < 0.3
        sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
        nb = len(sched.blocks)
        if 0 < nb <= half and nb * kc <= cfg.words("wmem"):
            break
    else:
        raise AssertionError("no keep-mask whose schedule fits an SMEM half")
    hi = cfg.data_max // 2
    w = rng.integers(-hi, hi + 1, (k, n))
    xs = [rng.integers(-hi, hi + 1, (cfg.rows, k)) for _ in range(groups)]
    shift = eager.auto_shift(intsem.int_matmul(xs[0], w, cfg.lanes, cfg.acc_width),
                             cfg.data_width)
    return w, xs, mask, sched, kc, k, n, shift


@cocotb.test()
async def overlap(dut):
    """Serial and overlapped sparse iterations: outputs, registers and wall cycles."""
    tb = await CoreTB.started(dut)
    cfg = tb.cfg
    groups = int(os.environ.get("EXION_OVERLAP_GROUPS", "6"))
    rng = np.random.default_rng(31)
    w, xs, mask, sched, kc, k, n, shift = _data(cfg, rng, groups)
    twin = Twin(tb)
    await twin.write_mask(mask)
    await twin.load_wmem(0, wmem_image(w, sched, cfg))
    # OMEM before the first group: every unkept output is this cache (memories power up 0)
    cache = np.zeros((cfg.rows, n), np.int64)
    report = {"groups": groups, "k": k, "n_ch": n, "blocks": len(sched.blocks),
              "schedule": cycle_model.schedule_cycles(
                  [sum(1 << r for r in range(cfg.rows) if mask[r, c]) for c in range(n)],
                  cfg=cfg),
              "gemm": cycle_model.compute_cycles(len(sched.blocks), k, cfg),
              "pause": tb.pause}

    def gemm(g, half):
        return dict(flags=("SPARSE",), kc=kc, shift=shift, ibuf=g % 2, wbuf=0, obuf=g % 2,
                    n_rows=cfg.rows, half=half)

    # serial: SCHEDULE g, GEMM g (whole SMEM), the read of g - 1 behind GEMM g
    t0 = tb.cycle
    for g in range(groups):
        await twin.load_imem(g % 2, xs[g])
        await twin.issue("SCHEDULE", n_ch=n)
        await twin.issue("GEMM", **gemm(g, 0))
        if g:
            await twin.read_omem((g - 1) % 2, n)
    await twin.read_omem((groups - 1) % 2, n)
    await twin.frames(n, "serial")
    report["serial"] = tb.cycle - t0
    await twin.compare("serial")
    assert await tb.read("BLOCKS") == len(sched.blocks)
    assert await tb.read("CYCLES") == report["gemm"]
    assert await tb.read("SCHED_CYCLES") == report["schedule"]
    # the model's sparse GEMM is golden.ffn_reuse's FFN-Reuse FC1 (last two groups in OMEM)
    for g in (groups - 2, groups - 1):
        exp = ffn_reuse.reuse_fc1_int(xs[g], w, mask, cache, shift, cfg)
        got = twin.model.state.omem[g % 2, :, :n]
        assert np.array_equal(got[mask], exp[mask]), f"group {g}: model != reuse_fc1_int"

    # overlapped: SCHEDULE g + 1 (one half) beside GEMM g (the other half)
    t0 = tb.cycle
    await twin.load_imem(0, xs[0])
    await twin.issue("SCHEDULE", n_ch=n, half=1)
    for g in range(groups):
        if g + 1 < groups:
            await twin.load_imem((g + 1) % 2, xs[g + 1])
            await twin.issue("SCHEDULE", n_ch=n, half=1 + (g + 1) % 2)
        await twin.issue("GEMM", **gemm(g, 1 + g % 2))
        if g:
            await twin.read_omem((g - 1) % 2, n)
    await twin.read_omem((groups - 1) % 2, n)
    await twin.frames(n, "overlapped")
    report["overlapped"] = tb.cycle - t0
    await twin.compare("overlapped")
    for name in ("BLOCKS_H1", "BLOCKS_H2"):
        assert await tb.read(name) == len(sched.blocks), name
    assert await tb.read("CYCLES") == report["gemm"]
    assert await tb.read("SCHED_CYCLES") == report["schedule"]
    # SMEM halves hold the golden vectors
    words = sched.words()
    base, ss = tb.map.smem_base, tb.map.smem_stride
    for first in (0, cfg.schedule_depth // 2):
        for b, want in enumerate(words):
            v = 0
            for i in range(tb.map.smem_words):
                v |= await tb.read(base + 4 * ((first + b) * ss + i)) << (32 * i)
            assert v & ((1 << tb.map.block_bits) - 1) == want, f"SMEM vector {first + b}"

    # half = 3 is refused, as the model says; nothing else changes
    await twin.refused("SCHEDULE", "BAD_FIELD", n_ch=n, half=3)
    await tb.check_traffic()
    write_report("EXION_OVERLAP_REPORT", report)
    tb.dut._log.info("overlap: %s", report)
