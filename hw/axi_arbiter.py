"""N-to-1 AXI4 arbiter: N masters share one AXI4 port (the memory port of an N-core top).

Rules (docs/axi-arbiter.md; :mod:`golden.axi_arbiter` is the model of the grant order):

* AR and AW are arbitrated separately, each round robin: the master after the last one
  granted has the highest priority. A master that holds ``valid`` is granted before any other
  master is granted twice (at most ``masters - 1`` grants to others go first).
* Each AR / AW leaves through a register: the slave-side ``ARVALID`` / ``AWVALID`` are flops, so
  they never depend on the slave's ``READY``; a grant is made in any cycle the register is
  empty or being emptied, so one address per cycle passes.
* IDs are extended with the master index: the slave sees ``{index, id}``; R and B beats go back
  to the master whose index is in their ID, by wires (no buffer: ``RREADY`` / ``BREADY`` of the
  slave port is the addressed master's). Why IDs and not an order FIFO: responses of different
  masters may then come back in any order (an interconnect or memory that reorders by ID stays
  correct), and the return path needs no storage.
* W beats follow the AW order: each AW grant pushes its master's index into a FIFO of
  ``ARBITER_W_ORDER_DEPTH`` entries; the W channel passes only the head master's beats and pops
  on ``WLAST``, so a write burst is never interleaved with another. A full FIFO holds AW grants.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from exion.config import clog2
from exion.limits import ARBITER_MAX_MASTERS, ARBITER_W_ORDER_DEPTH, DMA_ADDR_WIDTH
from exion.util import check_int

__all__ = ["AxiArbiter", "DmaArbiterTop", "axi_members", "check_arbiter_params"]

#: AR / AW payload fields besides ``id``, ``valid`` and ``ready`` (with their widths).
ADDR_FIELDS = ("addr", "len", "size", "burst", "lock", "cache", "prot")


def axi_members(prefix: str, addr_width: int, data_width: int, id_width: int,
                master: bool = True) -> dict:
    """Flat members of a full AXI4 port (``<prefix>araddr`` ...): the master's view when
    ``master``, else the slave's (every direction flipped)."""
    o, i = (Out, In) if master else (In, Out)
    addr = {"id": o(id_width), "addr": o(addr_width), "len": o(8), "size": o(3), "burst": o(2),
            "lock": o(1), "cache": o(4), "prot": o(3), "valid": o(1), "ready": i(1)}
    table = {
        "ar": addr, "aw": addr,
        "r": {"id": i(id_width), "data": i(data_width), "resp": i(2), "last": i(1),
              "valid": i(1), "ready": o(1)},
        "w": {"data": o(data_width), "strb": o(data_width // 8), "last": o(1), "valid": o(1),
              "ready": i(1)},
        "b": {"id": i(id_width), "resp": i(2), "valid": i(1), "ready": o(1)},
    }
    return {f"{prefix}{c}{n}": mem for c, chan in table.items() for n, mem in chan.items()}


def check_arbiter_params(masters, addr_width, data_width, id_width, w_order_depth):
    """Validate the arbiter's parameters (ValueError naming the bad one and its range)."""
    check_int("masters", masters, 1, ARBITER_MAX_MASTERS)
    check_int("addr_width", addr_width, 13, 64)
    check_int("data_width", data_width, 32, 1024)
    if data_width & (data_width - 1):
        raise ValueError(f"data_width = {data_width} must be a power of two in [32, 1024]")
    check_int("id_width", id_width, 1, 16)
    check_int("w_order_depth", w_order_depth, 1, 256)


class AxiArbiter(wiring.Component):
    """N-to-1 AXI4 arbiter (the rules are the module docstring's).

    Parameters
    ----------
    masters : int
        Master ports, 1 .. ``ARBITER_MAX_MASTERS`` (64).
    data_width : int
        AXI data bits, a power of two in [32, 1024].
    addr_width : int
        AXI address bits, 13 .. 64 (default ``DMA_ADDR_WIDTH``).
    id_width : int
        ID bits of each master port, 1 .. 16; the slave port has
        ``id_width + clog2(masters)``.
    w_order_depth : int
        AW grants whose W beats are still due, at most (default ``ARBITER_W_ORDER_DEPTH``).

    Members
    -------
    s{i}_axi_* : the AXI4 slave port master ``i`` drives (:func:`axi_members`, not ``master``).
    m_axi_* : the AXI4 master port to the memory (IDs ``{i, id}``).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "arbiter"

    def __init__(self, *, masters: int, data_width: int, addr_width: int = DMA_ADDR_WIDTH,
                 id_width: int = 1, w_order_depth: int = ARBITER_W_ORDER_DEPTH):
        check_arbiter_params(masters, addr_width, data_width, id_width, w_order_depth)
        self._n, self._dw, self._aw, self._idw = masters, data_width, addr_width, id_width
        self._depth = w_order_depth
        members = {}
        for i in range(masters):
            members.update(axi_members(f"s{i}_axi_", addr_width, data_width, id_width,
                                       master=False))
        members.update(axi_members("m_axi_", addr_width, data_width,
                                   id_width + clog2(masters)))
        super().__init__(members)

    @property
    def masters(self) -> int:
        return self._n

    @property
    def data_width(self) -> int:
        return self._dw

    @property
    def id_width(self) -> int:
        """ID bits of a master port (the slave port has ``clog2(masters)`` more)."""
        return self._idw

    def _port(self, i: int, name: str):
        return getattr(self, f"s{i}_axi_{name}")

    def _address(self, m, ch: str, hold=None):
        """Round-robin arbiter with an output register for channel ``ch`` (``ar`` / ``aw``);
        ``hold`` blocks grants. Returns (grant index, grant strobe)."""
        n = self._n
        req = Cat(*[self._port(i, f"{ch}valid") for i in range(n)])
        # Bit i set: master i is at or after the pointer (checked first). All set at reset:
        # master 0 first.
        upper = Signal(n, name=f"{ch}_upper", init=(1 << n) - 1)
        hi = Signal(n, name=f"{ch}_hi")
        grant = Signal(range(n), name=f"{ch}_grant")
        take = Signal(name=f"{ch}_take")
        out_valid = getattr(self, f"m_axi_{ch}valid")
        out_ready = getattr(self, f"m_axi_{ch}ready")
        m.d.comb += hi.eq(req & upper)
        # Lowest requesting index, searched first among `hi`: later If's win, so scan downward.
        for i in reversed(range(n)):
            with m.If(req[i]):
                m.d.comb += grant.eq(i)
        for i in reversed(range(n)):
            with m.If(hi[i]):
                m.d.comb += grant.eq(i)
        free = ~out_valid | out_ready
        m.d.comb += take.eq((req != 0) & free & (1 if hold is None else ~hold))
        for i in range(n):
            m.d.comb += self._port(i, f"{ch}ready").eq(take & (grant == i))
        with m.If(take):
            m.d.sync += [out_valid.eq(1),
                         upper.eq(Cat(Const(0, 1), *[grant < i for i in range(1, n)]))]
            with m.Switch(grant):
                for i in range(n):
                    with m.Case(i):
                        m.d.sync += [getattr(self, f"m_axi_{ch}{f}").eq(self._port(i, ch + f))
                                     for f in ADDR_FIELDS]
                        m.d.sync += getattr(self, f"m_axi_{ch}id").eq(
                            Cat(self._port(i, f"{ch}id"), Const(i, clog2(n))))
        with m.Elif(out_ready):
            m.d.sync += out_valid.eq(0)
        return grant, take

    def _respond(self, m, ch: str, fields):
        """Route R or B beats to the master whose index is in the ID (wires only)."""
        n, idw = self._n, self._idw
        rid = getattr(self, f"m_axi_{ch}id")
        index = rid[idw:] if n > 1 else Const(0, 1)
        valid = getattr(self, f"m_axi_{ch}valid")
        readys = Array([self._port(i, f"{ch}ready") for i in range(n)])
        m.d.comb += getattr(self, f"m_axi_{ch}ready").eq(readys[index])
        for i in range(n):
            m.d.comb += [self._port(i, f"{ch}valid").eq(valid & (index == i)),
                         self._port(i, f"{ch}id").eq(rid[:idw])]
            m.d.comb += [self._port(i, ch + f).eq(getattr(self, f"m_axi_{ch}{f}"))
                         for f in fields]

    def elaborate(self, platform):
        m = Module()
        n = self._n
        self._address(m, "ar")
        # W order: the index of each granted AW, in grant order.
        m.submodules.w_order = order = SyncFIFO(width=max(1, clog2(n)), depth=self._depth)
        aw_grant, aw_take = self._address(m, "aw", hold=~order.w_rdy)
        m.d.comb += [order.w_en.eq(aw_take), order.w_data.eq(aw_grant)]

        sel = order.r_data[:clog2(n)] if n > 1 else Const(0, 1)
        port = {f: Array([self._port(i, f"w{f}") for i in range(n)])[sel]
                for f in ("data", "strb", "last", "valid")}
        m.d.comb += [
            self.m_axi_wvalid.eq(order.r_rdy & port["valid"]),
            self.m_axi_wdata.eq(port["data"]), self.m_axi_wstrb.eq(port["strb"]),
            self.m_axi_wlast.eq(port["last"]),
            order.r_en.eq(self.m_axi_wvalid & self.m_axi_wready & self.m_axi_wlast),
        ]
        for i in range(n):
            m.d.comb += self._port(i, "wready").eq(order.r_rdy & (sel == i) & self.m_axi_wready)

        self._respond(m, "r", ("data", "resp", "last"))
        self._respond(m, "b", ("resp",))
        return m


class DmaArbiterTop(wiring.Component):
    """``masters`` AXI4 masters (:class:`~hw.dma.Dma`) sharing one port through an
    :class:`AxiArbiter`: the memory side of an N-core top, emitted alone to simulate and
    synthesize the arbiter with real masters.

    Master ``i``'s members appear with the prefix ``c{i}_`` (``c0_rd_cmd``, ``c0_rd``,
    ``c0_wr_cmd``, ``c0_wr``, ``c0_clear``, ``c0_rd_error``, ...: the members of
    :class:`~hw.dma.Dma` other than its AXI port and its region); the region is shared.

    Parameters
    ----------
    masters : int
        Masters, 1 .. 64.
    bus_width : int
        AXI data bits (``ExionConfig.bus_width``).

    Members
    -------
    m_axi_* : the shared AXI4 master port (ID bits ``1 + clog2(masters)``).
    region_base : In(DMA_ADDR_WIDTH) ; region_end : In(DMA_ADDR_WIDTH + 1)
    c{i}_* : master ``i``'s descriptor and data streams, status and counters.
    c{i}_ar_pending, c{i}_aw_pending : Out(1)
        Master ``i``'s ``ARVALID`` / ``AWVALID`` (an address waiting for its grant, or granted
        in this cycle): what the benches compare with the golden grant order.
    """

    #: Synthesis report unit: the arbiter; each master declares ``dma``.
    report_unit = "arbiter"

    def __init__(self, *, masters: int, bus_width: int):
        from .dma import Dma
        check_arbiter_params(masters, DMA_ADDR_WIDTH, bus_width, 1, ARBITER_W_ORDER_DEPTH)
        self._dmas = [Dma(bus_width=bus_width) for _ in range(masters)]
        self._arb = AxiArbiter(masters=masters, data_width=bus_width)
        members = dict(axi_members("m_axi_", DMA_ADDR_WIDTH, bus_width, 1 + clog2(masters)))
        members["region_base"] = In(DMA_ADDR_WIDTH)
        members["region_end"] = In(DMA_ADDR_WIDTH + 1)
        for i, dma in enumerate(self._dmas):
            for name, member in dma.signature.members.items():
                if not name.startswith("m_axi_") and not name.startswith("region_"):
                    members[f"c{i}_{name}"] = member
            members[f"c{i}_ar_pending"] = Out(1)
            members[f"c{i}_aw_pending"] = Out(1)
        super().__init__(members)

    @property
    def masters(self) -> int:
        return len(self._dmas)

    def elaborate(self, platform):
        m = Module()
        m.submodules.arbiter = arb = self._arb
        for i, dma in enumerate(self._dmas):
            m.submodules[f"dma{i}"] = dma
            for path, member, value in dma.signature.flatten(dma):
                name = path[0]
                if name.startswith("m_axi_"):
                    outer = getattr(arb, f"s{i}_axi_{name[6:]}")
                elif name.startswith("region_"):
                    outer = getattr(self, name)
                else:
                    outer = getattr(self, f"c{i}_{name}")
                for p in path[1:]:
                    outer = outer[p] if isinstance(p, int) else getattr(outer, p)
                m.d.comb += value.eq(outer) if member.flow == In else outer.eq(value)
            m.d.comb += [getattr(self, f"c{i}_ar_pending").eq(dma.m_axi_arvalid),
                         getattr(self, f"c{i}_aw_pending").eq(dma.m_axi_awvalid)]
        for path, member, value in arb.signature.flatten(arb):
            if path[0].startswith("m_axi_"):
                outer = getattr(self, path[0])
                m.d.comb += value.eq(outer) if member.flow == In else outer.eq(value)
        return m
