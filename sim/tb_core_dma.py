"""cocotb bench of the core's master port (hw/core_dma.py in hw/core.py): ``MEM`` loads and reads
against cocotbext-axi's ``AxiRam``, every command also run by the command-level model.

The host drives the core through sim/core_driver.py (AXI4-Lite); the memory is ``AxiRam`` over
sim/dma_harness.py's :class:`~sim.dma_harness.FaultMem` (a byte range that fails: SLVERR, or
DECERR through :func:`~sim.dma_harness.decerr_instead_of_slverr`). Every command goes to the RTL
and to :class:`golden.core_model.CoreModel`, whose :class:`golden.core_mem.MemPort` holds a
copy of the memory: after each step the whole memory, ``STATUS.error``, ``CAUSE``, ``ERR_CMD``,
``DONE``, ``CYCLES``, ``BLOCKS`` and the byte counters must equal the model's, and with no
pauses ``MEM_RD_CYCLES`` / ``MEM_WR_CYCLES`` too. GEMM outputs are also checked against
``golden.intsem`` / ``golden.ffn_reuse`` directly. Random pauses: AxiRam's five channels and
the AXI4-Lite channels (cocotbext-axi pause generators).
"""

from __future__ import annotations

import json
import logging
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge, ReadOnly, with_timeout
from cocotbext.axi import AxiBus, AxiRam

from exion.regmap import encode
from golden import conmerge, core_mem, cycle_model, dma, eager, ffn_reuse, intsem
from golden.core_model import CoreModel
from golden.sdue import dense_wmem_image, wmem_image
from sim.core_driver import CoreTB
from sim.dma_harness import FaultMem, decerr_instead_of_slverr
from sim.tb_common import config, pauses, start

MEM_SIZE = 1 << 16
REGION = (0x1000, 0xF000)
_MODEL: list = []      # one model per simulation: the core's memories outlive a test's reset


