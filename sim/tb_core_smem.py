"""cocotb bench of the SMEM transfer engine (hw/core_smem.py in hw/core.py): ``STORE_SMEM`` /
``LOAD_SMEM`` through the master port against cocotbext-axi's ``AxiRam``, schedule reuse.

Built on sim/tb_core_gather.py's :class:`~sim.tb_core_gather.GatherTB` (itself on
sim/tb_core_dma.py's :class:`~sim.tb_core_dma.MemTB`): every command also runs on
:class:`golden.core_model.CoreModel` (``golden.core_smem``), and after each step the whole
memory, ``STATUS.error``, ``CAUSE``, ``ERR_CMD``, ``DONE``, ``CYCLES``, ``BLOCKS``,
``BLOCKS_H1`` / ``BLOCKS_H2``, the byte counters and the whole SMEM window equal the model's
(with no pauses ``SMEM_LD_CYCLES`` / ``SMEM_ST_CYCLES`` too). The stored image is also checked
against ``golden.schedule.pack_block`` of ``golden.conmerge.cau_schedule`` directly, and the
sparse GEMM after a ``LOAD_SMEM`` against the one after the original ``SCHEDULE`` and
``golden.sdue.sdue_outputs``. Random pauses: AxiRam's five channels and the AXI4-Lite channels.
"""

from __future__ import annotations

import cocotb
import numpy as np

from exion.regmap import CAUSES, mask_half, smem_half
from golden import conmerge, core_smem, dma, intsem
from golden.sdue import sdue_outputs
from sim.tb_core_dma import REGION
from sim.tb_core_gather import GatherTB

SMEM_AT = 0xB000        # stored schedules (the weights at 0x2000, tokens 0x9000, outputs 0xC000)


def _case(rng, cfg, t):
    """K, kc, channels, weights (K, n) and tokens (rows, K) of a small random case."""
    k = min(2 * cfg.lanes + 3, t.tb.kc_max * cfg.lanes)
    kc = intsem.lane_chunks(k, cfg.lanes)
    n = min(3 * cfg.cols + 1, cfg.words("omem"), t.tb.map.channels)
    hi = int(cfg.data_max * 0.5)
    return (k, kc, n, rng.integers(-hi, hi + 1, size=(k, n), dtype=np.int64),
            rng.integers(-hi, hi + 1, size=(cfg.rows, k), dtype=np.int64))


class SmemTB(GatherTB):
    """:class:`GatherTB` with the SMEM transfers and the SMEM window check."""

    async def store(self, half: int, addr: int, flags=("MEM",)) -> int:
        return await self.cmd("STORE_SMEM", flags=flags, half=half, addr=addr)

    async def load(self, half: int, count: int, addr: int, flags=("MEM",)) -> int:
        return await self.cmd("LOAD_SMEM", flags=flags, half=half, count=count, addr=addr)

    async def check(self, label: str, timing: bool = False, window: bool = False):
        """:meth:`MemTB.check`, the block counts and (``window``) every SMEM window word."""
        await super().check(label, timing)
        names = ["BLOCKS_H1", "BLOCKS_H2"] + ["SMEM_LD_CYCLES", "SMEM_ST_CYCLES"] * timing
        regs = self.model.regs.as_dict()
        for name in names:
            got = await self.tb.read(name)
            assert got == regs[name], f"{label}: {name} = {got}, model {regs[name]}"
        m = self.tb.map
        for b in range(self.cfg.schedule_depth if window else 0):     # the SMEM window
            for i in range(m.smem_words):
                a = m.smem_base + 4 * (b * m.smem_stride + i)
                got, want = await self.tb.read(a), self.model.read(a)
                assert got == want, f"{label}: SMEM block {b} word {i} {got:#x}, model {want:#x}"

    def frame(self, n: int, at: int) -> np.ndarray:
        """(rows, n) outputs a MEM read of ``n`` OMEM words left at ``at``."""
        return self.outputs(self.desc("READ_OMEM", count=n, addr=at, stride=self.stride(self.ob, 0)))

    def stored(self, addr: int, n_bytes: int) -> bytes:
        return bytes(self.mem[addr:addr + n_bytes])


