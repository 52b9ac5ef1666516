"""cocotb bench of the AXI4 master (hw/dma.py, top ``dma``) against cocotbext-axi's ``AxiRam``.

The memory is ``AxiRam``, an independent AXI4 slave model. Every check compares with
:mod:`golden.dma`: the words a read delivers, the memory after a write, the bursts on AR and AW,
the byte counters and, with a fixed-latency memory and no pauses, the cycle of every
handshake. Random pauses: AxiRam's channel pause generators (AR, R, AW, W, B) and the
descriptor and data streams (``rd_cmd``, ``wr_cmd``, ``wr`` sources, ``rd`` sink).

Fixed latency: an AR is handed to AxiRam's read process ``EXION_DMA_DELAY`` cycles after its
handshake (a delay line in front of the process; ARs are accepted at once). The latency
:func:`golden.dma.read_timing` takes is that delay plus AxiRam's own (:data:`RAM_READ_LATENCY`);
the write response latency is AxiRam's own (:data:`RAM_B_LATENCY`). Both were measured with
this bench (a read or write of one beat) and are properties of cocotbext-axi 0.1.28.
"""

from __future__ import annotations

import json
import logging
import os
import random

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiRam
from cocotbext.axi.constants import AxiResp
from cocotbext.axi.stream import define_stream

from exion.limits import DMA_ADDR_WIDTH, DMA_READ_OUTSTANDING, DMA_ROW_BYTES_BITS, \
    DMA_ROWS_BITS, DMA_WRITE_OUTSTANDING
from exion.regmap import Cause
from golden import dma as G
from sim.tb_common import config, start

#: AxiRam's cycles from an AR handshake to the first R beat handshake, and from a burst's last
#: W handshake to its B handshake, with no pauses (measured: see the module docstring).
RAM_READ_LATENCY = 2
RAM_B_LATENCY = 2

MEM_SIZE = 1 << 16
REGION = (0x1000, 0xF000)
PERIOD_NS = 10

(PayloadBus, PayloadTransaction, PayloadSource, PayloadSink, _Monitor) = define_stream(
    "Payload", signals=["payload", "valid", "ready"])