class MemTB:
    """The core, its memory on ``m_axi`` and the model, driven in step."""

    def __init__(self, dut, pause: float, seed: int, mem_size: int = MEM_SIZE):
        self.tb = tb = CoreTB(dut)
        self.cfg = cfg = tb.cfg
        self.mem = FaultMem(mem_size)
        self.decerr = False
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, mem=self.mem)
        self.ram.read_if.ar_channel.queue_occupancy_limit = 64    # takes every AR at once
        decerr_instead_of_slverr(self.ram.read_if.r_channel, "rresp", self)
        decerr_instead_of_slverr(self.ram.write_if.b_channel, "bresp", self)
        for name in ("m_axi", "s_axil", "s_axis_imem", "s_axis_wmem", "m_axis"):
            logging.getLogger(f"cocotb.exion_core.{name}").setLevel(logging.ERROR)
        if not _MODEL:
            _MODEL.append(CoreModel(cfg))
        self.model = _MODEL[0]
        self.model.reset()
        self.model.port = core_mem.MemPort(bytearray(mem_size))
        self.pause = pause
        rng = random.Random(seed)
        w, r = tb.axil.write_if, tb.axil.read_if
        for ch in (w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel,
                   self.ram.read_if.ar_channel, self.ram.read_if.r_channel,
                   self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                   self.ram.write_if.b_channel):
            ch.set_pause_generator(pauses(random.Random(rng.random()), pause) if pause else None)
            if not pause:
                ch.pause = False
        self.bb = cfg.bus_bytes
        self.ib, self.ob = core_mem.item_bytes(cfg.lanes, cfg.rows, cfg.data_width)

    async def begin(self):
        await start(self.tb.dut)
        await ClockCycles(self.tb.dut.clk, 2)
        await self.write("REGION_BASE", REGION[0])
        await self.write("REGION_END", len(self.mem) - 0x1000)

    async def write(self, name: str, value: int):
        await self.tb.write(name, value)
        self.model.write(name, value)

    def put(self, desc: dma.Descriptor, rows):
        """Input data: into the memory and the model's copy (the host writes, whatever bytes
        the bus answers with an error)."""
        fault, self.mem.fault = self.mem.fault, range(0)
        core_mem.place_rows(self.mem, desc, rows)
        self.mem.fault = fault
        core_mem.place_rows(self.model.port.mem, desc, rows)

    def fault(self, where: range, decerr: bool = False):
        self.mem.fault = where
        self.decerr = decerr
        self.model.port.fault = where
        self.model.port.fault_cause = "DMA_DECERR" if decerr else "DMA_SLVERR"

    async def cmd(self, op: str, flags=(), **fields) -> int:
        """Issue to the core and the model; returns the model's refusal cause."""
        args, word = encode(op, flags=flags, **fields)
        await self.tb.issue_raw(args, word, record=False)
        cause = self.model.issue(args, word)
        self.model.run()
        return cause

    def desc(self, op: str, **fields) -> dma.Descriptor:
        return core_mem.mem_descriptor(op, fields, self.model.limits)

    async def check(self, label: str, timing: bool = False):
        """Wait until idle; memory, status and registers against the model."""
        tb, model = self.tb, self.model
        s = await with_timeout(tb.wait_idle(), 200, "us")
        regs = model.regs.as_dict()
        assert s["error"] == model.regs.error, f"{label}: STATUS.error {s['error']}"
        names = ["CAUSE", "ERR_CMD", "DONE", "CYCLES", "BLOCKS", "BYTES_IN_LO", "BYTES_IN_HI",
                 "BYTES_OUT_LO", "BYTES_OUT_HI"]
        if timing:
            names += ["MEM_RD_CYCLES", "MEM_WR_CYCLES"]
        for name in names:
            got = await tb.read(name)
            assert got == regs[name], f"{label}: {name} = {got}, model {regs[name]}"
        # words a failed write may have written (golden.core_mem.write_rows): either value,
        # then the memory's
        for a, new in model.port.maybe.items():
            assert self.mem[a] in (new, model.port.mem[a]), \
                f"{label}: byte {a:#x} = {self.mem[a]}, neither {new} nor {model.port.mem[a]}"
            model.port.mem[a] = self.mem[a]
        model.port.maybe.clear()
        got, want = bytes(self.mem), bytes(model.port.mem)
        if got != want:
            diff = [a for a in range(len(got)) if got[a] != want[a]]
            raise AssertionError(f"{label}: memory differs at {len(diff)} bytes, first "
                                 f"{[hex(a) for a in diff[:8]]}")

    # -- data layouts (golden.core_mem) -----------------------------------------------------
    def stride(self, row_bytes: int, gap: int) -> int:
        return (-(-row_bytes // self.bb) + gap) * self.bb

    async def load_imem(self, buf: int, x, addr: int, gap: int = 0, base: int = 0):
        """A MEM load of ``x`` (its lane chunks into words ``base ..`` of every bank)."""
        cfg = self.cfg
        full = np.zeros((cfg.rows, x.shape[1]), np.int64)
        full[:x.shape[0]] = x
        kc = intsem.lane_chunks(x.shape[1], cfg.lanes)
        pad = np.zeros((cfg.rows, kc * cfg.lanes), np.int64)
        pad[:, :x.shape[1]] = full
        vec = pad.reshape(cfg.rows, kc, cfg.lanes)
        f = dict(base=base, count=kc, addr=addr, stride=self.stride(kc * self.ib, gap))
        self.put(self.desc("LOAD_IMEM", **f), core_mem.lane_rows(vec, cfg.data_width))
        return await self.cmd("LOAD_IMEM", flags=("MEM",), buf=buf, **f)

    async def load_wmem(self, buf: int, img, addr: int, streams: int = 0, gap: int = 0):
        cfg = self.cfg
        s = streams or cfg.merge_degree
        count = img.shape[1]
        vec = np.asarray(img)[:, :, :s, :].transpose(0, 2, 1, 3).reshape(cfg.cols * s, count,
                                                                          cfg.lanes)
        f = dict(base=0, count=count, addr=addr, streams=streams,
                 stride=self.stride(count * self.ib, gap))
        self.put(self.desc("LOAD_WMEM", **f), core_mem.lane_rows(vec, cfg.data_width))
        return await self.cmd("LOAD_WMEM", flags=("MEM",), buf=buf, **f)

    async def read_omem(self, buf: int, count: int, addr: int, gap: int = 0, pack: bool = False,
                        base: int = 0):
        """A MEM read (``pack``: with PACK, the beats back to back; ``gap`` then unused)."""
        f = dict(base=base, count=count, addr=addr,
                 stride=0 if pack else self.stride(self.ob, gap))
        await self.cmd("READ_OMEM", flags=("MEM", "PACK") if pack else ("MEM",), buf=buf, **f)
        return self.desc("READ_OMEM", pack=pack, **f)

    def outputs(self, desc: dma.Descriptor) -> np.ndarray:
        """(rows, count) outputs a MEM read left in memory (with PACK: one row of beats)."""
        pack = desc.rows == 1 and desc.row_bytes > self.ob
        return np.array(core_mem.out_frame(self.mem, desc, self.cfg.rows, self.cfg.data_width,
                                           pack), np.int64).T


async def _bus_monitor(dut, split: int, tally: dict):
    """Count, each cycle, R beats of token bursts (AR address >= ``split``), of weight bursts,
    W beats, cycles with an R beat of either and cycles with both engines' bursts in flight:
    where the port's cycles go (bench_core_dma.py's breakdown)."""
    pending = []            # [is_token, beats left] of every AR, in order (one ID)
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if not tally["on"]:
            continue
        if int(dut.m_axi_rvalid.value) and int(dut.m_axi_rready.value) and pending:
            kind = "r_token" if pending[0][0] else "r_weight"
            tally[kind] += 1
            pending[0][1] -= 1
            if not pending[0][1]:
                pending.pop(0)
        if int(dut.m_axi_arvalid.value) and int(dut.m_axi_arready.value):
            pending.append([int(dut.m_axi_araddr.value) >= split,
                            int(dut.m_axi_arlen.value) + 1])
        if int(dut.m_axi_wvalid.value) and int(dut.m_axi_wready.value):
            tally["w"] += 1
        kinds = {k for k, _ in pending}
        tally["both_in_flight"] += len(kinds) == 2


def _rand(rng, shape, cfg, scale=0.5):
    hi = int(cfg.data_max * scale)
    return rng.integers(-hi, hi + 1, size=shape, dtype=np.int64)


# -- tests ----------------------------------------------------------------------------------

@cocotb.test()
async def dense_gemm(dut):
    """Dense GEMM with every operand and result through the master port: two row groups
    (double-buffered IMEM / OMEM), gapped and gap-free rows, random pauses on every AXI
    channel; outputs against golden.intsem, all state against the model."""
    t = MemTB(dut, 0.3, cocotb.RANDOM_SEED)
    cfg = t.cfg
    rng = np.random.default_rng(11)
    await t.begin()
    k = min(2 * cfg.lanes + 1, t.tb.kc_max * cfg.lanes)
    kc = intsem.lane_chunks(k, cfg.lanes)
    n = min(2 * cfg.cols + 1, cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    w = _rand(rng, (k, n), cfg)
    xs = [_rand(rng, (cfg.rows, k), cfg), _rand(rng, (cfg.rows - 1, k), cfg)]
    assert await t.load_wmem(0, dense_wmem_image(w, cfg), 0x1000, streams=1, gap=1) == 0
    outs = []
    for g, x in enumerate(xs):
        assert await t.load_imem(g % cfg.imem_buffers, x, 0x4000 + 0x800 * g, gap=g) == 0
        if g == 1 and kc > 1:
            # chunks 1.. again from another matrix, from word 1: two lane vectors a cycle
            # written from an odd word (the odd half of a bank first, hw/mem.py)
            x3 = _rand(rng, x.shape, cfg)
            assert await t.load_imem(1 % cfg.imem_buffers, x3[:, cfg.lanes:], 0x6000,
                                     base=1) == 0
            xs[1] = x = np.concatenate([x[:, :cfg.lanes], x3[:, cfg.lanes:]], axis=1)
        assert await t.cmd("GEMM", kc=kc, shift=5, n_ch=n, ibuf=g % cfg.imem_buffers, wbuf=0,
                           obuf=g % cfg.omem_buffers, n_rows=len(x)) == 0
        outs.append(await t.read_omem(g % cfg.omem_buffers, n, 0x8000 + 0x1000 * g, gap=1 - g,
                                      pack=g == 1))
    await t.check("dense")
    for x, d in zip(xs, outs):
        want = intsem.requantize(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), 5,
                                 cfg.data_width)
        assert np.array_equal(t.outputs(d)[:len(x)], want), "dense GEMM outputs differ"
    t.tb.commands = [(op, dict(f, mem=1)) for op, f in   # (PACK moves the same bytes)
                     [("LOAD_WMEM", dict(count=kc * -(-n // cfg.cols), streams=1))]
                     + [("LOAD_IMEM", dict(count=kc))] * 2
                     + [("LOAD_IMEM", dict(count=kc - 1))] * (kc > 1)
                     + [("READ_OMEM", dict(count=n))] * 2]
    await t.tb.check_traffic()     # golden.cycle_model.stream_bytes of the MEM commands


@cocotb.test()
async def ffn_sparse(dut):
    """An FFN-Reuse iteration through the master port: a dense FFN_MASK GEMM, SCHEDULE, the
    sparse WMEM image (golden.sdue.wmem_image) loaded from memory, the sparse GEMM into the
    same OMEM buffer, read back to memory; against golden.ffn_reuse and the model."""
    t = MemTB(dut, 0.3, cocotb.RANDOM_SEED + 1)
    cfg = t.cfg
    rng = np.random.default_rng(23)
    await t.begin()
    k = min(2 * cfg.lanes + 3, t.tb.kc_max * cfg.lanes)
    kc = intsem.lane_chunks(k, cfg.lanes)
    n = min(3 * cfg.cols + 1, cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    w1 = _rand(rng, (k, n), cfg)
    x = _rand(rng, (cfg.rows, k), cfg)
    acc = intsem.int_matmul(x, w1, cfg.lanes, cfg.acc_width)
    shift = eager.auto_shift(acc, cfg.data_width)
    q = intsem.requantize(acc, shift, cfg.data_width)
    th_hi, th_lo = int(np.percentile(q, 76)), int(np.percentile(q, 6))
    await t.load_wmem(0, dense_wmem_image(w1, cfg), 0x1000, streams=1)
    await t.load_imem(0, x, 0x3000)
    await t.cmd("GEMM", flags=("FFN_MASK",), kc=kc, shift=shift, n_ch=n, ibuf=0, wbuf=0,
                obuf=0, n_rows=cfg.rows, th_hi=th_hi, th_lo=th_lo)
    cache = q
    mask = ffn_reuse.keep_mask_int(cache, th_hi, th_lo)
    assert 0 < mask.sum() < mask.size
    x2 = np.clip(x + rng.integers(-40, 41, size=x.shape), cfg.data_min, cfg.data_max)
    await t.load_imem(1 % cfg.imem_buffers, x2, 0x5000, gap=2)
    await t.cmd("SCHEDULE", n_ch=n)
    await t.check("schedule")
    sched = conmerge.cau_schedule(mask, cfg, token_sort="none")   # the configuration's CAU rule
    wb = 1 % cfg.wmem_buffers
    await t.load_wmem(wb, wmem_image(w1, sched, cfg), 0x6000, gap=1)
    await t.cmd("GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=1 % cfg.imem_buffers,
                wbuf=wb, obuf=0, n_rows=cfg.rows)
    d = await t.read_omem(0, n, 0xA000)
    await t.check("sparse")
    want = ffn_reuse.reuse_fc1_int(x2, w1, mask, cache, shift, cfg)
    assert np.array_equal(t.outputs(d), want), "sparse GEMM outputs differ"
    assert await t.tb.read("CYCLES") == cycle_model.compute_cycles(len(sched.blocks), k, cfg)


@cocotb.test()
async def timing(dut):
    """No pauses: MEM_RD_CYCLES / MEM_WR_CYCLES of loads and reads with gap-free and gapped
    rows equal golden.core_mem.load_cycles / read_cycles (AxiRam latency 2), bytes too."""
    t = MemTB(dut, 0.0, cocotb.RANDOM_SEED + 2)
    cfg = t.cfg
    rng = np.random.default_rng(3)
    await t.begin()
    kc = t.tb.kc_max
    for gap in (0, 1, 3):
        await t.load_imem(gap % cfg.imem_buffers, _rand(rng, (cfg.rows, kc * cfg.lanes), cfg),
                          0x2000, gap=gap)
        await t.check(f"IMEM load, gap {gap}", timing=True)
        img = rng.integers(-5, 6, (cfg.cols, 3, cfg.merge_degree, cfg.lanes))
        await t.load_wmem(0, img, 0x3000, gap=gap)
        await t.check(f"WMEM load, gap {gap}", timing=True)
        await t.read_omem(0, min(cfg.words("omem"), 9), 0x5000, gap=gap)
        await t.check(f"OMEM read, gap {gap}", timing=True)
        # packed: an odd and an even count, one across a 4 KB boundary
        # packed: an odd and an even count, from an odd and an even OMEM address (the pairs
        # from either half first, hw/mem.py), one across a 4 KB boundary
        for count, at, base in ((min(cfg.words("omem") - 1, 7 + gap), 0x6000 + gap * t.bb, 1),
                                (min(cfg.words("omem"), 2 * cfg.rows), 0x7000 - t.bb, 0)):
            await t.read_omem(1 % cfg.omem_buffers, count, at, pack=True, base=base)
            await t.check(f"packed OMEM read of {count} from {base}, at {at:#x}", timing=True)
    # a read of rows back to back across a 4 KB boundary (two bursts) failing in its first
    # burst, without pauses: the second burst's first beats leave before the error comes
    # back (golden.core_mem.write_rows' maybe bytes: written here)
    n = min(cfg.words("omem"), 4)
    at = 0x7000 - 2 * t.bb
    d = t.desc("READ_OMEM", count=n, addr=at, stride=t.stride(t.ob, 0))
    t.put(d, [bytes([0x5A]) * t.ob] * n)
    t.fault(range(at, at + 1))
    await t.read_omem(0, n, at)
    await t.check("OMEM read, fault in its first burst")
    await t.write("CTRL", 1)
    t.fault(range(0))


@cocotb.test()
async def faults(dut):
    """Misaligned address, out-of-region transfer (refused at issue), SLVERR and DECERR on a
    load and on a read (the command stops, no DONE; a load writes nothing past the fault, a
    read nothing past the write burst in flight behind the failing one); after
    each, CTRL.clear_error and a good load, GEMM and read; random pauses."""
    t = MemTB(dut, 0.3, cocotb.RANDOM_SEED + 3)
    cfg = t.cfg
    rng = np.random.default_rng(31)
    await t.begin()
    kc = 2
    k = kc * cfg.lanes
    w = _rand(rng, (k, cfg.cols), cfg)
    x = _rand(rng, (cfg.rows, k), cfg)

    async def good(label):
        await t.write("CTRL", 1)
        t.fault(range(0))
        await t.load_wmem(0, dense_wmem_image(w, cfg), 0x1000, streams=1)
        await t.load_imem(1 % cfg.imem_buffers, x, 0x2000)
        await t.cmd("GEMM", kc=kc, shift=3, n_ch=cfg.cols, ibuf=1 % cfg.imem_buffers,
                    wbuf=0, obuf=0, n_rows=cfg.rows)
        d = await t.read_omem(0, cfg.cols, 0x3000)
        await t.check(label)
        want = intsem.requantize(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), 3,
                                 cfg.data_width)
        assert np.array_equal(t.outputs(d), want), f"{label}: outputs differ"

    await good("before")
    # refused at issue: nothing moves
    assert await t.load_imem(0, x, 0x2000 + t.bb // 2 if t.bb > 1 else 0x2001) == 8
    await t.check("misaligned")
    await good("after misaligned")
    assert await t.load_imem(0, x, REGION[1] - t.bb) == 9
    await t.check("out of region")
    await good("after out of region")
    # a packed read is one row of every beat: its last bus word past the region (the unpacked
    # descriptor of the same fields, count rows at stride 0, would fit)
    n = t.bb // t.ob + 1
    assert await t.cmd("READ_OMEM", flags=("MEM", "PACK"), buf=0, base=0, count=n,
                       addr=REGION[1] - t.bb, stride=0) == 9
    await t.check("packed out of region")
    await good("after packed out of region")
    # bus faults inside a transfer
    for decerr in (False, True):
        tag = "DECERR" if decerr else "SLVERR"
        d = t.desc("LOAD_IMEM", count=kc, addr=0x6000, stride=t.stride(kc * t.ib, 1))
        bad = d.row_addr(cfg.rows // 2) + t.bb // 2         # inside row rows/2's first word
        t.fault(range(bad, bad + 1), decerr)
        await t.load_imem(0, _rand(rng, (cfg.rows, k), cfg), 0x6000, gap=1)
        await t.cmd("GEMM", kc=kc, shift=3, n_ch=cfg.cols, ibuf=0, wbuf=0, obuf=1,
                    n_rows=cfg.rows)        # reads what the faulted load left in IMEM
        await t.check(f"load {tag}")
        await t.write("CTRL", 1)
        d = t.desc("READ_OMEM", count=cfg.cols, addr=0x7000, stride=t.stride(t.ob, 1))
        # a row with two behind it: the first may be written (two write bursts in flight,
        # golden.core_mem.write_rows), the second must not
        bad_row = max(0, cfg.cols // 2 - 1)
        t.fault(range(d.row_addr(bad_row), d.row_addr(bad_row) + 1), decerr)
        await t.read_omem(1, cfg.cols, 0x7000, gap=1)
        await t.check(f"read {tag}")
        await t.write("CTRL", 1)
        d = t.desc("READ_OMEM", count=cfg.cols, addr=0x7800, stride=0, pack=True)
        t.fault(range(d.base + d.row_bytes // 2, d.base + d.row_bytes // 2 + 1), decerr)
        await t.read_omem(1, cfg.cols, 0x7800, pack=True)
        await t.check(f"packed read {tag}")
        await good(f"after {tag}")


@cocotb.test(skip=not os.environ.get("EXION_CORE_REPORT"))   # bench only (bench_core_dma.py)
async def throughput(dut):
    """Weight-stationary dense GEMM, every operand and result through the master port, no
    pauses: ``EXION_CORE_TILES`` weight tiles (2) x ``EXION_CORE_GROUPS`` row groups (6) of
    ``kc`` = ``EXION_CORE_KC`` chunks, outputs packed (``PACK``) unless ``EXION_CORE_PACK`` =
    0; the next tile's weights, the next group's tokens and the
    previous group's outputs move while the array computes (docs/core.md, "Master port").
    Records the wall cycles (first GEMM issued to last output written) in the JSON file
    ``EXION_CORE_REPORT``; outputs against golden.intsem, all state against the model."""
    groups = int(os.environ.get("EXION_CORE_GROUPS", "6"))
    pack = os.environ.get("EXION_CORE_PACK", "1") == "1"
    tiles = int(os.environ.get("EXION_CORE_TILES", "2"))
    cfg = config()
    kc = int(os.environ.get("EXION_CORE_KC", min(cfg.words("imem"), max(cfg.cols, 2))))
    k = kc * cfg.lanes
    n = min(cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    # each GEMM's outputs in its own 4 KB-aligned space (n rows of a bus word or more)
    out_row = -(-core_mem.item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[1] // cfg.bus_bytes)
    y_step = -(-n * out_row * cfg.bus_bytes // 0x1000) * 0x1000
    y_base = 0x80000 + groups * 0x2000
    t = MemTB(dut, 0.0, cocotb.RANDOM_SEED + 4,
              mem_size=max(1 << 20, y_base + tiles * groups * y_step + 0x1000))
    tb = t.tb
    await t.begin()
    rng = np.random.default_rng(9)
    xs = [_rand(rng, (cfg.rows, k), cfg) for _ in range(groups)]
    ws = [_rand(rng, (k, n), cfg) for _ in range(tiles)]
    nbi, nbw, nbo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
    # (room for the 16x16 preset: 96 KiB tiles, 6 KiB groups, then y_step per GEMM's outputs)
    w_at = [0x1000 + j * 0x20000 for j in range(tiles)]
    x_at = [0x80000 + g * 0x2000 for g in range(groups)]
    steps = [(j, g) for j in range(tiles) for g in range(groups)]
    y_at = [y_base + i * y_step for i in range(len(steps))]
    assert tiles <= 3 and groups <= 64
    await t.load_wmem(0, dense_wmem_image(ws[0], cfg), w_at[0], streams=1)
    await t.load_imem(0, xs[0], x_at[0])
    await tb.wait_idle()
    tally = dict(on=True, r_token=0, r_weight=0, w=0, both_in_flight=0)
    cocotb.start_soon(_bus_monitor(dut, x_at[0], tally))
    busy0 = await tb.read("BUSY_CYCLES")
    t0, outs = tb.cycle, []
    for i in range(len(steps) + 1):
        if i < len(steps):
            j, g = steps[i]
            await t.cmd("GEMM", kc=kc, shift=12, n_ch=n, ibuf=i % nbi, wbuf=j % nbw,
                        obuf=i % nbo, n_rows=cfg.rows)
            if g == 0 and j + 1 < tiles:
                await t.load_wmem((j + 1) % nbw, dense_wmem_image(ws[j + 1], cfg), w_at[j + 1],
                                  streams=1)
        if i + 1 < len(steps):
            await t.load_imem((i + 1) % nbi, xs[steps[i + 1][1]], x_at[steps[i + 1][1]])
        if i:
            outs.append(await t.read_omem((i - 1) % nbo, n, y_at[i - 1], pack=pack))
    await tb.wait_idle()
    wall = tb.cycle - t0
    tally["on"] = False
    busy = await tb.read("BUSY_CYCLES") - busy0
    await t.check("throughput")
    for (j, g), d in zip(steps, outs):
        want = intsem.requantize(intsem.int_matmul(xs[g], ws[j], cfg.lanes, cfg.acc_width), 12,
                                 cfg.data_width)
        assert np.array_equal(t.outputs(d), want), f"(tile, group) {(j, g)}: outputs differ"
    report = {"wall": wall, "macs": tiles * groups * cfg.rows * k * n, "k": k, "n": n,
              "groups": groups, "tiles": tiles, "blocks": -(-n // cfg.cols),
              "bytes_in": await tb.read("BYTES_IN_LO"), "bytes_out": await tb.read("BYTES_OUT_LO"),
              "sdue_busy": busy, "pack": pack, **{k: v for k, v in tally.items() if k != "on"}}
    with open(os.environ["EXION_CORE_REPORT"], "w") as f:
        json.dump(report, f, indent=1)