@cocotb.test()
async def reuse(dut):
    """Schedule reuse, random pauses, whole SMEM and both halves: SCHEDULE a seeded random
    keep-mask, gather, sparse GEMM (the dense iteration); STORE_SMEM (the memory image =
    pack_block words); another mask scheduled into the same part; LOAD_SMEM back (the SMEM
    window and block count = the first schedule's); gather and sparse GEMM again (the sparse
    iteration): outputs equal the first GEMM's and golden.sdue's."""
    t = SmemTB(dut, 0.3, cocotb.RANDOM_SEED + 21)
    cfg = t.cfg
    rng = np.random.default_rng(57)
    await t.begin()
    k, kc, n, w, x = _case(rng, cfg, t)
    kc, stride = t.weights(w, gap=1)
    await t.load_imem(0, x, 0x9000)
    for i, half in enumerate((0, 2, 1)):
        label = f"half {half}"
        mask = rng.random((cfg.rows, n)) < 0.5
        obuf = i % cfg.omem_buffers
        sched = await t.iteration(label, x, w, mask, kc, stride, half=half, obuf=obuf,
                                  out_at=0xC000)
        words = sched.words()
        assert 0 < len(words) <= smem_half(cfg.schedule_depth, half)[1], label
        first = t.frame(n, 0xC000)
        at = SMEM_AT + 0x800 * i
        assert await t.store(half, at) == 0
        await t.check(f"{label}: STORE_SMEM")
        image = core_smem.smem_image(cfg, words)
        assert t.stored(at, len(image)) == image, f"{label}: stored image != pack_block words"
        # another mask scheduled into the same part
        await t.mask(rng.random((cfg.rows, n)) < 0.3)
        assert await t.cmd("SCHEDULE", n_ch=n, half=half) == 0
        assert await t.load(half, len(words), at) == 0
        await t.check(f"{label}: LOAD_SMEM", window=True)
        blocks = await t.tb.read(("BLOCKS", "BLOCKS_H1", "BLOCKS_H2")[half])
        assert blocks == len(words), f"{label}: block count {blocks}, stored {len(words)}"
        f0 = smem_half(cfg.schedule_depth, half)[0]
        got = (await t.tb.read_smem(f0 + len(words)))[f0:]
        assert got == words, f"{label}: SMEM window after LOAD_SMEM != the schedule's words"
        assert await t.gather(i % cfg.wmem_buffers, kc, stride, half) == 0
        assert await t.cmd("GEMM", flags=("SPARSE",), kc=kc, shift=6, ibuf=0,
                           wbuf=i % cfg.wmem_buffers, obuf=obuf, n_rows=cfg.rows,
                           half=half) == 0
        await t.read_omem(obuf, n, 0xD000)
        await t.check(f"{label}: sparse GEMM after LOAD_SMEM")
        again = t.frame(n, 0xD000)
        assert np.array_equal(again, first), f"{label}: outputs differ from the first GEMM's"
        want, written = sdue_outputs(x, w, conmerge.cau_schedule(mask, cfg, token_sort="none"),
                                     6, cfg)
        assert np.array_equal(again[written], want[written]), f"{label}: outputs != golden"


