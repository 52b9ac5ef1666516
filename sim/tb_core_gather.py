"""cocotb bench of the gather engine (hw/core_gather.py in hw/core.py): ``LOAD_WMEM`` with
``MEM`` and ``GATHER`` fetches a sparse GEMM's weights by the ConMerge vectors in SMEM from a
dense channel-major weight matrix in cocotbext-axi's ``AxiRam``.

Built on sim/tb_core_dma.py's :class:`~sim.tb_core_dma.MemTB`: every command also runs on
:class:`golden.core_model.CoreModel` (``golden.core_gather.gather``), and after each step the whole
memory, ``STATUS.error``, ``CAUSE``, ``ERR_CMD``, ``DONE``, ``CYCLES``, ``BLOCKS`` and the byte
counters equal the model's (with no pauses ``MEM_RD_CYCLES`` too). The sparse GEMM that follows
each gather reads the gathered WMEM unchanged; its outputs, written back through the port, are
also checked against ``golden.sdue.sdue_outputs`` directly. Random pauses: AxiRam's five
channels and the AXI4-Lite channels.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiStreamFrame

from exion.limits import CORE_READ_BURST, DMA_READ_OUTSTANDING
from exion.regmap import REGISTERS, RESPONSES, encode
from golden import conmerge, core_gather, core_mem, dma, intsem
from golden.sdue import sdue_outputs
from sim.tb_common import pack
from sim.tb_core_dma import REGION, MemTB

W_AT = 0x2000       # the dense weight matrix, channel-major (row n = channel n)
PAGE = 4096         # AXI4: no burst crosses a 4 KB boundary (golden.dma.bursts splits a row)
#: Cycles a load's burst may wait beside the other read engine's: its bursts in flight, each
#: of at most CORE_READ_BURST beats, and one cycle of the AR round robin
WAIT = DMA_READ_OUTSTANDING * CORE_READ_BURST + 1


class GatherTB(MemTB):
    """:class:`MemTB` with the weight matrix, the mask window and the gather command."""

    def weights(self, w, gap: int = 1, at: int = W_AT,
                stride: int | None = None) -> tuple[int, int]:
        """Store ``w`` (K, N) channel-major at ``at``, rows ``kc`` lane vectors apart by whole
        bus words plus ``gap`` (or ``stride`` bytes); returns ``(kc, stride)``."""
        cfg = self.cfg
        k, n = w.shape
        kc = intsem.lane_chunks(k, cfg.lanes)
        pad = np.zeros((kc * cfg.lanes, n), np.int64)
        pad[:k] = w
        stride = stride or self.stride(kc * self.ib, gap)
        rows = core_mem.lane_rows(pad.T.reshape(n, kc, cfg.lanes), cfg.data_width)
        self.put(dma.Descriptor(at, kc * self.ib, n, stride), rows)
        return kc, stride

    async def region(self, name: str, value: int):
        """A region register once no ``MEM`` command is pending (writes are refused until
        then: docs/core.md, "Master port")."""
        await self.tb.wait_idle()
        await self.write(name, value)

    async def mask(self, mask):
        """The keep-mask (rows, n) into the mask window (core and model)."""
        m = self.tb.map
        for ch in range(mask.shape[1]):
            cv = sum(1 << r for r in range(mask.shape[0]) if mask[r, ch])
            for i in range(m.mask_words):
                await self.write(m.mask_base + 4 * (ch * m.mask_stride + i),
                                 (cv >> (32 * i)) & 0xFFFFFFFF)

    async def gather(self, wbuf: int, kc: int, stride: int, half: int = 0, base: int = 0,
                     addr: int = W_AT) -> int:
        return await self.cmd("LOAD_WMEM", flags=("MEM", "GATHER"), buf=wbuf, base=base,
                              count=kc, addr=addr, stride=stride, half=half)

    async def iteration(self, label, x, w, mask, kc, stride, *, half=0, wbuf=0, obuf=0,
                        timing=False, shift=6, out_at=0xC000, addr=W_AT):
        """SCHEDULE the mask, gather, sparse GEMM, read back: against the model and
        golden.sdue.sdue_outputs."""
        cfg = self.cfg
        n = mask.shape[1]
        await self.mask(mask)
        assert await self.cmd("SCHEDULE", n_ch=n, half=half) == 0
        assert await self.gather(wbuf, kc, stride, half, addr=addr) == 0
        await self.check(f"{label}: gather", timing)
        assert await self.cmd("GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=0, wbuf=wbuf,
                              obuf=obuf, n_rows=cfg.rows, half=half) == 0
        d = await self.read_omem(obuf, n, out_at)
        await self.check(f"{label}: sparse GEMM")
        sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
        want, written = sdue_outputs(x, w, sched, shift, cfg)
        got = self.outputs(d)
        assert np.array_equal(got[written], want[written]), f"{label}: outputs differ"
        return sched


def _rand(rng, shape, cfg, scale=0.5):
    hi = int(cfg.data_max * scale)
    return rng.integers(-hi, hi + 1, size=shape, dtype=np.int64)


def _case(rng, cfg, t):
    k = min(2 * cfg.lanes + 3, t.tb.kc_max * cfg.lanes)
    kc = intsem.lane_chunks(k, cfg.lanes)
    n = min(3 * cfg.cols + 1, cfg.words("omem"), t.tb.map.channels)
    return k, kc, n, _rand(rng, (k, n), cfg), _rand(rng, (cfg.rows, k), cfg)


@cocotb.test()
async def gather_masks(dut):
    """Seeded random masks of several densities, the empty mask (no block: nothing moves) and
    the full one (every channel), whole SMEM and both halves, random pauses; outputs of the
    sparse GEMM on the gathered WMEM against golden.sdue and the model."""
    t = GatherTB(dut, 0.3, cocotb.RANDOM_SEED + 11)
    cfg = t.cfg
    rng = np.random.default_rng(41)
    await t.begin()
    k, kc, n, w, x = _case(rng, cfg, t)
    kc_, stride = t.weights(w, gap=1)
    await t.load_imem(0, x, 0x9000)
    masks = [("empty", np.zeros((cfg.rows, n), bool)), ("full", np.ones((cfg.rows, n), bool))]
    masks += [(f"p={p}", rng.random((cfg.rows, n)) < p) for p in (0.2, 0.6)]
    for i, (label, mask) in enumerate(masks):
        half = (0, 0, 1, 2)[i]
        sched = await t.iteration(label, x, w, mask, kc, stride, half=half,
                                  wbuf=i % cfg.wmem_buffers, obuf=i % cfg.omem_buffers)
        assert (len(sched.blocks) == 0) == (label == "empty")


@cocotb.test()
async def gather_timing(dut):
    """No pauses: MEM_RD_CYCLES of gathers = golden.core_gather.gather_cycles (AxiRam latency 2),
    BYTES_IN = the named rows' whole bus words; rows without and with a gap, of several lane
    vectors and of one, random masks and the full one."""
    t = GatherTB(dut, 0.0, cocotb.RANDOM_SEED + 12)
    cfg = t.cfg
    rng = np.random.default_rng(43)
    await t.begin()
    k, kc, n, w, x = _case(rng, cfg, t)
    await t.load_imem(0, x, 0x9000)
    # (rows of one lane vector: the read engine takes a row every 3 cycles, the slot FIFO and
    # its row-info FIFO fill; the full mask: no zero slot between the rows)
    for gap, p, kw in ((0, 0.3, k), (2, 0.6, k), (0, 1.0, cfg.lanes), (1, 0.5, cfg.lanes)):
        wk, xk = w[:kw], x[:, :kw]
        kc, stride = t.weights(wk, gap=gap)
        mask = rng.random((cfg.rows, n)) < p
        before = t.model.regs.bytes_in
        sched = await t.iteration(f"gap {gap}, p {p}, K {kw}", xk, wk, mask, kc, stride,
                                  timing=True)
        moved = t.model.regs.bytes_in - before
        assert moved == core_gather.gather_bytes(sched.blocks, kc, cfg.cols, cfg.merge_degree,
                                                 t.bb, t.ib)


async def _watch_ar(dut, ars: list):
    """Every read burst the core's master port requests: ``(address, beats)``."""
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if dut.m_axi_arvalid.value and dut.m_axi_arready.value:
            ars.append((int(dut.m_axi_araddr.value), int(dut.m_axi_arlen.value) + 1))


