"""cocotb bench of the AXI4 arbiter (hw/axi_arbiter.py, tops ``axi_arbiter<N>``): N DMA
masters (hw/dma.py) share cocotbext-axi's ``AxiRam`` through the arbiter.

Each master reads and writes random descriptors in its own window of the memory, all at once,
with random pauses on every AxiRam channel and on every master's descriptor and data streams;
read data and memory are compared with :mod:`golden.dma`, and the grants on AR and AW (the
master of each address on the slave port, and the cycle it was granted) with
:func:`golden.axi_arbiter.round_robin` applied to the requests and the slave's handshakes seen
in the same run. Errors: a SLVERR / DECERR in one master's window fails that master only.
The number of masters comes in ``EXION_ARBITER_MASTERS``.
"""

from __future__ import annotations

import json
import logging
import os
import random

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiBus, AxiRam

from exion.regmap import Cause
from golden import axi_arbiter as A
from golden import dma as G
from sim.dma_harness import (MEM_SIZE, REGION, FaultMem, PayloadBus, PayloadSink, PayloadSource,
                             PayloadTransaction, decerr_instead_of_slverr, pack_desc)
from sim.tb_common import config, pauses, start


class ArbBench:
    def __init__(self, dut):
        self.dut, self.cfg = dut, config()
        self.n = int(os.environ["EXION_ARBITER_MASTERS"])
        self.bb = self.cfg.bus_bytes
        self.mem = FaultMem(MEM_SIZE)
        self.decerr = False
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, mem=self.mem)
        self.ram.read_if.ar_channel.queue_occupancy_limit = 64
        logging.getLogger(f"cocotb.{dut._name}.m_axi").setLevel(logging.WARNING)
        for ch, field in ((self.ram.read_if.r_channel, "rresp"),
                          (self.ram.write_if.b_channel, "bresp")):
            decerr_instead_of_slverr(ch, field, self)
        self.ports = []
        for i in range(self.n):
            def bus(name, i=i):
                return PayloadBus.from_prefix(dut, f"c{i}_{name}_")
            self.ports.append({
                "rd_cmd": PayloadSource(bus("rd_cmd"), dut.clk, dut.rst),
                "wr_cmd": PayloadSource(bus("wr_cmd"), dut.clk, dut.rst),
                "wr": PayloadSource(bus("wr"), dut.clk, dut.rst),
                "rd": PayloadSink(bus("rd"), dut.clk, dut.rst)})
            getattr(dut, f"c{i}_clear").value = 0
        # Master i's window: a disjoint share of REGION, whole 4 KB pages.
        size = (REGION[1] - REGION[0]) // self.n // 4096 * 4096
        self.windows = [(REGION[0] + i * size, REGION[0] + (i + 1) * size) for i in range(self.n)]
        self.log = {"ar": [], "aw": []}
        self.bursts_done = 0
        dut.region_base.value, dut.region_end.value = REGION

    async def monitor(self):
        """Per cycle and address channel: the masters holding valid (bit mask), the slave-side
        valid, ready and ID (sampled at the rising edge, as the AXI models do)."""
        d = self.dut
        sig = {ch: ([getattr(d, f"c{i}_{ch}_pending") for i in range(self.n)],
                    getattr(d, f"m_axi_{ch}valid"), getattr(d, f"m_axi_{ch}ready"),
                    getattr(d, f"m_axi_{ch}id")) for ch in self.log}
        while True:
            await RisingEdge(d.clk)
            for ch, (pend, v, r, i) in sig.items():
                req = sum(int(p.value) << k for k, p in enumerate(pend))
                self.log[ch].append((req, int(v.value), int(r.value), int(i.value)))

    def set_pauses(self, rng: random.Random, p: float):
        ch = [self.ram.read_if.ar_channel, self.ram.read_if.r_channel,
              self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
              self.ram.write_if.b_channel]
        ch += [s for port in self.ports for s in port.values()]
        for c in ch:
            c.set_pause_generator(pauses(rng, p) if p else None)
            if not p:
                c.pause = False

    async def begin(self):
        await start(self.dut)
        cocotb.start_soon(self.monitor())
        for _ in range(3):
            await RisingEdge(self.dut.clk)

    def grants(self, ch: str):
        """(observed, golden) grants on channel ``ch`` so far. Observed: an address is new on
        the slave port in cycle c when the port was empty or handshaking in c - 1; it was
        granted in c - ISSUE_LATENCY to the master in its ID's upper bits."""
        log = self.log[ch]
        seen = [(c - A.ISSUE_LATENCY, log[c][3] >> 1) for c in range(1, len(log))
                if log[c][1] and (not log[c - 1][1] or log[c - 1][2])]
        want = A.round_robin(self.n, [e[0] for e in log],
                             A.accepts([e[1] for e in log], [e[2] for e in log]))
        # The last cycle's grant shows on the slave port only in the next one.
        want = [g for g in want if g[0] + A.ISSUE_LATENCY < len(log)]
        return seen, want

    def check_grants(self):
        for ch in ("ar", "aw"):
            seen, want = self.grants(ch)
            assert seen == want, f"{ch} grants differ from golden: {seen[:20]} {want[:20]}"
            assert seen or not any(e[0] for e in self.log[ch]), f"no {ch} grant seen"
            self.dut._log.info("%s: %d grants as golden", ch, len(seen))

    # -- one master's transfers ---------------------------------------------------------------
    async def wait_low(self, name: str, limit: int = 50000):
        sig = getattr(self.dut, name)
        for _ in range(limit):
            await RisingEdge(self.dut.clk)
            if not int(sig.value):
                return
        raise AssertionError(f"{name} still high after {limit} cycles")

    async def read(self, i: int, d: G.Descriptor, n_words: int | None = None):
        """Read ``d`` on master ``i``; return the words delivered as (data, row_end, last)."""
        port, bw = self.ports[i], self.cfg.bus_width
        want = G.row_words(d, self.bb) * d.rows if n_words is None else n_words
        await port["rd_cmd"].send(PayloadTransaction(payload=pack_desc(d)))
        got = []
        for _ in range(want):
            p = int((await port["rd"].recv()).payload)
            got.append((p & ((1 << bw) - 1), bool(p >> bw & 1), bool(p >> (bw + 1) & 1)))
        await self.wait_low(f"c{i}_rd_busy")
        return got

    async def write(self, i: int, d: G.Descriptor, words: list[int]):
        port = self.ports[i]
        await port["wr_cmd"].send(PayloadTransaction(payload=pack_desc(d)))
        for w in words:
            await port["wr"].send(PayloadTransaction(payload=w))
        await port["wr"].wait()
        await self.wait_low(f"c{i}_wr_busy")

    async def check_read(self, i: int, d: G.Descriptor):
        want = G.read_words(self.mem, 0, d, self.bb)
        got = await self.read(i, d)
        assert got == want, f"master {i}: read data differs: {d}"
        assert not int(getattr(self.dut, f"c{i}_rd_error").value)

    async def check_write(self, i: int, d: G.Descriptor, rng: random.Random):
        words = [rng.getrandbits(8 * self.bb) for _ in range(d.rows * G.row_words(d, self.bb))]
        lo, hi = self.windows[i]
        want = G.write_memory(self.mem, 0, d, words, self.bb)
        await self.write(i, d, words)
        assert bytes(self.mem[lo:hi]) == bytes(want[lo:hi]), f"master {i}: memory differs: {d}"
        assert not int(getattr(self.dut, f"c{i}_wr_error").value)

    async def clear(self, i: int):
        sig = getattr(self.dut, f"c{i}_clear")
        sig.value = 1
        await RisingEdge(self.dut.clk)
        sig.value = 0
        await RisingEdge(self.dut.clk)


