"""AXI4-Lite demultiplexer: one control port in front of N slaves (the cores of a multi-core top).

The upper address bits select the slave (:meth:`exion.regmap.RegisterMap.core_select`): slave
``i`` answers at ``i << port_addr_width`` and sees the address without the select bits. A
select past the last slave gets ``DECERR`` (reads return 0), the answer a core gives for an
address in no register (docs/core.md), so a host sees one address space.

One write and one read are in flight at a time (a control port, not a data path): an accepted
``AW`` is passed to its slave with its ``W``, and the next ``AW`` is taken after the slave's
``B`` went back upstream. ``W`` is not accepted before its ``AW`` (a slave may wait for the
address; the master may not wait for ``WREADY`` to raise ``WVALID``, so no deadlock).
Valid and ready pass through combinationally between upstream and the selected slave; the
address is registered.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring

from exion.regmap import RESPONSES

from .axil import axil_members

__all__ = ["AxiLiteDemux"]


class AxiLiteDemux(wiring.Component):
    """AXI4-Lite slave port demultiplexed onto ``ports`` AXI4-Lite master ports.

    Parameters
    ----------
    ports : int
        Slaves behind it (1..64).
    port_addr_width : int
        Byte-address bits of each slave; the upstream port has ``port_addr_width +
        select_bits`` (:attr:`select_bits` = bits of ``ports - 1``, at least one).

    Members
    -------
    s_axil_* : AXI4-Lite slave (upstream, from the host).
    m{i}_axil_* : AXI4-Lite master to slave ``i`` (the flipped members of ``s_axil_*``, at
        ``port_addr_width`` address bits).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "ctrl"

    def __init__(self, *, ports: int, port_addr_width: int):
        if not isinstance(ports, int) or not 1 <= ports <= 64:
            raise ValueError(f"ports = {ports!r} is out of range [1, 64]")
        if not isinstance(port_addr_width, int) or not 4 <= port_addr_width <= 26:
            raise ValueError(f"port_addr_width = {port_addr_width!r} is out of range [4, 26]")
        self._ports, self._paw = ports, port_addr_width
        self._sel = max(1, (ports - 1).bit_length())
        members = dict(axil_members(port_addr_width + self._sel))
        for i in range(ports):
            for name, member in axil_members(port_addr_width, f"m{i}_axil_").items():
                members[name] = member.flip()
        super().__init__(members)

    @property
    def ports(self) -> int:
        return self._ports

    @property
    def port_addr_width(self) -> int:
        return self._paw

    @property
    def select_bits(self) -> int:
        return self._sel

    def _port(self, i: int, name: str):
        return getattr(self, f"m{i}_axil_{name}")

    def elaborate(self, platform):
        # Every output is one expression (an ``assign``), not an ``If`` chain: Icarus in
        # -g2012 mode never evaluates an ``always @*`` block whose inputs stay constant from
        # time 0, and the host samples these before the first transaction.
        m = Module()
        s = lambda name: getattr(self, f"s_axil_{name}")  # noqa: E731
        paw, n = self._paw, self._ports
        decerr = RESPONSES["DECERR"]

        def pick(sel, name, cond):
            """OR over the slaves of ``cond(i) & (sel == i) & slave i's name``."""
            out = 0
            for i in range(n):
                out = out | Mux(cond & (sel == i), self._port(i, name), 0)
            return out

        # -- write: AW taken and held, AW and W to the slave, B back ---------------------------
        w_busy, aw_sent, w_sent = Signal(name="w_busy"), Signal(name="aw_sent"), Signal(name="w_sent")
        w_sel, w_addr = Signal(self._sel, name="w_sel"), Signal(paw, name="w_addr")
        w_bad, b_bad = Signal(name="w_bad"), Signal(name="b_bad")
        w_ok = w_busy & ~w_bad
        m.d.comb += s("awready").eq(~w_busy)
        with m.If(s("awvalid") & ~w_busy):
            m.d.sync += [w_busy.eq(1), aw_sent.eq(0), w_sent.eq(0), w_sel.eq(s("awaddr")[paw:]),
                         w_addr.eq(s("awaddr")[:paw]), w_bad.eq(s("awaddr")[paw:] >= n)]
        for i in range(n):
            mine = w_ok & (w_sel == i)
            m.d.comb += [
                self._port(i, "awaddr").eq(w_addr), self._port(i, "awprot").eq(0),
                self._port(i, "awvalid").eq(mine & ~aw_sent),
                self._port(i, "wdata").eq(s("wdata")), self._port(i, "wstrb").eq(s("wstrb")),
                self._port(i, "wvalid").eq(mine & ~w_sent & s("wvalid")),
                self._port(i, "bready").eq(mine & aw_sent & w_sent & s("bready")),
            ]
        aw_take = pick(w_sel, "awready", w_ok & ~aw_sent)
        w_take = pick(w_sel, "wready", w_ok & ~w_sent) & s("wvalid")
        with m.If(aw_take):
            m.d.sync += aw_sent.eq(1)
        with m.If(w_take):
            m.d.sync += w_sent.eq(1)
        sent = w_ok & aw_sent & w_sent
        m.d.comb += [
            s("wready").eq(Mux(w_bad, w_busy & ~b_bad, pick(w_sel, "wready", w_ok & ~w_sent))),
            s("bvalid").eq(Mux(w_bad, w_busy & b_bad, pick(w_sel, "bvalid", sent))),
            s("bresp").eq(Mux(w_bad, decerr, pick(w_sel, "bresp", sent))),
        ]
        # an unmapped slave: take W, then answer DECERR
        with m.If(w_busy & w_bad & s("wvalid") & ~b_bad):
            m.d.sync += b_bad.eq(1)
        with m.If(s("bvalid") & s("bready")):
            m.d.sync += [w_busy.eq(0), b_bad.eq(0)]

        # -- read: AR taken and held, AR to the slave, R back -----------------------------------
        r_busy, ar_sent = Signal(name="r_busy"), Signal(name="ar_sent")
        r_sel, r_addr, r_bad = Signal(self._sel, name="r_sel"), Signal(paw, name="r_addr"), \
            Signal(name="r_bad")
        r_ok = r_busy & ~r_bad
        m.d.comb += s("arready").eq(~r_busy)
        with m.If(s("arvalid") & ~r_busy):
            m.d.sync += [r_busy.eq(1), ar_sent.eq(0), r_sel.eq(s("araddr")[paw:]),
                         r_addr.eq(s("araddr")[:paw]), r_bad.eq(s("araddr")[paw:] >= n)]
        for i in range(n):
            mine = r_ok & (r_sel == i)
            m.d.comb += [
                self._port(i, "araddr").eq(r_addr), self._port(i, "arprot").eq(0),
                self._port(i, "arvalid").eq(mine & ~ar_sent),
                self._port(i, "rready").eq(mine & ar_sent & s("rready")),
            ]
        with m.If(pick(r_sel, "arready", r_ok & ~ar_sent)):
            m.d.sync += ar_sent.eq(1)
        got = r_ok & ar_sent
        m.d.comb += [
            s("rvalid").eq(Mux(r_bad, r_busy, pick(r_sel, "rvalid", got))),
            s("rdata").eq(Mux(r_bad, 0, pick(r_sel, "rdata", got))),
            s("rresp").eq(Mux(r_bad, decerr, pick(r_sel, "rresp", got))),
        ]
        with m.If(s("rvalid") & s("rready")):
            m.d.sync += r_busy.eq(0)
        return m
