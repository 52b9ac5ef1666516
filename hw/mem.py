"""Banked, multi-buffered on-chip memories: IMEM, WMEM (host writes, array reads) and OMEM
(array writes, host reads).

Every bank is one :class:`amaranth.lib.memory.Memory` of ``buffers * depth`` words (so
synthesis infers one RAM per bank), addressed ``buffer * depth + addr``. Buffers rotate: the
array side uses buffer ``cur`` and the host side buffer ``(cur + 1 + host_buf) % buffers``
(``host_buf`` in ``[0, buffers - 2]``, so a triple-buffered WMEM has two host-side buffers).
A ``swap`` strobe advances ``cur`` by one; traffic on either side continues across the swap,
nothing in flight is lost (a write issued in the swap cycle lands in the buffer that was
host-side in that cycle).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .library import place

__all__ = ["Bank", "ReadBanks", "WriteBanks"]


def _check(name, value, lo, hi=None):
    if not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f"[{lo}, ...]"
        raise ValueError(f"{name} must be an integer in {rng}, not {value!r}")


class _BufferRotation:
    """The ``cur`` register and the host-side buffer index (shared by both bank kinds)."""

    @staticmethod
    def build(m, buffers, swap, host_buf):
        cur = Signal(range(buffers), name="cur")
        with m.If(swap):
            m.d.sync += cur.eq(0 if buffers == 1 else (cur + 1) % buffers)
        host = Signal(range(buffers), name="host")
        m.d.comb += host.eq((cur + 1 + host_buf) % buffers if buffers > 1 else 0)
        return cur, host


class Bank(wiring.Component):
    """One bank: a RAM of ``buffers * depth`` words with one write and one read port.

    The write port has ``granularity`` (``width / lanes`` bits per enable bit); the read port
    is synchronous (data one cycle after the address). Addresses are the full RAM address.

    ``pair_write`` / ``pair_read`` (the master port's two words a cycle, hw/core_dma.py): the
    word at address ``w_addr + 1`` / ``r_addr + 1`` too, in the same cycle. The bank is then
    two RAMs, the even and the odd addresses, so that two neighbouring words are always in
    different RAMs and each RAM keeps the ports of the plain bank (one write port each, or
    ``write_ports``, and one read port): the pair costs address and data multiplexers, no
    bit-cell port.

    Members
    -------
    w_addr, w_data, w_en : In
    r_addr : In
    r_data : Out(width)
    r_en : In(1, init=1)
        Read enable: ``r_data`` (and ``r2_data``) hold while it is low, so a reader that holds
        a word may present the next address early (``hw/sequencer.py``'s ``f_addr``).
    wp<i>_addr, wp<i>_data, wp<i>_en : In
        Further write ports ``i`` >= 1.
    w2_addr, w2_data, w2_en : In
        (``pair_write``) the word at ``w2_addr`` = ``w_addr + 1`` (never enabled with a further
        port). The writer gives ``w2_addr`` from a register, so that each half's selection
        (the pair's half when ``w2_en`` is set, from ``w2_addr[0]``) is one gate from
        registers: ``w_addr`` (a multiplex of writers) then reaches the halves' addresses
        through one multiplexer and the enables alone, not the selects of every address and
        data bit (the FPGA build's timing, docs/fpga.md).
    r_addr1 : In(range(depth))
        (``pair_read``) ``r_addr + 1`` (modulo the address's width), given by the reader from
        its registered parts (a base + 1 beside its base) rather than by an adder here: the
        second word's half then reads ``r_addr1 >> 1`` through no carry chain behind the
        reader's own (the FPGA build's timing, docs/fpga.md).
    r2_data : Out(width)
        (``pair_read``) the word at ``r_addr + 1``.
    """

    def __init__(self, *, width: int, depth: int, write_lanes: int = 1, write_ports: int = 1,
                 pair_write: bool = False, pair_read: bool = False, unit: str | None = None):
        #: Synthesis report unit (hw/library.py): set by the creator, a bank's role (IMEM,
        #: WMEM, OMEM); ``None``: the unit of the module that holds it.
        self.report_unit = unit
        _check("width", width, 1)
        _check("depth", depth, 1)
        _check("write_lanes", write_lanes, 1)
        _check("write_ports", write_ports, 1)
        if width % write_lanes:
            raise ValueError(f"width = {width} is not a multiple of write_lanes = {write_lanes}")
        self._width, self._depth, self._lanes = width, depth, write_lanes
        self._ports, self._pw, self._pr = write_ports, bool(pair_write), bool(pair_read)
        sig = {
            "w_addr": In(range(depth)),
            "w_data": In(width),
            "w_en": In(write_lanes),
            "r_addr": In(range(depth)),
            "r_data": Out(width),
            "r_en": In(1, init=1),
        }
        # Further write ports (OMEM with drain_ports > 1): wp<i>_addr / _data / _en. Writers
        # never hit one address from two ports in one cycle.
        for i in range(1, write_ports):
            sig.update({f"wp{i}_addr": In(range(depth)), f"wp{i}_data": In(width),
                        f"wp{i}_en": In(write_lanes)})
        if pair_write:
            sig.update({"w2_addr": In(range(depth)), "w2_data": In(width),
                        "w2_en": In(write_lanes)})
        if pair_read:
            sig.update({"r_addr1": In(range(depth)), "r2_data": Out(width)})
        super().__init__(sig)

    @property
    def module_name(self) -> str:
        ports = f"_p{self._ports}" if self._ports > 1 else ""
        ports += "_pw" if self._pw else ""
        ports += "_pr" if self._pr else ""
        return f"exion_bank_w{self._width}_d{self._depth}_g{self._lanes}{ports}"

    def write(self, i: int):
        """``(addr, data, en)`` of write port ``i``."""
        if i == 0:
            return self.w_addr, self.w_data, self.w_en
        return (getattr(self, f"wp{i}_addr"), getattr(self, f"wp{i}_data"),
                getattr(self, f"wp{i}_en"))

    def elaborate(self, platform):
        m = Module()
        gran = self._width // self._lanes if self._lanes > 1 else None
        if not (self._pw or self._pr):
            m.submodules.mem = mem = Memory(shape=unsigned(self._width), depth=self._depth,
                                            init=[])
            for i in range(self._ports):
                wp = mem.write_port(granularity=gran)
                addr, wdata, en = self.write(i)
                m.d.comb += [wp.addr.eq(addr), wp.data.eq(wdata), wp.en.eq(en)]
            rp = mem.read_port()
            m.d.comb += [rp.addr.eq(self.r_addr), rp.en.eq(self.r_en), self.r_data.eq(rp.data)]
            return m
        # two RAMs: half h holds the addresses 2 i + h at i
        half = (self._depth + 1) // 2
        halves = [Memory(shape=unsigned(self._width), depth=half, init=[]) for _ in range(2)]
        m.submodules.even, m.submodules.odd = halves
        for h, mem in enumerate(halves):
            for i in range(self._ports):
                wp = mem.write_port(granularity=gran)
                addr, wdata, en = self.write(i)
                mine = addr[0] == h
                if i == 0 and self._pw:   # the pair's word where it is this half's, else port 0
                    use2 = Signal(name=f"use2_{h}")
                    m.d.comb += [use2.eq(self.w2_en.any() & (self.w2_addr[0] == h)),
                                 wp.addr.eq(Mux(use2, self.w2_addr >> 1, addr >> 1)),
                                 wp.data.eq(Mux(use2, self.w2_data, wdata)),
                                 wp.en.eq(Mux(use2, self.w2_en, Mux(mine, en, 0)))]
                else:
                    m.d.comb += [wp.addr.eq(addr >> 1), wp.data.eq(wdata),
                                 wp.en.eq(Mux(mine, en, 0))]
        # reads: r_addr from its half, r_addr + 1 from the other (the even one at the next i
        # when r_addr is odd): the even half at (r_addr + 1) >> 1, which with pair_read is
        # r_addr1 >> 1 (the same bits of the port's address: it keeps r_addr's width minus one)
        nxt = self.r_addr1 if self._pr else self.r_addr + 1
        odd = Signal()
        with m.If(self.r_en):
            m.d.sync += odd.eq(self.r_addr[0])
        rps = [halves[0].read_port(), halves[1].read_port()]
        m.d.comb += [rps[0].en.eq(self.r_en), rps[1].en.eq(self.r_en),
                     rps[0].addr.eq(nxt >> 1), rps[1].addr.eq(self.r_addr >> 1),
                     self.r_data.eq(Mux(odd, rps[1].data, rps[0].data))]
        if self._pr:
            m.d.comb += self.r2_data.eq(Mux(odd, rps[0].data, rps[1].data))
        return m


class ReadBanks(wiring.Component):
    """IMEM or WMEM: ``banks`` banks the host fills and the array reads, all at one address.

    Parameters
    ----------
    banks, depth, buffers : int
        Bank count, words per bank per buffer, buffer count.
    word : data.Layout
        Shape of one array-side read word of a bank.
    write_lanes : int
        The host writes ``1 / write_lanes`` of a word at a time (WMEM: one weight stream of a
        merged column slot, selected by ``w_lane``).

    Members
    -------
    w_en, w_bank, w_lane, w_buf, w_addr, w_data : In
        Host write: bank, part of the word, host-side buffer (``0 .. buffers - 2``), address.
    r_addr : In
        Array read address (every bank); data one cycle later on ``r_data``.
    r_data : Out(ArrayLayout(word, banks))
    swap : In(1)
        Rotate the buffers.
    cur : Out
        Buffer the array side currently uses.
    """

    def __init__(self, *, banks: int, depth: int, buffers: int, word, write_lanes: int = 1,
                 unit: str | None = None):
        #: Synthesis report unit (hw/library.py): ``imem`` or ``wmem``, set by the creator;
        #: the banks take it too.
        self.report_unit = unit
        _check("banks", banks, 1)
        _check("depth", depth, 1)
        _check("buffers", buffers, 1, 3)
        self._banks, self._depth, self._buffers = banks, depth, buffers
        self._word = word
        self._lanes = write_lanes
        width = data.Layout.cast(word).size
        self._width = width
        super().__init__({
            "w_en": In(1),
            "w_bank": In(range(banks)),
            "w_lane": In(range(write_lanes)),
            "w_buf": In(range(max(1, buffers - 1))),
            "w_addr": In(range(depth)),
            "w_data": In(width // write_lanes),
            "r_addr": In(range(depth)),
            "r_data": Out(data.ArrayLayout(word, banks)),
            "swap": In(1),
            "cur": Out(range(buffers)),
        })

    def elaborate(self, platform):
        m = Module()
        cur, host = _BufferRotation.build(m, self._buffers, self.swap, self.w_buf)
        m.d.comb += self.cur.eq(cur)
        for b in range(self._banks):
            bank = Bank(width=self._width, depth=self._buffers * self._depth,
                        write_lanes=self._lanes, unit=self.report_unit)
            place(m, f"bank{b}", bank, platform, bank.module_name)
            m.d.comb += [
                bank.w_addr.eq(host * self._depth + self.w_addr),
                bank.w_data.eq(self.w_data.replicate(self._lanes)),
                bank.w_en.eq(_lane_enable(self.w_en & (self.w_bank == b), self.w_lane, self._lanes)),
                bank.r_addr.eq(cur * self._depth + self.r_addr),
                self.r_data[b].eq(bank.r_data),
            ]
        return m


class WriteBanks(wiring.Component):
    """OMEM: ``banks`` banks the array writes (each its own address) and the host reads.

    With ``ports`` write ports per bank the array-side members have ``banks * ports`` entries,
    entry ``b * ports + i`` being port ``i`` of bank ``b``.

    Members
    -------
    a_en : In(banks * ports)
        Array write enable per bank (and port).
    a_addr : In(ArrayLayout(range(depth), banks * ports))
    a_data : In(ArrayLayout(width, banks * ports))
    r_buf, r_addr : In
        Host read of address ``r_addr`` of every bank of host-side buffer ``r_buf`` at once;
        data one cycle later on ``r_data``.
    r_data : Out(ArrayLayout(width, banks))
    swap : In(1)
    cur : Out
    """

    def __init__(self, *, banks: int, depth: int, buffers: int, width: int, ports: int = 1,
                 unit: str | None = None):
        #: Synthesis report unit (hw/library.py), ``omem`` as a rule, set by the creator; the
        #: banks take it too.
        self.report_unit = unit
        _check("banks", banks, 1)
        _check("depth", depth, 1)
        _check("buffers", buffers, 1, 3)
        _check("width", width, 1)
        _check("ports", ports, 1)
        self._banks, self._depth, self._buffers, self._width = banks, depth, buffers, width
        self._ports = ports
        n = banks * ports
        super().__init__({
            "a_en": In(n),
            "a_addr": In(data.ArrayLayout(range(depth), n)),
            "a_data": In(data.ArrayLayout(width, n)),
            "r_buf": In(range(max(1, buffers - 1))),
            "r_addr": In(range(depth)),
            "r_data": Out(data.ArrayLayout(width, banks)),
            "swap": In(1),
            "cur": Out(range(buffers)),
        })

    def elaborate(self, platform):
        m = Module()
        cur, host = _BufferRotation.build(m, self._buffers, self.swap, self.r_buf)
        m.d.comb += self.cur.eq(cur)
        for b in range(self._banks):
            bank = Bank(width=self._width, depth=self._buffers * self._depth,
                        write_ports=self._ports, unit=self.report_unit)
            place(m, f"bank{b}", bank, platform, bank.module_name)
            for i in range(self._ports):
                p = b * self._ports + i
                addr, wdata, en = bank.write(i)
                m.d.comb += [addr.eq(cur * self._depth + self.a_addr[p]),
                             wdata.eq(self.a_data[p]), en.eq(self.a_en[p])]
            m.d.comb += [
                bank.r_addr.eq(host * self._depth + self.r_addr),
                self.r_data[b].eq(bank.r_data),
            ]
        return m


def _lane_enable(enable, lane, lanes: int):
    """Write-enable vector: bit ``lane`` set when ``enable``."""
    if lanes == 1:
        return enable
    return enable.replicate(lanes) & (1 << lane)
