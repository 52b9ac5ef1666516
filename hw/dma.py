"""The core's AXI4 master: a read engine and a write engine on one AXI4 port.

The two engines (``hw/dma_read.py``, ``hw/dma_write.py``) use disjoint AXI channels (AR/R and
AW/W/B), so they share the port without arbitration and run at the same time. Their contract
is written in their docstrings and in docs/dma.md; :mod:`golden.dma` is its model.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import (AXI_MAX_BURST, DMA_ADDR_WIDTH, DMA_READ_OUTSTANDING,
                          DMA_WRITE_OUTSTANDING)

from .dma_burst import (CAUSE_BITS, axi_read_members, axi_write_members, check_dma_params,
                        descriptor_layout, word_layout)
from .dma_read import DmaRead
from .dma_write import DmaWrite

__all__ = ["Dma"]


class Dma(wiring.Component):
    """AXI4 master with one read and one write engine (one port, one ID).

    The engines' members appear with a prefix: ``rd_cmd``, ``rd`` (the read stream, ``o`` of
    :class:`~hw.dma_read.DmaRead`), ``rd_busy`` ... and ``wr_cmd``, ``wr`` (the write stream,
    ``i`` of :class:`~hw.dma_write.DmaWrite`), ``wr_busy`` ...; both check against one
    address region, and ``clear`` clears both errors.

    Parameters
    ----------
    bus_width : int
        AXI data bits (``ExionConfig.bus_width``).
    addr_width, read_outstanding, write_outstanding, max_burst : int
        See :class:`~hw.dma_read.DmaRead` and :class:`~hw.dma_write.DmaWrite`; defaults from
        ``exion/limits.py``.

    Members
    -------
    m_axi_* : AXI4 master port (all five channels).
    rd_cmd : In(stream.Signature(descriptor_layout(addr_width)))
    rd : Out(stream.Signature(word_layout(bus_width)))
    wr_cmd : In(stream.Signature(descriptor_layout(addr_width)))
    wr : In(stream.Signature(bus_width))
    region_base : In(addr_width) ; region_end : In(addr_width + 1) ; clear : In(1)
    rd_busy, rd_done, rd_error, wr_busy, wr_done, wr_error : Out(1)
    rd_cause, wr_cause : Out(8)
    bytes_read, bytes_written : Out(32)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "dma"

    def __init__(self, *, bus_width: int, addr_width: int = DMA_ADDR_WIDTH,
                 read_outstanding: int = DMA_READ_OUTSTANDING,
                 write_outstanding: int = DMA_WRITE_OUTSTANDING,
                 max_burst: int = AXI_MAX_BURST):
        check_dma_params(bus_width, addr_width, read_outstanding, max_burst, "read_outstanding")
        check_dma_params(bus_width, addr_width, write_outstanding, max_burst,
                         "write_outstanding")
        self._args = dict(bus_width=bus_width, addr_width=addr_width, max_burst=max_burst)
        self._rn, self._wn = read_outstanding, write_outstanding
        super().__init__({
            **axi_read_members(addr_width, bus_width), **axi_write_members(addr_width, bus_width),
            "rd_cmd": In(stream.Signature(descriptor_layout(addr_width))),
            "rd": Out(stream.Signature(word_layout(bus_width))),
            "wr_cmd": In(stream.Signature(descriptor_layout(addr_width))),
            "wr": In(stream.Signature(bus_width)),
            "region_base": In(addr_width), "region_end": In(addr_width + 1), "clear": In(1),
            **{f"{e}_{n}": Out(1) for e in ("rd", "wr") for n in ("busy", "done", "error")},
            "rd_cause": Out(CAUSE_BITS), "wr_cause": Out(CAUSE_BITS),
            "bytes_read": Out(32), "bytes_written": Out(32),
        })

    @classmethod
    def from_config(cls, cfg: ExionConfig) -> "Dma":
        """The master of a core of configuration ``cfg`` (its ``bus_width``)."""
        return cls(bus_width=cfg.bus_width)

    @property
    def bus_width(self) -> int:
        return self._args["bus_width"]

    def elaborate(self, platform):
        m = Module()
        m.submodules.rd = rd = DmaRead(outstanding=self._rn, **self._args)
        m.submodules.wr = wr = DmaWrite(outstanding=self._wn, **self._args)
        for eng, stream_name, pre in ((rd, "o", "rd"), (wr, "i", "wr")):
            for path, member, value in eng.signature.flatten(eng):
                name = path[0]
                if name.startswith("m_axi_"):
                    outer = getattr(self, name)
                elif name == "cmd":
                    outer = getattr(self, f"{pre}_cmd")
                elif name == stream_name:
                    outer = getattr(self, pre)
                elif name in ("region_base", "region_end", "clear"):
                    outer = getattr(self, name)
                elif name == "bytes":
                    outer = getattr(self, "bytes_read" if pre == "rd" else "bytes_written")
                else:
                    outer = getattr(self, f"{pre}_{name}")
                for p in path[1:]:
                    outer = outer[p] if isinstance(p, int) else getattr(outer, p)
                if member.flow == In:
                    m.d.comb += value.eq(outer)
                else:
                    m.d.comb += outer.eq(value)
        return m
