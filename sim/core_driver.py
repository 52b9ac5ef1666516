"""Host-side driver of the EXION core for cocotb benches: AXI4-Lite registers and commands by
``cocotbext-axi``'s master, bulk data by its AXI-Stream source and sink, a mirror of OMEM.

Used by the core bench (sim/tb_core.py) and the random command streams (sim/tb_core_fuzz.py).
Every AXI4-Lite channel and every stream pauses at random (cocotbext-axi pause generators,
seeded), each cycle with the probability ``EXION_CORE_PAUSE`` (default 0.2).
"""

from __future__ import annotations

import logging
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)
from cocotbext.axi.axil_channels import AxiLiteAWTransaction, AxiLiteWTransaction

from exion.fields import ARG_FIELDS
from exion.regmap import (FLAGS, OPCODES, QUEUE_DEPTH, REGISTERS, STATUS_BITS, RegisterMap, encode)
from golden import cycle_model, intsem
from golden.sdue import dense_wmem_image
from sim.tb_common import config, pack, pauses, start, unpack

__all__ = ["CoreTB"]



class CoreTB:
    """Host-side driver: registers, commands, stream loads and reads, a mirror of OMEM."""

    def __init__(self, dut, *, core: int | None = None, axil: AxiLiteMaster | None = None):
        """``core``: drive core ``core`` of the N-core top (``hw/multicore.py``: its streams
        are prefixed ``c<core>_``, its registers at ``core * core_stride``), sharing the
        control port's master ``axil`` with the other cores' drivers (None: create it)."""
        self.dut = dut
        self.cfg = cfg = config()
        self.map = RegisterMap(cfg)
        prefix = "" if core is None else f"c{core}_"
        self.base = 0 if core is None else core * self.map.core_stride
        own = axil is None
        self.axil = axil if axil is not None else AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.src_i = AxiStreamSource(AxiStreamBus.from_prefix(dut, prefix + "s_axis_imem"),
                                     dut.clk, dut.rst, byte_lanes=1)
        self.src_w = AxiStreamSource(AxiStreamBus.from_prefix(dut, prefix + "s_axis_wmem"),
                                     dut.clk, dut.rst, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, prefix + "m_axis"), dut.clk,
                                  dut.rst, byte_lanes=1)
        self.pause = float(os.environ.get("EXION_CORE_PAUSE", "0.2"))
        if self.pause:
            rng = random.Random(1234 + (core or 0))
            w, r = self.axil.write_if, self.axil.read_if
            chans = [w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel] * own
            for ch in chans + [self.src_i, self.src_w, self.sink]:
                ch.set_pause_generator(pauses(random.Random(rng.random()), self.pause))
        self.kc_max = cfg.words("imem")
        # OMEM contents as the host expects them: (buffers, rows, words); memories power up 0
        self.omem = np.zeros((cfg.omem_buffers, cfg.rows, cfg.words("omem")), np.int64)
        self.cycle = 0
        self.args = {}          # argument registers as last written (reset clears them)
        self.issued = 0         # commands written to CMD (refused ones too: conservative)
        self.done = 0           # DONE as last read
        self.commands = []      # (opcode name, fields) of every command the core took
        cocotb.start_soon(self._count())

    @classmethod
    async def started(cls, dut, **kw) -> "CoreTB":
        """A driver (``kw`` as for the constructor) of a core just reset: the cocotbext
        components' loggers at WARNING, the clock started, reset held and released, two idle
        cycles. The memories keep what earlier tests of the simulation left there."""
        tb = cls(dut, **kw)
        prefix = "" if kw.get("core") is None else f"c{kw['core']}_"
        for name in ("s_axil", "m_axi", *(prefix + n for n in ("s_axis_imem", "s_axis_wmem",
                                                                 "m_axis"))):
            logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)
        await start(dut)
        await ClockCycles(dut.clk, 2)
        return tb

    async def _count(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    # -- registers and commands -----------------------------------------------------------
    async def write(self, name_or_addr, value: int):
        addr = REGISTERS[name_or_addr] if isinstance(name_or_addr, str) else name_or_addr
        await self.axil.write_dword(self.base + addr, value & 0xFFFFFFFF)

    async def read(self, name_or_addr) -> int:
        addr = REGISTERS[name_or_addr] if isinstance(name_or_addr, str) else name_or_addr
        return int(await self.axil.read_dword(self.base + addr))

    async def write_strobed(self, addr: int, value: int, strb: int) -> int:
        """One AXI4-Lite write with byte strobes ``strb`` (0 included, which the master's
        byte API cannot send) at ``addr``; returns BRESP."""
        w = self.axil.write_if
        await self.axil.wait()
        await w.aw_channel.send(AxiLiteAWTransaction(awaddr=self.base + addr, awprot=0))
        await w.w_channel.send(AxiLiteWTransaction(wdata=value & 0xFFFFFFFF, wstrb=strb))
        return int((await w.b_channel.recv()).bresp)

    async def status(self) -> dict:
        s = await self.read("STATUS")
        out = {k: (s >> b) & 1 for k, b in STATUS_BITS.items()}
        out["level"] = (s >> 8) & 0xFF
        return out

    async def issue_raw(self, args: dict, word: int, wait_room: bool = True,
                        record: bool = True):
        """Write the argument registers that differ from what they hold, then ``CMD``;
        ``record``: the command is expected to be taken (``stream_bytes`` counts it).

        The queue surely has room while fewer than ``QUEUE_DEPTH`` commands are unfinished
        (``DONE`` counts finished ones), so ``STATUS`` is polled only beyond that: the host
        overhead per command is then a few AXI4-Lite writes.
        """
        for name, value in args.items():
            if self.args.get(name) != value:
                await self.write(name, value)
                self.args[name] = value
        if wait_room and self.issued - self.done >= QUEUE_DEPTH:
            self.done = await self.read("DONE")
            while self.issued - self.done >= QUEUE_DEPTH and (await self.status())["queue_full"]:
                self.done = await self.read("DONE")
        await self.write("CMD", word)
        self.issued += 1
        if record:
            self.record(args, word)

    def record(self, args: dict, word: int):
        op = {v: k for k, v in OPCODES.items()}.get(word & 0xFF, "?")
        regs = [args.get(f"ARG{i}", self.args.get(f"ARG{i}", 0)) for i in range(6)]
        fields = {f.name: (regs[f.reg] >> f.lo) & f.mask for f in ARG_FIELDS}
        fields["mem"] = int(bool(word & FLAGS["MEM"]))      # through the master port
        self.commands.append((op, fields))

    async def issue(self, op: str, record: bool = True, **fields):
        args, word = encode(op, **fields)
        await self.issue_raw(args, word, record=record)

    async def check_traffic(self):
        """BYTES_IN / BYTES_OUT against golden.cycle_model.stream_bytes of every command
        taken since reset (call when idle)."""
        got = []
        for name in ("BYTES_IN", "BYTES_OUT"):
            got.append(await self.read(name + "_LO") | await self.read(name + "_HI") << 32)
        want = cycle_model.stream_bytes(self.commands, self.cfg)
        assert tuple(got) == want, f"BYTES_IN / BYTES_OUT {tuple(got)}, model {want}"

    async def wait_idle(self) -> dict:
        while True:
            s = await self.status()
            if not s["busy"]:
                return s

    async def expect_ok(self):
        s = await self.wait_idle()
        if s["error"]:
            raise AssertionError(f"core reports error: cause {await self.read('CAUSE')}, "
                                 f"command word {await self.read('ERR_CMD'):#x}, "
                                 f"ARG0..5 {[hex(await self.read(f'ARG{i}')) for i in range(6)]}")

    # -- bulk data ------------------------------------------------------------------------
    def lane_words(self, rows_k):
        """(n, K) ints -> per row, kc lane-vector words (zero padded)."""
        cfg = self.cfg
        rows_k = np.asarray(rows_k, np.int64)
        kc = intsem.lane_chunks(rows_k.shape[1], cfg.lanes)
        pad = np.zeros((rows_k.shape[0], kc * cfg.lanes), np.int64)
        pad[:, :rows_k.shape[1]] = rows_k
        return [[pack(pad[i, k * cfg.lanes:(k + 1) * cfg.lanes], cfg.data_width)
                 for k in range(kc)] for i in range(rows_k.shape[0])]

    async def load_imem(self, buf: int, x):
        """Tokens ``x`` (<= rows, K) into IMEM buffer ``buf`` (missing rows are zero)."""
        cfg = self.cfg
        x = np.asarray(x, np.int64)
        full = np.zeros((cfg.rows, x.shape[1]), np.int64)
        full[:x.shape[0]] = x
        words = self.lane_words(full)
        await self.issue("LOAD_IMEM", base=0, count=len(words[0]), buf=buf)
        await self.src_i.send(AxiStreamFrame([w for bank in words for w in bank]))

    async def load_wmem(self, buf: int, img, streams: int = 0):
        """A WMEM image ``(cols, words, merge_degree, lanes)`` into buffer ``buf``; only its
        first ``streams`` streams (0: all)."""
        cfg = self.cfg
        img = np.asarray(img, np.int64)
        count = img.shape[1]
        await self.issue("LOAD_WMEM", base=0, count=count, buf=buf, streams=streams)
        beats = [pack(img[c, a, d], cfg.data_width) for c in range(cfg.cols)
                 for d in range(streams or cfg.merge_degree) for a in range(count)]
        await self.src_w.send(AxiStreamFrame(beats))

    def dense_wmem(self, w):
        """WMEM image of ``w`` (K, N) in the dense layout: channel ``n`` in bank
        ``n % cols`` at words ``(n // cols) * kc ..``, stream 0."""
        return dense_wmem_image(w, self.cfg)

    async def read_omem(self, buf: int, base: int, count: int):
        """Issue a READ_OMEM and wait for its frame: (rows, count) ints."""
        await self.issue("READ_OMEM", base=base, count=count, buf=buf)
        return await self.recv_omem(count)

    async def recv_omem(self, count: int):
        frame = await self.sink.recv()
        assert len(frame.tdata) == count, f"{len(frame.tdata)} beats, expected {count}"
        cols = [unpack(int(v), self.cfg.data_width, self.cfg.rows) for v in frame.tdata]
        return np.array(cols, np.int64).T

    async def read_mask(self, n_ch: int):
        """Mask window: (rows, n_ch) bool."""
        m = self.map
        out = np.zeros((self.cfg.rows, n_ch), bool)
        for ch in range(n_ch):
            cv = 0
            for i in range(m.mask_words):
                cv |= await self.read(m.mask_base + 4 * (ch * m.mask_stride + i)) << (32 * i)
            for r in range(self.cfg.rows):
                out[r, ch] = (cv >> r) & 1
        return out

    async def write_mask(self, mask):
        m = self.map
        mask = np.asarray(mask, bool)
        for ch in range(mask.shape[1]):
            cv = sum(1 << r for r in range(mask.shape[0]) if mask[r, ch])
            for i in range(m.mask_words):
                await self.write(m.mask_base + 4 * (ch * m.mask_stride + i),
                                 (cv >> (32 * i)) & 0xFFFFFFFF)

    async def read_smem(self, n_blocks: int) -> list[int]:
        m = self.map
        words = []
        for b in range(n_blocks):
            v = 0
            for i in range(m.smem_words):
                v |= await self.read(m.smem_base + 4 * (b * m.smem_stride + i)) << (32 * i)
            words.append(v & ((1 << m.block_bits) - 1))
        return words

    # -- golden helpers --------------------------------------------------------------------
    def gemm_expect(self, obuf, x, w, shift, ch_base=0, mask=None):
        """Update the OMEM mirror with a GEMM's outputs (rows of ``x``; ``mask``: which)."""
        y = intsem.requantize(intsem.int_matmul(x, w, self.cfg.lanes, self.cfg.acc_width),
                              shift, self.cfg.data_width)
        n = w.shape[1]
        view = self.omem[obuf, :x.shape[0], ch_base:ch_base + n]
        written = np.ones_like(y, bool) if mask is None else np.asarray(mask, bool)
        view[written] = y[written]
        return y

    def check_omem(self, buf, got, base, label):
        exp = self.omem[buf, :, base:base + got.shape[1]]
        bad = np.argwhere(got != exp)
        assert not len(bad), (f"{label}: {len(bad)} OMEM words differ, first (row, addr) "
                              f"{tuple(bad[0])}: got {got[tuple(bad[0])]}, "
                              f"expected {exp[tuple(bad[0])]}")
