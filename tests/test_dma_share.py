"""hw/dma_share.py (ReadShare) with two DmaReads on one AXI4 read port, Amaranth's simulator
(a few seconds; the core's benches run it under Icarus and Verilator in tests/test_core_dma.py):
seeded random descriptors on both engines, a memory model answering in AR order after random
delays with random R gaps, random AR backpressure, one slow and one fast consumer. Each
engine's words equal golden.dma.read_words; ARVALID holds its address until its handshake;
RREADY is high whenever R is valid (the R FIFOs never fill)."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.sim import Simulator

from golden import dma
from hw.dma_read import DmaRead
from hw.dma_share import ReadShare, fifo_depth

BW, BB, MAX_BURST, MEM = 64, 8, 4, 1 << 14


class _Pair(Elaboratable):
    def __init__(self):
        self.rds = [DmaRead(bus_width=BW, max_burst=MAX_BURST) for _ in range(2)]
        self.share = ReadShare(bus_width=BW, max_burst=MAX_BURST)

    def elaborate(self, platform):
        m = Module()
        m.submodules.share = self.share
        for i, rd in enumerate(self.rds):
            m.submodules[f"rd{i}"] = rd
            m.d.comb += [rd.region_base.eq(0), rd.region_end.eq(MEM)]
            for n, mem in rd.signature.members.items():
                if n.startswith("m_axi_"):
                    a, b = getattr(rd, n), getattr(self.share, f"e{i}_{n[6:]}")
                    m.d.comb += b.eq(a) if mem.flow.name == "Out" else a.eq(b)
        return m


def _descs(rng, n):
    out = []
    for _ in range(n):
        row_bytes = rng.randint(1, 6 * BB)
        stride = (-(-row_bytes // BB) + rng.choice([0, 0, 1])) * BB
        rows = rng.randint(1, 4)
        base = rng.randrange(0, MEM - rows * stride - 64, BB)
        out.append(dma.Descriptor(base, row_bytes, rows, stride))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_read_share(seed):
    rng = random.Random(seed)
    mem = bytes(rng.getrandbits(8) for _ in range(MEM))
    descs = [_descs(rng, 10), _descs(rng, 10)]
    want = [[w for d in ds for w in dma.read_words(mem, 0, d, BB)] for ds in descs]
    dut = _Pair()
    share, rds = dut.share, dut.rds
    assert share.depth == fifo_depth(4, MAX_BURST) == 16
    got = [[], []]

    async def bench(ctx):
        pending = []                # [ready cycle, addr, beats left] per AR, in order
        sent = [0, 0]
        r_hold, ar_seen = None, None
        take = (0.3, 0.9)           # engine 0's consumer is slow
        for cyc in range(6000):
            for i, rd in enumerate(rds):
                busy = sent[i] < len(descs[i])
                ctx.set(rd.cmd.valid, busy)
                if busy:
                    d = descs[i][sent[i]]
                    for f in ("base", "row_bytes", "rows", "stride"):
                        ctx.set(getattr(rd.cmd.payload, f), getattr(d, f))
                ctx.set(rd.o.ready, rng.random() < take[i])
            ctx.set(share.m_axi_arready, rng.random() < 0.7)
            if r_hold is None and pending and pending[0][0] <= cyc and rng.random() < 0.8:
                r_hold = pending[0]
            ctx.set(share.m_axi_rvalid, r_hold is not None)
            if r_hold is not None:
                a = r_hold[1]
                ctx.set(share.m_axi_rdata, int.from_bytes(mem[a:a + BB], "little"))
                ctx.set(share.m_axi_rlast, r_hold[2] == 1)
                ctx.set(share.m_axi_rresp, 0)
            # AXI: a valid address stays valid and unchanged until its handshake
            arv = ctx.get(share.m_axi_arvalid)
            ar = (ctx.get(share.m_axi_araddr), ctx.get(share.m_axi_arlen))
            if ar_seen is not None:
                assert arv and ar == ar_seen, f"cycle {cyc}: AR changed before its handshake"
            if r_hold is not None:
                assert ctx.get(share.m_axi_rready), f"cycle {cyc}: R held up (a FIFO filled)"
            for i, rd in enumerate(rds):
                if ctx.get(rd.cmd.valid) and ctx.get(rd.cmd.ready):
                    sent[i] += 1
                if ctx.get(rd.o.valid) and ctx.get(rd.o.ready):
                    got[i].append((ctx.get(rd.o.payload.data), bool(ctx.get(rd.o.payload.row_end)),
                                   bool(ctx.get(rd.o.payload.last))))
                assert not ctx.get(rd.error)
            ar_seen = ar if arv and not ctx.get(share.m_axi_arready) else None
            if arv and ctx.get(share.m_axi_arready):
                pending.append([cyc + 1 + rng.randint(1, 6), ar[0], ar[1] + 1])
            if r_hold is not None and ctx.get(share.m_axi_rready):
                r_hold[1] += BB
                r_hold[2] -= 1
                if not r_hold[2]:
                    pending.pop(0)
                r_hold = None
            await ctx.tick()
            if [len(g) for g in got] == [len(w) for w in want] and not pending:
                break
        assert got == want and cyc < 5999, (cyc, [len(g) for g in got])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
