"""The read engine: ``READ_OMEM``, OMEM to the ``m_axis`` stream (the core's writeback).

Contract: a command (:mod:`hw.core_cmd`) is taken when ``cmd.ready`` (the engine is idle);
addresses ``base .. base + count - 1`` of OMEM buffer ``obuf`` (every bank at once, bank 0
at the LSB) leave as ``count`` beats, ``tlast`` on the last; the first beat is valid two
cycles after the command is taken, then one beat per cycle while ``tready`` is high (the
shared sequencer, ``hw/sequencer.py``, prefetches one word). ``done`` pulses with the last
beat's transfer. ``reads`` has bit ``b`` set while buffer ``b`` is read.

With ``ways`` = 2, a command with ``MEM`` and ``PACK`` (its beats leave packed into bus words,
hw/core_dma.py) reads two addresses a cycle (the banks' pair read, hw/mem.py: ``r_data2`` holds the word at
``r_addr + 1``): each beat then carries the next address's word too (``m_axis_tdata2``,
``m_axis_two``), but the last when ``count`` is odd; ``count`` beats take
``ceil(count / 2)`` transfers.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .core_cmd import command_fields, command_flag, command_stream
from .sequencer import Sequencer

__all__ = ["ReadEngine"]


class ReadEngine(wiring.Component):
    """OMEM-to-stream read engine.

    Parameters
    ----------
    depth, buffers : int
        OMEM words per bank and buffer, buffers.
    width : int
        Bits of one beat (one word of every bank).
    ways : int
        OMEM addresses a packed beat may carry (1 or 2).

    Members
    -------
    cmd : In(command_stream())
    r_addr : Out(range(buffers * depth)) ; r_en : Out(1) ; r_data : In(width)
        OMEM read (every bank at one address; data one cycle later). ``r_addr`` is the next
        word's address, from registers, and ``r_en`` the fetch: the memory's data holds
        while a beat waits, and the address does not wait for ``m_axis_tready`` (the FPGA
        build's timing, docs/fpga.md).
    m_axis_tdata : Out(width) ; m_axis_tvalid, m_axis_tlast : Out(1) ; m_axis_tready : In(1)
    r_addr1 : Out(range(buffers * depth))
        (``ways`` = 2) ``r_addr + 1`` (modulo its width), for the banks' pair read, from a
        base + 1 registered beside the base (no adder behind ``r_addr``'s, hw/mem.py).
    r_data2 : In(width) ; m_axis_tdata2 : Out(width) ; m_axis_two : Out(1)
        (``ways`` = 2) the word at ``r_addr + 1``, and the beat's second word.
    reads : Out(buffers)
    busy, done : Out(1)
    """

    def __init__(self, *, depth: int, buffers: int, width: int, ways: int = 1):
        for name, v in (("depth", depth), ("buffers", buffers), ("width", width)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} = {v!r} must be an integer >= 1")
        if ways not in (1, 2):
            raise ValueError(f"ways = {ways!r} must be 1 or 2")
        self._depth, self._buffers, self._width, self._ways = depth, buffers, width, ways
        two = {} if ways == 1 else {
            "r_addr1": Out(range(buffers * depth)),
            "r_data2": In(width), "m_axis_tdata2": Out(width), "m_axis_two": Out(1)}
        super().__init__({**two,
            "cmd": In(command_stream()),
            "r_addr": Out(range(buffers * depth)), "r_en": Out(1), "r_data": In(width),
            "m_axis_tdata": Out(width), "m_axis_tvalid": Out(1), "m_axis_tlast": Out(1),
            "m_axis_tready": In(1),
            "reads": Out(buffers), "busy": Out(1), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        f = command_fields(self.cmd.payload)
        m.submodules.seq = seq = Sequencer(addr_width=16, count_width=17)
        active = Signal()
        buf = Signal(4)
        # the read address: buffer * depth + base registered at the take (in the address's
        # width: the sum's low bits are the same), plus the sequencer's offset, so one carry
        # chain comes before the banks; base + 1 beside it for the pair read's second word
        # (the FPGA build's timing, docs/fpga.md)
        aw = len(self.r_addr)
        rbase, rbase1 = Signal(aw), Signal(aw, init=1 % (1 << aw))
        take = Signal()
        # packed: the sequencer counts address pairs (odd: the last holds one)
        pack, odd = Signal(), Signal()
        new_pack = (command_flag(self.cmd.payload, "MEM") & command_flag(self.cmd.payload, "PACK")
                    if self._ways == 2 else 0)
        m.d.comb += [take.eq(self.cmd.valid & ~active), self.cmd.ready.eq(~active),
                     seq.start.eq(take), seq.base.eq(0),
                     seq.count.eq(Mux(new_pack, (f["count"] + 1) >> 1, f["count"]))]
        with m.If(take):
            m.d.sync += [active.eq(1), buf.eq(f["obuf"]),
                         rbase.eq(f["obuf"] * self._depth + f["base"]),
                         rbase1.eq(f["obuf"] * self._depth + f["base"] + 1),
                         pack.eq(new_pack), odd.eq(f["count"][0])]
        offset = seq.f_addr << pack
        m.d.comb += [self.r_addr.eq(rbase + offset), self.r_en.eq(seq.r_en)]
        if self._ways == 2:
            m.d.comb += [self.r_addr1.eq(rbase1 + offset),
                         self.m_axis_tdata2.eq(self.r_data2),
                         self.m_axis_two.eq(pack & ~(seq.o_last & odd))]
        m.d.comb += [
            seq.o_ready.eq(self.m_axis_tready),
            self.m_axis_tdata.eq(self.r_data),
            self.m_axis_tvalid.eq(seq.o_valid),
            self.m_axis_tlast.eq(seq.o_valid & seq.o_last),
            self.done.eq(seq.o_valid & self.m_axis_tready & seq.o_last),
            self.busy.eq(active),
        ]
        with m.If(self.done):
            m.d.sync += active.eq(0)
        for b in range(self._buffers):
            m.d.comb += self.reads[b].eq(active & (buf == b))
        return m