@cocotb.test()
async def timing(dut):
    """No pauses: SMEM_LD_CYCLES / SMEM_ST_CYCLES = golden.core_smem.load_smem_cycles /
    store_smem_cycles (AxiRam latency 2) for one block, a half and the whole SMEM of random
    bytes (a round trip: stored = loaded, the bits above block_bits zero), one transfer across
    a 4 KB boundary; bytes too."""
    t = SmemTB(dut, 0.0, cocotb.RANDOM_SEED + 22)
    cfg = t.cfg
    rng = np.random.default_rng(5)
    await t.begin()
    S = cfg.schedule_depth
    n_bytes = core_smem.smem_descriptor(cfg, 0, 1).row_bytes
    cases = [(0, 1, 0x3000), (1, S // 2, 0x4000), (0, S, 0x5000 - 2 * n_bytes),
             (2, S // 2, 0x6000 + cfg.bus_bytes)]
    for half, count, at in cases:
        label = f"{count} blocks, half {half}, at {at:#x}"
        raw = rng.integers(0, 256, count * n_bytes, dtype=np.uint8).tobytes()
        t.put(dma.Descriptor(at, len(raw), 1, len(raw)), [raw])
        assert await t.load(half, count, at) == 0
        await t.check(f"{label}: LOAD_SMEM", timing=True, window=count == S)
        assert await t.tb.read("SMEM_LD_CYCLES") == core_smem.load_smem_cycles(cfg, count, 2, at)
        assert await t.store(half, 0xE000 - len(raw)) == 0
        await t.check(f"{label}: STORE_SMEM", timing=True)
        assert await t.tb.read("SMEM_ST_CYCLES") == core_smem.store_smem_cycles(
            cfg, count, 2, 0xE000 - len(raw))
        keep = (1 << t.tb.map.block_bits) - 1
        want = core_smem.smem_image(cfg, [int.from_bytes(raw[j * n_bytes:(j + 1) * n_bytes],
                                                         "little") & keep
                                          for j in range(count)])
        assert t.stored(0xE000 - len(raw), len(raw)) == want, f"{label}: round trip differs"


@cocotb.test()
async def refusals(dut):
    """Refused commands change nothing but STATUS.error, CAUSE and ERR_CMD (memory, SMEM,
    block counts, counters against the model): no MEM, count 0, count past the part, half 3,
    RESIDENT, a misaligned address, blocks outside the region (LOAD_SMEM at issue;
    STORE_SMEM when it runs), an empty part to store; and bus errors: a LOAD_SMEM keeps the
    blocks whose words all arrived (the block count theirs), a STORE_SMEM stops."""
    t = SmemTB(dut, 0.3, cocotb.RANDOM_SEED + 23)
    cfg = t.cfg
    rng = np.random.default_rng(9)
    await t.begin()
    S, bb = cfg.schedule_depth, cfg.bus_bytes
    n_bytes = core_smem.smem_descriptor(cfg, 0, 1).row_bytes
    raw = rng.integers(0, 256, S * n_bytes, dtype=np.uint8).tobytes()
    t.put(dma.Descriptor(0x3000, len(raw), 1, len(raw)),
          [raw])
    assert await t.load(0, S, 0x3000) == 0
    await t.check("whole SMEM loaded", window=True)
    end = len(t.mem) - 0x1000
    cases = [
        ("LOAD_SMEM without MEM", t.load(0, 1, 0x3000, flags=()), "BAD_FIELD"),
        ("LOAD_SMEM count 0", t.load(0, 0, 0x3000), "BAD_FIELD"),
        ("LOAD_SMEM half 3", t.load(3, 1, 0x3000), "BAD_FIELD"),
        ("LOAD_SMEM count > SMEM", t.load(0, S + 1, 0x3000), "ADDR_RANGE"),
        ("LOAD_SMEM count > half", t.load(2, S // 2 + 1, 0x3000), "ADDR_RANGE"),
        ("LOAD_SMEM RESIDENT", t.load(1, 1, 0x3000, flags=("MEM", "RESIDENT")), "BAD_FIELD"),
        ("LOAD_SMEM misaligned", t.load(1, 2, 0x3000 + bb // 2), "DMA_ALIGN"),
        ("LOAD_SMEM below the region", t.load(1, 1, REGION[0] - bb), "DMA_REGION"),
        ("LOAD_SMEM past the region", t.load(0, 2, end - n_bytes), "DMA_REGION"),
        ("STORE_SMEM without MEM", t.store(0, 0x4000, flags=()), "BAD_FIELD"),
        ("STORE_SMEM half 3", t.store(3, 0x4000), "BAD_FIELD"),
        ("STORE_SMEM misaligned", t.store(0, 0x4000 + bb // 2), "DMA_ALIGN"),
        ("STORE_SMEM past the region (run time)", t.store(0, end - n_bytes), "DMA_REGION"),
    ]
    for label, coro, cause in cases:
        await coro
        await t.check(label, window=label.endswith("count > half"))
        assert await t.tb.read("CAUSE") == CAUSES[cause], f"{label}: CAUSE"
        assert t.model.regs.cause == CAUSES[cause], f"{label}: model cause"
        await t.write("CTRL", 1)
    # an empty part to store: refused when it runs (BAD_FIELD); SCHEDULE of an empty mask
    await t.mask(np.zeros((cfg.rows, 4), bool))
    assert await t.cmd("SCHEDULE", n_ch=4, half=1) == 0
    assert await t.store(1, 0x4000) == 0
    await t.check("STORE_SMEM of an empty part")
    assert t.model.regs.cause == CAUSES["BAD_FIELD"]
    await t.write("CTRL", 1)
    # bus errors: a fault in block 2's words
    t.fault(range(0x3000 + 2 * n_bytes + 1, 0x3000 + 2 * n_bytes + 2))
    assert await t.load(2, 4, 0x3000) == 0
    await t.check("LOAD_SMEM, bus error", window=True)
    assert await t.tb.read("BLOCKS_H2") == 2
    await t.write("CTRL", 1)
    t.fault(range(0x4000 + n_bytes, 0x4000 + n_bytes + 1), decerr=True)
    assert await t.store(0, 0x4000) == 0
    await t.check("STORE_SMEM, bus error")
    assert t.model.regs.cause == CAUSES["DMA_DECERR"]
    await t.write("CTRL", 1)
    t.fault(range(0))
    assert await t.store(2, 0x4000) == 0
    await t.check("STORE_SMEM after the errors")


@cocotb.test()
async def pipelined(dut):
    """Two row groups in the SMEM halves, random pauses, commands queued behind a long master
    port transfer so that the dispatcher's hazards order them: the dense iteration SCHEDULE +
    STORE_SMEM per group, the STORE_SMEM behind a long MEM READ_OMEM and its half scheduled
    again (the other mask) right behind it; the sparse iteration LOAD_SMEM + gather + sparse
    GEMM + MEM read per group, then the half scheduled again and LOAD_SMEM + sparse GEMM (no
    gather: the same weights) behind a long MEM LOAD_WMEM. Outputs against golden.sdue, the
    two GEMMs' against each other, the whole state against the model."""
    t = SmemTB(dut, 0.3, cocotb.RANDOM_SEED + 24)
    cfg = t.cfg
    rng = np.random.default_rng(77)
    await t.begin()
    k, kc, n, w, x = _case(rng, cfg, t)
    m = t.tb.map
    n = min(n, mask_half(m.channels, 1)[1])
    w = w[:, :n]
    kc, stride = t.weights(w, gap=1)
    await t.load_imem(0, x, 0x9000)
    masks = [rng.random((cfg.rows, n)) < p for p in (0.4, 0.7)]
    for h, mask in enumerate(masks):        # group g's mask in mask half g + 1
        first = mask_half(m.channels, h + 1)[0]
        for ch in range(n):
            cv = sum(1 << r for r in range(cfg.rows) if mask[r, ch])
            for i in range(m.mask_words):
                await t.write(m.mask_base + 4 * ((first + ch) * m.mask_stride + i),
                              (cv >> (32 * i)) & 0xFFFFFFFF)
    scheds = [conmerge.cau_schedule(mk, cfg, token_sort="none") for mk in masks]
    at = [SMEM_AT, SMEM_AT + 0x800]
    long_read = min(cfg.words("omem"), 64)
    for g in range(2):
        assert await t.cmd("SCHEDULE", n_ch=n, half=g + 1, mhalf=g + 1) == 0
        await t.read_omem(1, long_read, 0xD000)        # holds the write engine
        assert await t.store(g + 1, at[g]) == 0
        assert await t.cmd("SCHEDULE", n_ch=n, half=g + 1, mhalf=2 - g) == 0
    await t.check("dense iteration")
    junk = rng.integers(-5, 6, (cfg.cols, cfg.words("wmem"), cfg.merge_degree, cfg.lanes))
    for g in range(2):
        wbuf, obuf = g, g % cfg.omem_buffers
        outs = []
        for again in range(2):
            if again:       # behind a long WMEM load (the read engine LOAD_SMEM needs)
                await t.load_wmem(2, junk, 0x4000)
                assert await t.cmd("SCHEDULE", n_ch=n, half=g + 1, mhalf=2 - g) == 0
            assert await t.load(g + 1, len(scheds[g].blocks), at[g]) == 0
            if not again:
                assert await t.gather(wbuf, kc, stride, g + 1) == 0
            assert await t.cmd("GEMM", flags=("SPARSE",), kc=kc, shift=6, ibuf=0, wbuf=wbuf,
                               obuf=obuf, n_rows=cfg.rows, half=g + 1) == 0
            outs.append(await t.read_omem(obuf, n, 0xC000 + 0x800 * g + 0x400 * again))
        await t.check(f"group {g}: sparse iteration", window=g == 1)
        image = core_smem.smem_image(cfg, scheds[g].words())
        assert t.stored(at[g], len(image)) == image, f"group {g}: stored image"
        want, written = sdue_outputs(x, w, scheds[g], 6, cfg)
        got = [t.outputs(d) for d in outs]
        assert np.array_equal(got[0][written], want[written]), f"group {g}: outputs differ"
        assert np.array_equal(got[1], got[0]), f"group {g}: second GEMM differs"