class FaultMem(bytearray):
    """AxiRam's backing store; an access touching ``fault`` (a byte range) raises, which
    AxiRam answers with SLVERR (rewritten to DECERR in ``decerr`` mode)."""

    fault = range(0)

    def _check(self, key):
        if isinstance(key, slice) and self.fault:
            start, stop, _ = key.indices(len(self))
            if start < self.fault.stop and stop > self.fault.start:
                raise IndexError("fault")

    def __getitem__(self, key):
        self._check(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        self._check(key)
        super().__setitem__(key, value)


def pack_desc(d: G.Descriptor) -> int:
    aw = DMA_ADDR_WIDTH
    return (d.base | d.row_bytes << aw | d.rows << (aw + DMA_ROW_BYTES_BITS)
            | d.stride << (aw + DMA_ROW_BYTES_BITS + DMA_ROWS_BITS))


def pauses(rng: random.Random, p: float):
    while True:
        yield rng.random() < p


class Bench:
    def __init__(self, dut, delay: int = 0):
        self.dut, self.cfg = dut, config()
        self.bb = self.cfg.bus_bytes
        self.mem = FaultMem(MEM_SIZE)
        self.decerr = False
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, mem=self.mem)
        logging.getLogger("cocotb.exion_dma.m_axi").setLevel(logging.WARNING)
        self.rd_cmd = PayloadSource(PayloadBus.from_prefix(dut, "rd_cmd_"), dut.clk, dut.rst)
        self.wr_cmd = PayloadSource(PayloadBus.from_prefix(dut, "wr_cmd_"), dut.clk, dut.rst)
        self.wr = PayloadSource(PayloadBus.from_prefix(dut, "wr_"), dut.clk, dut.rst)
        self.rd = PayloadSink(PayloadBus.from_prefix(dut, "rd_"), dut.clk, dut.rst)
        self.ram.read_if.ar_channel.queue_occupancy_limit = 64
        self.delay = delay
        self.ar_ns, self.ar_taken = [], 0
        self._wrap_delay()
        self._wrap_resp(self.ram.read_if.r_channel, "rresp")
        self._wrap_resp(self.ram.write_if.b_channel, "bresp")
        self.log = {k: [] for k in ("ar", "r", "aw", "w", "b", "rd", "rd_cmd", "wr_cmd")}
        dut.region_base.value, dut.region_end.value = REGION
        dut.clear.value = 0

    def _wrap_delay(self):
        sink = self.ram.read_if.ar_channel
        recv = sink.recv

        async def delayed():
            ar = await recv()
            # Its handshake time: logged by the monitor, or now if the monitor has not run at
            # this edge yet (the AR arrived at this very edge).
            k = self.ar_taken
            self.ar_taken += 1
            t = self.ar_ns[k] if k < len(self.ar_ns) else get_sim_time("ns")
            due = t + self.delay * PERIOD_NS
            while get_sim_time("ns") < due:
                await RisingEdge(self.dut.clk)
            return ar
        sink.recv = delayed

    def _wrap_resp(self, channel, field):
        send = channel.send

        async def send_resp(obj):
            if self.decerr and int(getattr(obj, field)) == AxiResp.SLVERR:
                setattr(obj, field, AxiResp.DECERR)
            await send(obj)
        channel.send = send_resp

    async def monitor(self):
        """Log every handshake (sampled at the rising edge, as the AXI models do) with its
        cycle number."""
        d = self.dut
        chans = {
            "ar": (d.m_axi_arvalid, d.m_axi_arready, lambda: (int(d.m_axi_araddr.value),
                                                              int(d.m_axi_arlen.value) + 1)),
            "r": (d.m_axi_rvalid, d.m_axi_rready, lambda: int(d.m_axi_rlast.value)),
            "aw": (d.m_axi_awvalid, d.m_axi_awready, lambda: (int(d.m_axi_awaddr.value),
                                                              int(d.m_axi_awlen.value) + 1)),
            "w": (d.m_axi_wvalid, d.m_axi_wready, lambda: int(d.m_axi_wlast.value)),
            "b": (d.m_axi_bvalid, d.m_axi_bready, lambda: int(d.m_axi_bresp.value)),
            "rd": (d.rd__valid, d.rd__ready, lambda: int(d.rd__payload.value)),
            "rd_cmd": (d.rd_cmd__valid, d.rd_cmd__ready, lambda: 0),
            "wr_cmd": (d.wr_cmd__valid, d.wr_cmd__ready, lambda: 0),
        }
        while True:
            await RisingEdge(d.clk)
            cyc = int(get_sim_time("ns") // PERIOD_NS)
            for name, (v, r, what) in chans.items():
                if v.value.is_resolvable and r.value.is_resolvable and v.value and r.value:
                    self.log[name].append((cyc, what()))
                    if name == "ar":
                        self.ar_ns.append(get_sim_time("ns"))

    def set_pauses(self, rng: random.Random, p: float):
        ch = [self.ram.read_if.ar_channel, self.ram.read_if.r_channel,
              self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
              self.ram.write_if.b_channel, self.rd_cmd, self.wr_cmd, self.wr, self.rd]
        for c in ch:
            c.set_pause_generator(pauses(rng, p) if p else None)
            if not p:
                c.pause = False     # a stopped generator leaves its last value

    async def begin(self):
        await start(self.dut)
        cocotb.start_soon(self.monitor())
        for _ in range(3):
            await RisingEdge(self.dut.clk)

    async def wait_idle(self, what: str, n_cmds: int, limit: int = 20000):
        """Wait until ``n_cmds`` descriptors were taken by engine ``what`` (counted since
        the start) and the engine is idle again."""
        log = self.log[f"{what}_cmd"]
        for _ in range(limit):
            await RisingEdge(self.dut.clk)
            cyc = int(get_sim_time("ns") // PERIOD_NS)
            if len(log) >= n_cmds and cyc > log[-1][0] + 1 and \
                    not int(getattr(self.dut, f"{what}_busy").value):
                return
        raise AssertionError(f"{what}: still busy after {limit} cycles")

    async def clear(self):
        self.dut.clear.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.clear.value = 0
        await RisingEdge(self.dut.clk)

    # -- transfers ------------------------------------------------------------------------
    async def read(self, descs: list[G.Descriptor]):
        """Issue ``descs`` back to back; return the words received as (data, row_end, last)."""
        n0, n_cmds = len(self.log["rd"]), len(self.log["rd_cmd"]) + len(descs)
        for d in descs:
            await self.rd_cmd.send(PayloadTransaction(payload=pack_desc(d)))
        await self.wait_idle("rd", n_cmds)
        bw = self.cfg.bus_width
        return [(p & ((1 << bw) - 1), bool(p >> bw & 1), bool(p >> (bw + 1) & 1))
                for _c, p in self.log["rd"][n0:]]

    async def write(self, desc: G.Descriptor, words: list[int]):
        n_cmds = len(self.log["wr_cmd"]) + 1
        await self.wr_cmd.send(PayloadTransaction(payload=pack_desc(desc)))
        for w in words:
            await self.wr.send(PayloadTransaction(payload=w))
        await self.wait_idle("wr", n_cmds)

    def bursts(self, chan: str, n0: int = 0):
        return [v for _c, v in self.log[chan][n0:]]


def random_desc(rng: random.Random, bb: int, max_bytes: int = 700, max_rows: int = 4):
    """A descriptor the master accepts, inside REGION."""
    while True:
        row_bytes = rng.choice([1, bb, rng.randint(1, max_bytes)])
        rows = rng.randint(1, max_rows)
        words = -(-row_bytes // bb)
        stride = bb * rng.choice([words, words + rng.randint(0, 40), rng.randint(0, words)])
        base = bb * rng.randrange(REGION[0] // bb, REGION[1] // bb)
        d = G.Descriptor(base, row_bytes, rows, stride)
        if G.cause(d, bb, *REGION) == Cause.NONE:
            return d


def fill_random(tb: Bench, rng: random.Random):
    tb.mem[:] = rng.randbytes(MEM_SIZE)


def stream_words(desc: G.Descriptor, bb: int, rng: random.Random) -> list[int]:
    return [rng.getrandbits(8 * bb) for _ in range(desc.rows * G.row_words(desc, bb))]


async def check_reads(tb: Bench, descs: list[G.Descriptor]):
    n_ar, bytes0 = len(tb.log["ar"]), int(tb.dut.bytes_read.value)
    got = await tb.read(descs)
    want = [w for d in descs for w in G.read_words(tb.mem, 0, d, tb.bb)]
    assert got == want, f"read data differs: {descs}"
    assert tb.bursts("ar", n_ar) == [b for d in descs for b in G.bursts(d, tb.bb)]
    moved = sum(G.bytes_read(d, tb.bb) for d in descs)
    assert (int(tb.dut.bytes_read.value) - bytes0) % (1 << 32) == moved
    assert not int(tb.dut.rd_error.value)


async def check_write(tb: Bench, desc: G.Descriptor, rng: random.Random):
    words = stream_words(desc, tb.bb, rng)
    want = G.write_memory(tb.mem, 0, desc, words, tb.bb)
    n_aw, bytes0 = len(tb.log["aw"]), int(tb.dut.bytes_written.value)
    await tb.write(desc, words)
    diff = [a for a in range(MEM_SIZE) if tb.mem[a] != want[a]]
    assert not diff, f"memory after the write differs at {diff[:8]}: {desc}"
    assert tb.bursts("aw", n_aw) == G.bursts(desc, tb.bb)
    assert (int(tb.dut.bytes_written.value) - bytes0) % (1 << 32) == G.bytes_written(desc)
    assert not int(tb.dut.wr_error.value)


# -- tests ----------------------------------------------------------------------------------

@cocotb.test()
async def random_pauses(dut):
    """Random descriptors, reads back to back and writes, with random pauses everywhere."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    await tb.begin()
    fill_random(tb, rng)
    for p in (0.0, 0.3, 0.6):
        tb.set_pauses(rng, p)
        await check_reads(tb, [random_desc(rng, tb.bb) for _ in range(3)])
        await check_write(tb, random_desc(rng, tb.bb), rng)


@cocotb.test()
async def extremes(dut):
    """1-byte rows, rows crossing 4 KB, the longest burst, stride 0, the region's last word,
    a read and a write at once."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    bb = tb.bb
    await tb.begin()
    fill_random(tb, rng)
    cases = [
        G.Descriptor(0x1000, 1, 3, bb),                    # 1-byte rows
        G.Descriptor(0x2000 - 2 * bb, 5 * bb - 3, 2, 0x1000),   # each row crosses 4 KB
        G.Descriptor(0x3000, 256 * bb, 1, 0),              # one burst of 256 beats (bb <= 16)
        G.Descriptor(0x3000, 1024 * bb if bb <= 4 else 4096, 1, 0),  # a whole page and more
        G.Descriptor(0x4000, 3 * bb + 1, 4, 0),            # stride 0: one row four times
        G.Descriptor(REGION[1] - bb, bb, 1, 0),            # the region's last word
    ]
    for d in cases:
        assert G.cause(d, bb, *REGION) == Cause.NONE, d
        await check_reads(tb, [d])
        await check_write(tb, d, rng)
    assert max(n for _a, n in tb.bursts("ar")) == min(256, 4096 // bb)
    # Read and write at the same time (disjoint channels).
    rd, wr = G.Descriptor(0x1000, 900, 3, 1024), G.Descriptor(0x5000, 700, 2, 1024)
    words = stream_words(wr, bb, rng)
    want_mem = G.write_memory(tb.mem, 0, wr, words, bb)
    want_rd = G.read_words(tb.mem, 0, rd, bb)
    tb.set_pauses(rng, 0.3)
    both = cocotb.start_soon(tb.read([rd]))
    await tb.write(wr, words)
    assert await both == want_rd and bytes(tb.mem) == bytes(want_mem)


@cocotb.test()
async def timing(dut):
    """No pauses, fixed latency: every AR/R/AW/W/B handshake cycle equals golden.dma."""
    rng = random.Random(cocotb.RANDOM_SEED + 2)
    tb = Bench(dut)
    await tb.begin()
    fill_random(tb, rng)
    bb = tb.bb
    descs = [G.Descriptor(0x1000, 1, 1, 0), G.Descriptor(0x1000, 300 * bb, 2, 0x1000),
             G.Descriptor(0x2000 - bb, 40 * bb + 5, 3, 64 * bb),
             G.Descriptor(0x1000, 2 * bb, 24, 4 * bb),     # short bursts: outstanding binds
             random_desc(rng, bb)]
    for delay in (0, 5, 30):
        tb.delay = delay
        lat = delay + RAM_READ_LATENCY
        for d in descs:
            n = {k: len(v) for k, v in tb.log.items()}
            await check_reads(tb, [d])
            t0 = tb.log["rd_cmd"][n["rd_cmd"]][0]
            want = G.read_timing(d, bb, lat, DMA_READ_OUTSTANDING)
            ar = [c - t0 for c, _ in tb.log["ar"][n["ar"]:]]
            r = [(c - t0, last) for c, last in tb.log["r"][n["r"]:]]
            firsts = [r[0][0]] + [r[i + 1][0] for i in range(len(r) - 1) if r[i][1]]
            lasts = [c for c, last in r if last]
            assert (ar, firsts, lasts) == (want.ar, want.first, want.last), \
                (d, delay, ar, firsts, lasts, want)
            assert tb.log["rd"][-1][0] - t0 + 1 == want.cycles
        if delay:
            continue
        for d in descs:
            n = {k: len(v) for k, v in tb.log.items()}
            await check_write(tb, d, rng)
            t0 = tb.log["wr_cmd"][n["wr_cmd"]][0]
            want = G.write_timing(d, bb, RAM_B_LATENCY, DMA_WRITE_OUTSTANDING)
            aw = [c - t0 for c, _ in tb.log["aw"][n["aw"]:]]
            w = [(c - t0, last) for c, last in tb.log["w"][n["w"]:]]
            wf = [w[0][0]] + [w[i + 1][0] for i in range(len(w) - 1) if w[i][1]]
            wl = [c for c, last in w if last]
            b = [c - t0 for c, _ in tb.log["b"][n["b"]:]]
            assert (aw, wf, wl, b) == (want.aw, want.w_first, want.w_last, want.b), \
                (d, aw, wf, wl, b, want)


async def expect_refused(tb: Bench, eng: str, d: G.Descriptor, cause: Cause):
    n = {k: len(v) for k, v in tb.log.items()}
    bb = tb.bb
    assert G.cause(d, bb, *REGION) == cause, (d, cause)
    if eng == "rd":
        got = await tb.read([d])
        assert got == []
    else:
        await tb.wr_cmd.send(PayloadTransaction(payload=pack_desc(d)))
        await tb.wait_idle("wr", n["wr_cmd"] + 1)
    dut = tb.dut
    assert int(getattr(dut, f"{eng}_error").value) == 1
    assert int(getattr(dut, f"{eng}_cause").value) == cause, (d, cause)
    for ch in ("ar", "aw", "w"):
        assert len(tb.log[ch]) == n[ch], f"{ch} transaction for a refused descriptor"
    await tb.clear()
    assert int(getattr(dut, f"{eng}_error").value) == 0


@cocotb.test()
async def errors(dut):
    """Refused descriptors and SLVERR / DECERR answers: cause, clean stop, nothing written past
    the fault, and the engine works again after clear."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 3)
    bb = tb.bb
    await tb.begin()
    fill_random(tb, rng)
    refused = [
        (G.Descriptor(0x1000, 0, 1, 0), Cause.BAD_FIELD),
        (G.Descriptor(0x1000, 8, 0, 0), Cause.BAD_FIELD),
        (G.Descriptor(0x1000 + bb // 2, 8, 1, 0), Cause.DMA_ALIGN),
        (G.Descriptor(0x1000, 8, 2, bb + 2), Cause.DMA_ALIGN),
        (G.Descriptor(REGION[0] - bb, 8, 1, 0), Cause.DMA_REGION),
        (G.Descriptor(REGION[1] - bb, bb + 1, 1, 0), Cause.DMA_REGION),
        (G.Descriptor(REGION[1] - 4 * bb, bb, 3, 2 * bb), Cause.DMA_REGION),
    ]
    good = G.Descriptor(0x1000, 5 * bb + 3, 3, 8 * bb)
    for eng in ("rd", "wr"):
        for d, cause in refused:
            await expect_refused(tb, eng, d, cause)
            if eng == "rd":
                await check_reads(tb, [good])
            else:
                await check_write(tb, good, rng)
    # Bus errors: a fault in the middle of a multi-burst transfer.
    d = G.Descriptor(0x2000, 64 * bb, 4, 0x400 if bb <= 16 else 64 * bb)
    spans = G.bursts(d, bb)
    bad = len(spans) // 2
    for decerr in (False, True):
        for p in (0.0, 0.4):
            tb.set_pauses(rng, p)
            tb.decerr = decerr
            cause = Cause.DMA_DECERR if decerr else Cause.DMA_SLVERR
            fault_addr = spans[bad][0] + bb * (spans[bad][1] // 2)
            tb.mem.fault = range(fault_addr, fault_addr + 1)
            # Read: every word before the faulty beat, nothing after it.
            want = G.read_words(tb.mem[:fault_addr] + bytes(MEM_SIZE - fault_addr), 0, d, bb)
            n_words = sum(n for _a, n in spans[:bad]) + spans[bad][1] // 2
            got = await tb.read([d])
            assert got == want[:n_words], (decerr, p, len(got), n_words)
            assert (int(dut.rd_error.value), int(dut.rd_cause.value)) == (1, cause)
            await tb.clear()
            if not p:
                # A second descriptor taken behind the failing one is dropped with it.
                n0, n_cmds = len(tb.log["rd"]), len(tb.log["rd_cmd"]) + 2
                await tb.rd_cmd.send(PayloadTransaction(payload=pack_desc(d)))
                await tb.rd_cmd.send(PayloadTransaction(payload=pack_desc(good)))
                await tb.wait_idle("rd", n_cmds)
                assert tb.bursts("ar")[-1] in G.bursts(good, bb), "second descriptor not issued"
                assert len(tb.log["rd"]) - n0 == n_words, "words past the fault"
                assert int(dut.rd_cause.value) == cause
                await tb.clear()
            tb.mem.fault = range(0)
            await check_reads(tb, [good])
            # Write: the bursts before the failing one written, none after it.
            tb.mem.fault = range(fault_addr, fault_addr + 1)
            n_aw = len(tb.log["aw"])
            before = bytes(tb.mem)
            words = stream_words(d, bb, rng)
            full = G.write_memory(before, 0, d, words, bb)
            n_cmds = len(tb.log["wr_cmd"]) + 1
            await tb.wr_cmd.send(PayloadTransaction(payload=pack_desc(d)))
            for w in words:
                tb.wr.send_nowait(PayloadTransaction(payload=w))
            await tb.wait_idle("wr", n_cmds)
            assert (int(dut.wr_error.value), int(dut.wr_cause.value)) == (1, cause)
            assert tb.bursts("aw", n_aw) == spans[:bad + 1], "a burst issued after the fault"
            end = spans[bad][0] + spans[bad][1] * bb
            assert bytes(tb.mem[:spans[bad][0]]) == bytes(full[:spans[bad][0]])
            assert bytes(tb.mem[end:]) == before[end:], "written past the fault"
            # The producer drops the words the engine did not take (and its valid).
            tb.wr.clear()
            dut.wr__valid.value = 0
            await tb.clear()
            tb.mem.fault = range(0)
            await check_write(tb, good, rng)
    tb.decerr = False


@cocotb.test()
async def bandwidth(dut):
    """Read bandwidth: cycles of long reads (no pauses, fixed latency) equal golden.dma's.

    Cases ``[row_bytes, rows, delay, gap]`` (``gap`` bytes between rows) from ``EXION_DMA_CASES`` (bench/bench_dma.py), else two
    small ones; each result is appended to ``EXION_DMA_REPORT`` (JSON lines) when set."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 4)
    bb = tb.bb
    await tb.begin()
    fill_random(tb, rng)
    cases = json.loads(os.environ.get("EXION_DMA_CASES", "[[512, 4, 0, 0], [64, 16, 30, %d]]"
                                      % bb))
    for row_bytes, rows, delay, gap in cases:
        tb.delay = delay
        d = G.Descriptor(REGION[0], row_bytes, rows, -(-row_bytes // bb) * bb + gap)
        n_cmd = len(tb.log["rd_cmd"])
        await check_reads(tb, [d])
        cycles = tb.log["rd"][-1][0] - tb.log["rd_cmd"][n_cmd][0] + 1
        want = G.read_timing(d, bb, delay + RAM_READ_LATENCY, DMA_READ_OUTSTANDING)
        assert cycles == want.cycles, (d, delay, cycles, want.cycles)
        if os.environ.get("EXION_DMA_REPORT"):
            with open(os.environ["EXION_DMA_REPORT"], "a") as f:
                f.write(json.dumps({"row_bytes": row_bytes, "rows": rows, "gap": gap,
                                    "first": want.first[0],
                                    "latency": delay + RAM_READ_LATENCY, "bus_bytes": bb,
                                    "bytes": G.bytes_read(d, bb), "cycles": cycles,
                                    "golden_cycles": want.cycles}) + "\n")
