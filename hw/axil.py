"""AXI4-Lite slave: turns bus transactions into a simple register bus.

One write and one read may be in progress at a time. A write completes in the cycle both its
address and data are valid (``wr_en`` pulses with address, data and strobes; the register
file answers ``wr_resp`` in that cycle, and ``bvalid`` rises the next cycle with it as
``bresp``). A read pulses ``rd_en`` with ``rd_addr``; the register file answers with
``rd_ack``, ``rd_data`` and ``rd_resp`` on any later cycle (the core answers one cycle later),
and ``rvalid`` rises the cycle after with ``rresp``. What each address and strobe pattern does,
and which response it gets, is the register file's business (``hw/core_host.py``,
``docs/core.md``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AxiLiteSlave", "axil_members"]


def axil_members(addr_width: int, prefix: str = "s_axil_") -> dict:
    """Flat AXI4-Lite slave port members (``<prefix>awaddr`` ...), 32-bit data."""
    return {prefix + name: member for name, member in {
        "awaddr": In(addr_width), "awprot": In(3), "awvalid": In(1), "awready": Out(1),
        "wdata": In(32), "wstrb": In(4), "wvalid": In(1), "wready": Out(1),
        "bresp": Out(2), "bvalid": Out(1), "bready": In(1),
        "araddr": In(addr_width), "arprot": In(3), "arvalid": In(1), "arready": Out(1),
        "rdata": Out(32), "rresp": Out(2), "rvalid": Out(1), "rready": In(1),
    }.items()}


class AxiLiteSlave(wiring.Component):
    """AXI4-Lite slave with a register-bus master side.

    Parameters
    ----------
    addr_width : int
        Byte-address bits.

    Members
    -------
    s_axil_* : AXI4-Lite slave ports (see :func:`axil_members`).
    wr_en : Out(1) ; wr_addr : Out(addr_width) ; wr_data : Out(32) ; wr_strb : Out(4)
        One-cycle write strobe with its word and byte strobes.
    wr_resp : In(2)
        The write's response (AXI ``BRESP``), in the ``wr_en`` cycle.
    rd_en : Out(1) ; rd_addr : Out(addr_width)
        One-cycle read request.
    rd_ack : In(1) ; rd_data : In(32) ; rd_resp : In(2)
        Read answer and its response (AXI ``RRESP``; the cycle after ``rd_en`` or later).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "ctrl"

    def __init__(self, *, addr_width: int):
        if not isinstance(addr_width, int) or not 4 <= addr_width <= 32:
            raise ValueError(f"addr_width = {addr_width!r} is out of range [4, 32]")
        self._aw = addr_width
        super().__init__({
            **axil_members(addr_width),
            "wr_en": Out(1), "wr_addr": Out(addr_width), "wr_data": Out(32), "wr_strb": Out(4),
            "rd_en": Out(1), "rd_addr": Out(addr_width),
            "wr_resp": In(2), "rd_ack": In(1), "rd_data": In(32), "rd_resp": In(2),
        })

    def elaborate(self, platform):
        m = Module()
        # -- write: address and data together, then the response ------------------------
        take_w = Signal()
        m.d.comb += take_w.eq(self.s_axil_awvalid & self.s_axil_wvalid & ~self.s_axil_bvalid)
        m.d.comb += [
            self.s_axil_awready.eq(take_w), self.s_axil_wready.eq(take_w),
            self.wr_en.eq(take_w), self.wr_addr.eq(self.s_axil_awaddr),
            self.wr_data.eq(self.s_axil_wdata), self.wr_strb.eq(self.s_axil_wstrb),
        ]
        with m.If(take_w):
            m.d.sync += [self.s_axil_bvalid.eq(1), self.s_axil_bresp.eq(self.wr_resp)]
        with m.Elif(self.s_axil_bready):
            m.d.sync += self.s_axil_bvalid.eq(0)

        # -- read: request, wait for the answer, respond ------------------------------------
        pending = Signal()
        take_r = Signal()
        m.d.comb += take_r.eq(self.s_axil_arvalid & ~pending & ~self.s_axil_rvalid)
        m.d.comb += [self.s_axil_arready.eq(take_r), self.rd_en.eq(take_r),
                     self.rd_addr.eq(self.s_axil_araddr)]
        with m.If(take_r):
            m.d.sync += pending.eq(1)
        with m.If(pending & self.rd_ack):
            m.d.sync += [pending.eq(0), self.s_axil_rvalid.eq(1),
                         self.s_axil_rdata.eq(self.rd_data), self.s_axil_rresp.eq(self.rd_resp)]
        with m.Elif(self.s_axil_rvalid & self.s_axil_rready):
            m.d.sync += self.s_axil_rvalid.eq(0)
        return m
