"""The AXI4 master's bench harness: cocotbext-axi's ``AxiRam`` on the ``dma`` top's port,
descriptor and data streams, a handshake log, and the checks against :mod:`golden.dma`.

The memory is ``AxiRam``, an independent AXI4 slave model, over a :class:`FaultMem` store
(a byte range can be made to fail: AxiRam answers SLVERR, rewritten to DECERR on demand).
Fixed latency: an AR is handed to AxiRam's read process ``Bench.delay`` cycles after its
handshake (a delay line in front of the process; ARs are accepted at once). The read latency
:func:`golden.dma.read_timing` takes is that delay plus AxiRam's own (:data:`RAM_READ_LATENCY`);
the write-response latency is AxiRam's own (:data:`RAM_B_LATENCY`). Both were measured with
sim/tb_dma.py (the ``timing`` case; one-beat bursts) and are properties of cocotbext-axi 0.1.28.
"""

from __future__ import annotations

import logging
import random

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiRam
from cocotbext.axi.constants import AxiResp
from cocotbext.axi.stream import define_stream

from exion.limits import DMA_ADDR_WIDTH, DMA_ROW_BYTES_BITS, DMA_ROWS_BITS
from exion.regmap import Cause
from golden import dma as G
from sim.tb_common import config, pauses, start

__all__ = ["decerr_instead_of_slverr", "RAM_READ_LATENCY", "RAM_B_LATENCY", "MEM_SIZE", "REGION", "PayloadTransaction",
           "FaultMem", "pack_desc", "Bench", "random_desc", "fill_random", "stream_words",
           "check_reads", "check_write", "PayloadBus", "PayloadSource", "PayloadSink"]

#: AxiRam's cycles from an AR handshake to the first R beat handshake, and from a burst's last
#: W handshake to its B handshake, with no pauses (measured: see the module docstring).
RAM_READ_LATENCY = 2
RAM_B_LATENCY = 2

MEM_SIZE = 1 << 16
REGION = (0x1000, 0xF000)
PERIOD_NS = 10

(PayloadBus, PayloadTransaction, PayloadSource, PayloadSink, PayloadMonitor) = define_stream(
    "Payload", signals=["payload", "valid", "ready"])


def decerr_instead_of_slverr(channel, field, owner):
    """Make an ``AxiRam`` response ``channel`` (its R or B) answer DECERR where it would answer
    SLVERR, while ``owner.decerr`` is set (AxiRam itself only answers SLVERR)."""
    send = channel.send

    async def send_resp(obj):
        if owner.decerr and int(getattr(obj, field)) == AxiResp.SLVERR:
            setattr(obj, field, AxiResp.DECERR)
        await send(obj)
    channel.send = send_resp


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
        decerr_instead_of_slverr(self.ram.read_if.r_channel, "rresp", self)
        decerr_instead_of_slverr(self.ram.write_if.b_channel, "bresp", self)
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