def window_desc(rng: random.Random, bb: int, lo: int, hi: int, max_bytes: int = 600):
    """A random descriptor the master accepts, inside ``[lo, hi)``."""
    while True:
        row_bytes = rng.choice([1, bb, rng.randint(1, max_bytes)])
        rows = rng.randint(1, 3)
        words = -(-row_bytes // bb)
        stride = bb * rng.choice([words, words + rng.randint(0, 40), rng.randint(0, words)])
        d = G.Descriptor(bb * rng.randrange(lo // bb, hi // bb), row_bytes, rows, stride)
        if G.cause(d, bb, lo, hi) == Cause.NONE:
            return d


async def run_all(tb: ArbBench, jobs):
    tasks = [cocotb.start_soon(j) for j in jobs]
    for t in tasks:
        await t


# -- tests ----------------------------------------------------------------------------------

@cocotb.test()
async def traffic(dut):
    """Every master reads and writes random descriptors in its window at once; random pauses
    on every channel and stream; data bit-exact and grants as golden."""
    tb = ArbBench(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    await tb.begin()
    tb.mem[:] = rng.randbytes(MEM_SIZE)
    ops = int(os.environ.get("EXION_ARBITER_OPS", "8"))

    async def master(i, seed):
        r = random.Random(seed)
        for _ in range(ops):
            d = window_desc(r, tb.bb, *tb.windows[i])
            if r.random() < 0.5:
                await tb.check_read(i, d)
            else:
                await tb.check_write(i, d, r)

    for p in (0.0, 0.4):
        tb.set_pauses(rng, p)
        await run_all(tb, [master(i, rng.getrandbits(32)) for i in range(tb.n)])
    tb.check_grants()


@cocotb.test()
async def contention(dut):
    """No pauses: every master streams long reads and writes at once (each address channel
    has a request from every master most cycles); grants as golden, each master granted
    within masters - 1 grants of others."""
    tb = ArbBench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    await tb.begin()
    tb.mem[:] = rng.randbytes(MEM_SIZE)
    bb = tb.bb
    jobs = []
    for i, (lo, _hi) in enumerate(tb.windows):
        # Short bursts (rows with gaps), so that each master keeps several addresses waiting.
        jobs.append(tb.check_read(i, G.Descriptor(lo, 2 * bb, 12, 4 * bb)))
        jobs.append(tb.check_write(i, G.Descriptor(lo + 2048, 3 * bb, 6, 5 * bb), rng))
    await run_all(tb, jobs)
    tb.check_grants()
    for ch in ("ar", "aw"):
        seen, _ = tb.grants(ch)
        log = tb.log[ch]
        for i in range(tb.n):
            # From a cycle where master i requests, count grants to others before its grant.
            for t, (req, *_rest) in enumerate(log):
                if req >> i & 1 and (t == 0 or not log[t - 1][0] >> i & 1):
                    after = [m for c, m in seen if c >= t]
                    if i in after:
                        assert after.index(i) <= A.max_wait(tb.n), (ch, i, t, after[:8])
    assert {m for _c, m in tb.grants("ar")[0]} == set(range(tb.n))


@cocotb.test()
async def errors(dut):
    """A SLVERR / DECERR in master 1's window: master 1 sees the error (its cause), master 0
    reading and writing at the same time completes bit-exact with no error; both work after
    master 1's clear."""
    tb = ArbBench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 2)
    await tb.begin()
    tb.mem[:] = rng.randbytes(MEM_SIZE)
    bb = tb.bb
    lo1 = tb.windows[1][0]
    bad = G.Descriptor(lo1, 64 * bb, 3, 128 * bb if bb < 32 else 64 * bb)
    spans = G.bursts(bad, bb)
    fault = spans[1][0] + bb * (spans[1][1] // 2)
    n_ok = spans[0][1] + spans[1][1] // 2
    for decerr in (False, True):
        for p in (0.0, 0.3):
            tb.set_pauses(rng, p)
            tb.decerr = decerr
            cause = Cause.DMA_DECERR if decerr else Cause.DMA_SLVERR
            tb.mem.fault = range(fault, fault + 1)
            want = G.read_words(tb.mem[:fault] + bytes(MEM_SIZE - fault), 0, bad, bb)[:n_ok]
            lo0 = tb.windows[0][0]
            good = [tb.check_read(0, G.Descriptor(lo0, 40 * bb + 3, 3, 64 * bb)),
                    tb.check_write(0, G.Descriptor(lo0 + 4096, 30 * bb, 2, 32 * bb), rng)]
            got = cocotb.start_soon(tb.read(1, bad, n_ok))
            await run_all(tb, good)
            assert await got == want
            assert (int(dut.c1_rd_error.value), int(dut.c1_rd_cause.value)) == (1, cause)
            # A write into the fault: master 1's B error, master 0 untouched.
            words = [rng.getrandbits(8 * bb) for _ in range(bad.rows * G.row_words(bad, bb))]
            before = bytes(tb.mem)
            await tb.ports[1]["wr_cmd"].send(PayloadTransaction(payload=pack_desc(bad)))
            for w in words:
                tb.ports[1]["wr"].send_nowait(PayloadTransaction(payload=w))
            await tb.check_read(0, G.Descriptor(lo0, 20 * bb, 2, 32 * bb))
            await tb.wait_low("c1_wr_busy")
            assert (int(dut.c1_wr_error.value), int(dut.c1_wr_cause.value)) == (1, cause)
            end = spans[1][0] + spans[1][1] * bb
            assert bytes(tb.mem[end:]) == before[end:], "written past the fault"
            for i in range(tb.n):
                if i != 1:
                    assert not int(getattr(dut, f"c{i}_rd_error").value), i
                    assert not int(getattr(dut, f"c{i}_wr_error").value), i
            tb.ports[1]["wr"].clear()
            dut.c1_wr__valid.value = 0
            await tb.clear(1)
            tb.mem.fault = range(0)
            await tb.check_read(1, bad)
            await tb.check_write(1, bad, rng)
    tb.decerr = False
    tb.check_grants()


@cocotb.test()
async def bandwidth(dut):
    """Every master streams reads of ``EXION_ARBITER_READ`` = [row_bytes, rows, gap] (``gap``
    bytes between rows, so each row is its own bursts when > 0; default a
    small case; no pauses), data checked against golden; appends each master's R beats and
    the cycles to ``EXION_ARBITER_REPORT`` (JSON lines) when set (bench/bench_axi_arbiter.py)."""
    tb = ArbBench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 3)
    await tb.begin()
    tb.mem[:] = rng.randbytes(MEM_SIZE)
    row_bytes, rows, gap = json.loads(os.environ.get("EXION_ARBITER_READ", "[256, 2, 8]"))
    bb = tb.bb
    descs = [G.Descriptor(lo, row_bytes, rows, -(-row_bytes // bb) * bb + gap)
             for lo, _hi in tb.windows]
    r_log = []      # (cycle, master) of every R beat on the slave port

    async def watch():
        d, cyc = tb.dut, 0
        while True:
            await RisingEdge(d.clk)
            cyc += 1
            if int(d.m_axi_rvalid.value) and int(d.m_axi_rready.value):
                r_log.append((cyc, int(d.m_axi_rid.value) >> 1))
    w = cocotb.start_soon(watch())
    await run_all(tb, [tb.check_read(i, d) for i, d in enumerate(descs)])
    w.cancel()
    beats = [sum(1 for _c, m in r_log if m == i) for i in range(tb.n)]
    assert [b * bb for b in beats] == [G.bytes_read(d, bb) for d in descs]
    tb.check_grants()
    if not os.environ.get("EXION_ARBITER_REPORT"):
        return
    # While every master still streams: up to the first master's last beat.
    until = min(max(c for c, m in r_log if m == i) for i in range(tb.n))
    shared = [sum(1 for c, m in r_log if m == i and c <= until) for i in range(tb.n)]
    with open(os.environ["EXION_ARBITER_REPORT"], "a") as f:
        f.write(json.dumps({"masters": tb.n, "bus_bytes": bb, "beats": beats,
                            "row_bytes": row_bytes, "gap": gap,
                            "first": r_log[0][0], "last": r_log[-1][0], "until": until,
                            "shared": shared}) + "\n")
