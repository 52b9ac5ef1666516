"""The N-core top: ``cfg.cores`` EXION cores behind one control port and one memory port.

::

    s_axil ──> AxiLiteDemux ──m{i}_axil──> core i ──m_axi──> AxiArbiter ──> m_axi
                (core select = the address        (its streams: c{i}_s_axis_* / c{i}_m_axis_*)
                 bits above one core's window)

One address space: core ``i``'s registers and windows sit at ``i * core_stride``
(:attr:`exion.regmap.RegisterMap.core_stride`, in the manifest and the C header as
``EXION_CORE_STRIDE``); a select past the last core gets ``DECERR``. The cores' AXI4 master
ports share ``m_axi`` through :class:`~hw.axi_arbiter.AxiArbiter` (round robin per address
channel, the master index in the upper ID bits: docs/axi-arbiter.md). Each core keeps its
AXI-Streams, prefixed ``c{i}_``, so a host may still push data to one core directly.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from exion.config import ExionConfig, clog2
from exion.limits import DMA_ADDR_WIDTH
from exion.regmap import RegisterMap

from .axi_arbiter import AxiArbiter, axi_members
from .axil import axil_members
from .axil_demux import AxiLiteDemux
from .core import ExionCore
from .library import forward

__all__ = ["ExionMulticore"]


class ExionMulticore(wiring.Component):
    """``cfg.cores`` cores sharing the control port (by address) and the memory port (by
    arbitration).

    Parameters
    ----------
    cfg : ExionConfig
        Every core is generated from it (``cores`` of them).

    Members
    -------
    s_axil_* : AXI4-Lite slave, :attr:`RegisterMap.top_addr_width` address bits.
    m_axi_* : AXI4 master shared by the cores (ID bits ``1 + clog2(cores)``), present when the
        core has a master port.
    c{i}_* : core ``i``'s stream members (``c0_s_axis_imem_tdata`` ...).
    """

    #: Synthesis report unit: the glue (demux and arbiter); each core declares its own.
    report_unit = "ctrl"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self._map = RegisterMap(cfg)
        self._cores = [ExionCore(cfg) for _ in range(cfg.cores)]
        self._demux = AxiLiteDemux(ports=cfg.cores, port_addr_width=self._map.addr_width)
        core_members = self._cores[0].signature.members
        self._master = any(n.startswith("m_axi_") for n in core_members)
        self._arb = (AxiArbiter(masters=cfg.cores, data_width=cfg.bus_width)
                     if self._master else None)
        members = dict(axil_members(self._demux.port_addr_width + self._demux.select_bits))
        if self._master:
            members.update(axi_members("m_axi_", DMA_ADDR_WIDTH, cfg.bus_width,
                                       1 + clog2(cfg.cores)))
        for i in range(cfg.cores):
            for name, member in core_members.items():
                if not name.startswith(("s_axil_", "m_axi_")):
                    members[f"c{i}_{name}"] = member
        super().__init__(members)

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    @property
    def cores(self) -> int:
        return len(self._cores)

    def elaborate(self, platform):
        m = Module()
        m.submodules.demux = demux = self._demux
        if self._arb is not None:
            m.submodules.arbiter = arb = self._arb
        for i, core in enumerate(self._cores):
            m.submodules[f"core{i}"] = core

            def outer(name, i=i):
                if name.startswith("s_axil_"):
                    return getattr(demux, f"m{i}_axil_{name[7:]}")
                if name.startswith("m_axi_"):
                    return getattr(arb, f"s{i}_axi_{name[6:]}")
                return getattr(self, f"c{i}_{name}")
            forward(m, core, core.signature.members, outer)
        for owner in (demux, self._arb):
            if owner is not None:
                forward(m, owner, [n for n in owner.signature.members
                                   if n.startswith(("s_axil_", "m_axi_"))], self)
        return m