async def _straddle(t, rng, timing: bool):
    """Weight rows of several bus words every other one of which straddles a 4 KB boundary
    (the first at the last bus word below 0x2000, rows PAGE / 2 apart): the full mask and a
    random one (the straddling rows of two channels named). The gather's read bursts are
    those of golden.dma.bursts (each row split at the boundary, none crossing one), the
    gathered WMEM feeds the sparse GEMM bit-exactly, memory and registers equal the model's
    (``timing``: ``MEM_RD_CYCLES`` too), ``BYTES_IN`` grows by golden.core_gather.gather_bytes."""
    cfg = t.cfg
    kc = min(t.tb.kc_max, 11)
    k = kc * cfg.lanes - 1
    n = min(3 * cfg.cols + 1, cfg.words("omem"), t.tb.map.channels)
    w, x = _rand(rng, (k, n), cfg), _rand(rng, (cfg.rows, k), cfg)
    at, stride = W_AT - t.bb, PAGE // 2
    row = -(-kc * t.ib // t.bb) * t.bb                   # a row's whole bus words
    cross = [c for c in range(n) if (at + c * stride) % PAGE + row > PAGE]
    assert row > t.bb and len(cross) >= 3, "the rows must straddle 4 KB boundaries"
    assert t.weights(w, at=at, stride=stride) == (kc, stride)
    assert at + (n - 1) * stride + row <= 0x9000     # below the IMEM rows and the outputs
    await t.load_imem(0, x, 0x9000)
    await t.check("4 KB: IMEM rows")            # (their bursts before the watch)
    ars: list = []
    watch = cocotb.start_soon(_watch_ar(t.tb.dut, ars))
    for label, mask in (("full", np.ones((cfg.rows, n), bool)),
                        ("random", rng.random((cfg.rows, n)) < 0.4)):
        mask[rng.integers(cfg.rows), cross[:2]] = True
        first, before = len(ars), t.model.regs.bytes_in
        sched = await t.iteration(f"4 KB, {label}", x, w, mask, kc, stride, addr=at,
                                  timing=timing)
        named = [ch for *_x, ch in core_gather.gather_slots(sched.blocks, cfg.cols,
                                                            cfg.merge_degree) if ch >= 0]
        want = [b for ch in named for b in dma.bursts(core_gather.gather_descriptor(
            at, stride, ch, kc, t.ib), t.bb, CORE_READ_BURST)]
        got = ars[first:]
        assert got == want, f"4 KB, {label}: read bursts {got}, model {want}"
        assert all(a % PAGE + beats * t.bb <= PAGE for a, beats in got)
        assert len(want) > len(named), f"4 KB, {label}: no row was split"
        assert t.model.regs.bytes_in - before == core_gather.gather_bytes(
            sched.blocks, kc, cfg.cols, cfg.merge_degree, t.bb, t.ib)
    watch.cancel()


@cocotb.test()
async def gather_4k(dut):
    """Gathered rows straddling 4 KB boundaries, random pauses (:func:`_straddle`)."""
    t = GatherTB(dut, 0.3, cocotb.RANDOM_SEED + 16)
    await t.begin()
    await _straddle(t, np.random.default_rng(61), timing=False)


@cocotb.test()
async def gather_4k_timing(dut):
    """Gathered rows straddling 4 KB boundaries, no pauses: ``MEM_RD_CYCLES`` = the model's."""
    t = GatherTB(dut, 0.0, cocotb.RANDOM_SEED + 17)
    await t.begin()
    await _straddle(t, np.random.default_rng(67), timing=True)


@cocotb.test()
async def gather_faults(dut):
    """A named row ending exactly at REGION_END (good), one word past it (DMA_REGION at run
    time, the slots before it written), the upper half of the channels past it under a random
    mask, SLVERR and DECERR inside a row mid-gather (full and random masks: rows requested
    past the fault write nothing), a gather
    past WMEM (ADDR_RANGE at run time, nothing written), ``half`` 3 and a misaligned address
    (refused at issue); CTRL.clear_error after each, then a gather or GEMM that runs."""
    t = GatherTB(dut, 0.3, cocotb.RANDOM_SEED + 13)
    cfg = t.cfg
    rng = np.random.default_rng(47)
    await t.begin()
    k, kc, n, w, x = _case(rng, cfg, t)
    kc, stride = t.weights(w, gap=1)
    await t.load_imem(0, x, 0x9000)
    full = np.ones((cfg.rows, n), bool)
    end = W_AT + (n - 1) * stride + -(-kc * t.ib // t.bb) * t.bb     # last row's end

    async def good(label):
        await t.write("CTRL", 1)
        t.fault(range(0))
        await t.region("REGION_END", REGION[1])
        await t.iteration(label, x, w, rng.random((cfg.rows, n)) < 0.5, kc, stride)

    await t.region("REGION_END", end)
    # (outputs below the weights: inside the shortened region)
    await t.iteration("row at the region's end", x, w, full, kc, stride, out_at=REGION[0])
    await t.region("REGION_END", end - t.bb)
    assert await t.gather(0, kc, stride) == 0
    await t.check("row past the region")
    assert t.model.regs.cause == 9
    # the partial WMEM a later sparse GEMM reads: the same in the core and the model
    await t.write("CTRL", 1)
    await t.region("REGION_END", REGION[1])
    await t.cmd("GEMM", flags=("SPARSE",), kc=kc, shift=6, ibuf=0, wbuf=0, obuf=0,
                n_rows=cfg.rows)
    await t.read_omem(0, n, 0xC000)
    await t.check("GEMM on the partial gather")
    # a random mask: zero slots between the named ones, rows requested ahead of a fault
    half_mask = rng.random((cfg.rows, n)) < 0.5
    half_mask[:, n - 1] = True
    await t.region("REGION_END", W_AT + (n // 2) * stride)
    await t.mask(half_mask)
    await t.cmd("SCHEDULE", n_ch=n)
    assert await t.gather(0, kc, stride) == 0
    await t.check("random mask, rows past the region")
    assert t.model.regs.cause == 9
    await t.write("CTRL", 1)
    await t.region("REGION_END", REGION[1])
    named = [c for c in range(n // 2, n) if half_mask[:, c].any()]
    cases = [(False, full, n // 2), (True, full, n // 2 + 1),
             (False, half_mask, named[0]), (True, half_mask, named[len(named) // 2])]
    for decerr, mask, ch in cases:          # (the next gather runs after each clear)
        tag = ("DECERR" if decerr else "SLVERR") + (", full" if mask is full else ", random")
        bad = W_AT + ch * stride + t.bb // 2        # inside that row's first word
        t.fault(range(bad, bad + 1), decerr)
        await t.mask(mask)
        await t.cmd("SCHEDULE", n_ch=n)
        assert await t.gather(1 % cfg.wmem_buffers, kc, stride) == 0
        await t.check(f"gather {tag}")
        assert t.model.regs.cause == (11 if decerr else 10)
        await t.write("CTRL", 1)
        t.fault(range(0))
        await t.cmd("GEMM", flags=("SPARSE",), kc=kc, shift=6, ibuf=0,
                    wbuf=1 % cfg.wmem_buffers, obuf=0, n_rows=cfg.rows)
        await t.read_omem(0, n, 0xC000)
        await t.check(f"GEMM after {tag}")
    await good("after the bus faults")
    # past WMEM at run time: base + BLOCKS * kc > WMEM words (base + kc fits at issue)
    blocks = await t.tb.read("BLOCKS")
    assert blocks >= 2
    assert await t.gather(0, kc, stride, base=cfg.words("wmem") - kc) == 0
    await t.check("gather past WMEM")
    assert t.model.regs.cause == 2
    await t.write("CTRL", 1)
    assert await t.gather(0, kc, stride, half=3) == 5
    await t.check("half 3")
    await t.write("CTRL", 1)
    assert await t.gather(0, kc, stride, addr=W_AT + t.bb // 2 if t.bb > 1 else W_AT + 1) == 8
    await t.check("misaligned")
    await good("after the refusals")


@cocotb.test()
async def concurrent_loads(dut):
    """An IMEM and a WMEM ``MEM`` load side by side, the later one in program order short and
    done first: MEM_RD_CYCLES is the later one's (the model's), not the one that finished
    last; both orders, no pauses. Its value is the model's (the load alone) plus at most
    :data:`WAIT`: the short load's one burst may wait for the other engine's bursts in flight,
    which come first on the one read ID, and for the AR round robin (docs/core.md)."""
    t = GatherTB(dut, 0.0, cocotb.RANDOM_SEED + 14)
    cfg = t.cfg
    rng = np.random.default_rng(53)
    await t.begin()
    ki, kw = cfg.words("imem"), cfg.words("wmem")
    md = cfg.merge_degree
    for first in ("imem", "wmem"):
        x = _rand(rng, (cfg.rows, (ki if first == "imem" else 1) * cfg.lanes), cfg)
        img = _rand(rng, (cfg.cols, kw if first == "wmem" else 1, md, cfg.lanes), cfg)
        loads = [lambda: t.load_imem(0, x, 0x3000),
                 lambda: t.load_wmem(0, img, 0x8000, streams=0 if first == "wmem" else 1)]
        cycles = []
        for load in (loads if first == "imem" else loads[::-1]):
            assert await load() == 0
            cycles.append(t.model.regs.mem_rd_cycles)       # (the model runs it at once)
        # the first, long load still runs when the second was issued
        assert (await t.tb.status())["load_busy"], f"{first} first: the loads did not overlap"
        await t.check(f"{first} first")
        got = await t.tb.read("MEM_RD_CYCLES")
        # (an IMEM load writes two lane vectors a cycle, CORE_MEM_WAYS: on the small cores its
        # longest, 40 cycles, no longer outlasts a short WMEM load plus WAIT, so with IMEM first
        # only the value is checked: the later load's either way)
        assert cycles[1] + WAIT < cycles[0] or first == "imem", \
            "the second load must be the short one"
        assert cycles[1] <= got <= cycles[1] + WAIT, \
            f"{first} first: MEM_RD_CYCLES {got}, the later load alone {cycles[1]}"


@cocotb.test()
async def region_locked(dut):
    """REGION_BASE / REGION_END written while ``MEM`` commands run or wait in the queue: SLVERR,
    the register unchanged, and the queued command runs against the region it was checked
    with (had the write been taken, it would fail with DMA_REGION at run time); taken once
    none is pending, after a ``MEM`` command refused at issue, and while only a non-``MEM``
    command runs; a ``MEM`` load queued behind a stream load without its beats locks the
    model's region too (``CoreModel.region_locked``). Random pauses."""
    t = GatherTB(dut, 0.3, cocotb.RANDOM_SEED + 15)
    cfg = t.cfg
    rng = np.random.default_rng(59)
    await t.begin()
    kw, md = cfg.words("wmem"), cfg.merge_degree
    img = _rand(rng, (cfg.cols, kw, md, cfg.lanes), cfg)
    base, end = await t.tb.read("REGION_BASE"), await t.tb.read("REGION_END")
    for name, value in (("REGION_BASE", end - t.bb), ("REGION_END", base + t.bb)):
        assert await t.load_wmem(0, img, 0x3000) == 0        # long: runs
        assert await t.load_wmem(1 % cfg.wmem_buffers, img, 0x3000) == 0     # waits
        resp = await t.tb.write_strobed(REGISTERS[name], value, 0xF)
        assert resp == RESPONSES["SLVERR"], f"{name}: response {resp} while MEM loads pend"
        assert await t.tb.read(name) == (base if name == "REGION_BASE" else end)
        await t.check(f"{name} refused")
    # queued only: a MEM load into the buffer a long GEMM reads waits in the queue
    kc = cfg.words("imem")
    n_ch = min(cfg.words("wmem") // kc * cfg.cols, cfg.words("omem"))
    assert await t.cmd("GEMM", kc=kc, shift=6, n_ch=n_ch, ibuf=0, wbuf=0, obuf=0,
                       n_rows=cfg.rows) == 0
    assert await t.load_wmem(0, img, 0x3000) == 0
    resp = await t.tb.write_strobed(REGISTERS["REGION_END"], base + t.bb, 0xF)
    s = await t.tb.status()
    queued = s["exec_busy"] and not s["load_busy"]      # (the load had not started)
    assert resp == RESPONSES["SLVERR"], f"response {resp} while a MEM load waits"
    await t.check("region refused while a MEM load waits in the queue")
    # idle: taken (and the model follows)
    await t.region("REGION_END", end - t.bb)
    assert await t.tb.read("REGION_END") == end - t.bb
    # a MEM command refused at issue (DMA_ALIGN) leaves the region free
    assert await t.cmd("LOAD_WMEM", flags=("MEM",), buf=0, base=0, count=1,
                       addr=0x3000 + max(1, t.bb // 2), stride=t.bb) == 8
    await t.write("CTRL", 1)
    assert await t.tb.write_strobed(REGISTERS["REGION_END"], end - 2 * t.bb, 0xF) \
        == RESPONSES["OKAY"]
    t.model.write("REGION_END", end - 2 * t.bb)
    await t.check("region written after a refused MEM command")
    # only a non-MEM command runs: taken
    assert await t.cmd("GEMM", kc=1, shift=6, n_ch=cfg.cols, ibuf=0, wbuf=0, obuf=0,
                       n_rows=cfg.rows) == 0
    assert await t.tb.write_strobed(REGISTERS["REGION_END"], end, 0xF) == RESPONSES["OKAY"]
    t.model.write("REGION_END", end)
    await t.check("region written beside a GEMM")
    assert await t.tb.read("REGION_END") == end
    assert queued, "the GEMM ended before the refused write: the queue alone was not held"
    # queued in the model too (golden.core_model.CoreModel.region_locked): a MEM load behind a
    # stream load that waits for its beats; refused by both, taken by both once it has run
    args, word = encode("LOAD_IMEM", base=0, count=1, buf=0)
    await t.tb.issue_raw(args, word)
    assert t.model.issue(args, word) == 0
    assert await t.load_wmem(0, img, 0x3000) == 0
    assert t.model.region_locked, "the model's queue must hold the MEM load"
    resp = await t.tb.write_strobed(REGISTERS["REGION_END"], end - t.bb, 0xF)
    t.model.write("REGION_END", end - t.bb)
    assert resp == RESPONSES["SLVERR"], f"response {resp} while a MEM load waits behind a load"
    assert await t.tb.read("REGION_END") == t.model.regs.region_end == end
    x = rng.integers(cfg.data_min, cfg.data_max + 1, (cfg.rows, cfg.lanes))
    t.model.push_imem(x)
    t.model.run()
    assert not t.model.region_locked
    await t.tb.src_i.send(AxiStreamFrame([pack(v, cfg.data_width) for v in x]))
    await t.check("the MEM load behind a stream load")
    await t.region("REGION_END", end - t.bb)
    assert await t.tb.read("REGION_END") == t.model.regs.region_end == end - t.bb
