"""The load engine: ``LOAD_IMEM`` / ``LOAD_WMEM``, one AXI-Stream into one banked memory.

The core has two, one per stream (``s_axis_imem`` -> IMEM, ``s_axis_wmem`` -> WMEM), so that a
weight tile loads while row groups stream in.

Contract: a command (:mod:`hw.core_cmd`) is taken when ``cmd.ready`` (the engine is idle);
from the next cycle every stream beat is written, bank by bank, then write lane (``streams``
of them, 0 = all), then word ``base .. base + count - 1`` of buffer ``buf``; ``tready`` is
high exactly while the command runs. ``done`` pulses with the last beat. Each write is
registered: ``w_*`` show a beat's write the cycle after it (the banks write it at the end of
that cycle), and ``busy`` and ``writes`` (bit ``b`` set while buffer ``b`` is being written,
the dispatcher's hazard input) stay set for that cycle, so a reader or another writer that
waits for them never sees the memory before the last write. With ``ways`` =
2 (IMEM, one write lane), a beat with ``s_two`` carries a second item, ``s_data2``: the next
word of the same bank (the master port's unpacker never pairs items of two banks), written
at ``w_addr + 1`` (``w_addr2``, a register of its own, ``w_data2`` / ``w_en2``: the banks'
pair write, hw/mem.py).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .core_cmd import command_fields, command_stream

__all__ = ["LoadEngine"]


class LoadEngine(wiring.Component):
    """Stream-to-memory load engine.

    Parameters
    ----------
    banks, depth, buffers : int
        Banks of the memory, words per bank and buffer, buffers.
    width : int
        Bits of one beat (one write lane of a word).
    lanes : int
        Write lanes of a bank word (WMEM: ``merge_degree`` weight streams; IMEM: 1).
    buffer_field : str
        The command field naming the buffer (``"ibuf"`` or ``"wbuf"``).
    ways : int
        Items a beat may carry (1 or 2; 2 only with ``lanes`` = 1).

    Members
    -------
    cmd : In(command_stream())
    s_axis_tdata : In(width) ; s_axis_tvalid : In(1) ; s_axis_tready : Out(1)
    w_addr : Out(range(buffers * depth)) ; w_data : Out(width * lanes)
        Write address (of every bank) and data (the beat replicated on every lane).
    w_en : Out(banks * lanes)
        Write enable of lane ``l`` of bank ``b`` at bit ``b * lanes + l``.
    writes : Out(buffers)
        Buffers being written.
    s_data2 : In(width) ; s_two : In(1)
        (``ways`` = 2) the beat's second item, and that it has one.
    w_addr2 : Out(range(buffers * depth)) ; w_data2 : Out(width) ; w_en2 : Out(banks)
        (``ways`` = 2) the second item's write, at ``w_addr2`` = ``w_addr + 1`` (registered:
        the banks pick their halves from it, hw/mem.py).
    busy, done : Out(1)
    abort : In(1)
        End the running command without ``done`` (a master-port fault, ``hw/core_dma.py``).
    """

    def __init__(self, *, banks: int, depth: int, buffers: int, width: int, lanes: int = 1,
                 buffer_field: str = "ibuf", ways: int = 1):
        for name, v in (("banks", banks), ("depth", depth), ("buffers", buffers),
                        ("width", width), ("lanes", lanes)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} = {v!r} must be an integer >= 1")
        if ways not in (1, 2) or (ways == 2 and lanes != 1):
            raise ValueError(f"ways = {ways!r} must be 1, or 2 with lanes = 1 (lanes = {lanes})")
        if buffer_field not in ("ibuf", "wbuf"):
            raise ValueError(f"buffer_field = {buffer_field!r} is not one of ibuf, wbuf")
        self._banks, self._depth, self._buffers = banks, depth, buffers
        self._width, self._lanes, self._field = width, lanes, buffer_field
        self._ways = ways
        two = {} if ways == 1 else {
            "s_data2": In(width), "s_two": In(1), "w_addr2": Out(range(buffers * depth)),
            "w_data2": Out(width), "w_en2": Out(banks)}
        super().__init__({**two,
            "cmd": In(command_stream()),
            "s_axis_tdata": In(width), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "w_addr": Out(range(buffers * depth)), "w_data": Out(width * lanes),
            "w_en": Out(banks * lanes),
            "writes": Out(buffers), "busy": Out(1), "done": Out(1), "abort": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        n_banks, lanes = self._banks, self._lanes
        f = command_fields(self.cmd.payload)
        active = Signal()
        buf = Signal(4)
        base = Signal(16)
        count = Signal(16)
        off = Signal(16)
        bank = Signal(range(n_banks))
        lane = Signal(range(lanes))
        last_lane = Signal(range(lanes))        # streams loaded - 1
        m.d.comb += self.cmd.ready.eq(~active)
        with m.If(self.cmd.valid & ~active):
            m.d.sync += [active.eq(1), buf.eq(f[self._field]), base.eq(f["base"]),
                         count.eq(f["count"]), bank.eq(0), lane.eq(0),
                         last_lane.eq(Mux(f["streams"] == 0, lanes - 1, f["streams"] - 1)
                                      if lanes > 1 else 0)]
        # ``off`` is cleared in every idle cycle (so in the take's), not by the take: the
        # command's valid comes late (the gather's take, hw/core_gather.py) and no longer
        # reaches its 16 bits (the FPGA build's timing, docs/fpga.md); it is read only with a
        # beat, and the w_addr a cleared ``off`` shows while idle goes with no write enable
        with m.If(~active):
            m.d.sync += off.eq(0)
        beat = Signal()
        # the write is registered (lands the cycle after its beat, docs/fpga.md: the items
        # reach the banks' write data from a register); ``busy`` and ``writes`` stay set for
        # that cycle, so nothing reads or writes the memory before the write has landed
        pend = Signal()
        m.d.comb += [self.s_axis_tready.eq(active), beat.eq(active & self.s_axis_tvalid),
                     self.busy.eq(active | pend)]
        w_data = Signal(self._width)
        w_next = Signal.like(self.w_addr)
        m.d.comb += w_next.eq(buf * self._depth + base + off)
        m.d.sync += [pend.eq(beat), self.w_addr.eq(w_next), w_data.eq(self.s_axis_tdata)]
        m.d.comb += self.w_data.eq(w_data.replicate(lanes))
        for i in range(n_banks):
            m.d.sync += self.w_en[i * lanes:(i + 1) * lanes].eq(
                Mux(beat & (bank == i), Const(1, lanes) << lane, 0))
        for b in range(self._buffers):
            m.d.comb += self.writes[b].eq((active | pend) & (buf == b))
        two = Signal()
        if self._ways == 2:
            m.d.comb += two.eq(self.s_two)
            m.d.sync += [self.w_addr2.eq(w_next + 1), self.w_data2.eq(self.s_data2)]
            for i in range(n_banks):
                m.d.sync += self.w_en2[i].eq(beat & two & (bank == i))
        last_off = off + two == count - 1
        last_ln = lane == last_lane
        # (done is a plain assignment, not set inside m.If: Icarus never evaluates an
        # always @* block whose inputs keep their initial values, leaving its output X)
        m.d.comb += self.done.eq(beat & last_off & last_ln & (bank == n_banks - 1))
        with m.If(beat):
            m.d.sync += off.eq(Mux(last_off, 0, off + 1 + two))
            with m.If(last_off):
                with m.If(last_ln):
                    m.d.sync += [lane.eq(0), bank.eq(bank + 1)]
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)
        with m.If(self.done | self.abort):
            m.d.sync += active.eq(0)
        return m
