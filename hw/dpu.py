"""Dot-product unit (DPU) with its weight switch and conflict-vector switch."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2

__all__ = ["Dpu", "lane_vector", "tree_register_levels"]


def lane_vector(cfg: ExionConfig) -> data.ArrayLayout:
    """One IMEM / WMEM read word: ``lanes`` signed ``data_width``-bit operands, lane 0 at LSB."""
    return data.ArrayLayout(signed(cfg.data_width), cfg.lanes)


def tree_register_levels(cfg: ExionConfig) -> list[int]:
    """Logic levels (0 = multipliers, 1.. = adder-tree levels) followed by a pipeline register.

    ``adder_stages`` registers are spread evenly over the ``clog2(lanes) + 1`` logic levels;
    none follows the last level, whose output feeds the accumulator register directly. The
    operand register (``operand_stages``) comes before level 0 and is not listed.
    """
    levels = clog2(cfg.lanes) + 1
    s = cfg.adder_stages
    return [(i + 1) * levels // (s + 1) - 1 for i in range(s)]


class Dpu(wiring.Component):
    """One DPU of the SDUE: ``lanes`` signed multiplies per cycle into a saturating accumulator.

    Operand ``a`` comes from the DPU's row (IMEM bank), operands ``w`` are the
    ``merge_degree`` weight streams of its column (WMEM bank). The conflict-vector switch field
    ``sel`` picks the stream (``w_sw``): ``sel = d + 1`` uses stream ``d``; ``sel = 0`` idles
    the DPU, which then holds its accumulator. With ``operand_stages = 1`` the operands after
    the switch (``a``, the selected stream, and the control) are registered before the
    multipliers (the FPGA build: a block RAM read, the switch and a multiplier do not fit one
    cycle). The adder tree has ``adder_stages`` pipeline registers, so a chunk presented in
    cycle ``t`` reaches the accumulator at the end of cycle
    ``t + operand_stages + adder_stages``.

    Control, sampled with the operands: ``valid`` (this cycle carries a chunk), ``first``
    (clear: the accumulator takes the chunk sum instead of adding it). ``valid = 0`` or
    ``sel = 0`` holds. Accumulation saturates exactly as :func:`golden.intsem.accumulate`.

    Parameters
    ----------
    cfg : ExionConfig
        Supplies ``lanes``, ``data_width``, ``acc_width``, ``merge_degree``,
        ``operand_stages``, ``adder_stages``.

    Members
    -------
    a : In(ArrayLayout(signed(data_width), lanes))
    w : In(ArrayLayout(ArrayLayout(signed(data_width), lanes), merge_degree))
    sel : In(sel_width)
    valid, first : In(1)
    acc : Out(signed(acc_width))
        The accumulator register.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "dpu"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        super().__init__({
            "a": In(lane_vector(cfg)),
            "w": In(data.ArrayLayout(lane_vector(cfg), cfg.merge_degree)),
            "sel": In(cfg.sel_width),
            "valid": In(1),
            "first": In(1),
            "acc": Out(signed(cfg.acc_width)),
        })

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    @staticmethod
    def module_name(cfg: ExionConfig) -> str:
        """Verilog module name; unique per parameter set that changes the DPU (``_o1``: the
        operand register; without it the name is the one before that field existed)."""
        return (f"exion_dpu_l{cfg.lanes}_w{cfg.data_width}_a{cfg.acc_width}"
                f"_m{cfg.merge_degree}_s{cfg.adder_stages}"
                + (f"_o{cfg.operand_stages}" if cfg.operand_stages else ""))

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        regs = set(tree_register_levels(cfg))

        # w_sw: pick the selected weight stream; index 0 when idle (the result is unused).
        w_sel = Signal(lane_vector(cfg))
        with m.Switch(self.sel):
            for d in range(cfg.merge_degree):
                with m.Case(d + 1):
                    m.d.comb += w_sel.eq(self.w[d])
            with m.Default():
                m.d.comb += w_sel.eq(self.w[0])
        # cv_switch: an idle DPU takes no chunk.
        take = Signal()
        m.d.comb += take.eq(self.valid & (self.sel != 0))

        a = [self.a[i] for i in range(cfg.lanes)]
        w = [w_sel[i] for i in range(cfg.lanes)]
        ctl_take, ctl_first = take, self.first
        if cfg.operand_stages:
            # The operand stage: the selected stream only (not all merge_degree streams),
            # with the row's operands and the control, in one packed register.
            W = cfg.data_width
            packed = Cat(*a, *w, ctl_take, ctl_first)
            r = Signal(len(packed), name="operands")
            m.d.sync += r.eq(packed)
            ops = [r[i * W:(i + 1) * W].as_signed() for i in range(2 * cfg.lanes)]
            a, w = ops[:cfg.lanes], ops[cfg.lanes:]
            ctl_take, ctl_first = r[2 * cfg.lanes * W], r[2 * cfg.lanes * W + 1]

        level = 0
        terms = [a[i] * w[i] for i in range(cfg.lanes)]

        def stage(values, take_, first_):
            # One register per pipeline stage (operands and control packed together): a
            # handful of flip-flop processes per DPU instead of one per value keeps
            # event-driven simulators (Icarus) fast on large arrays.
            nonlocal level
            if level in regs:
                packed = Cat(*values, take_, first_)
                r = Signal(len(packed), name=f"stage{level}")
                m.d.sync += r.eq(packed)
                out, pos = [], 0
                for v in values:
                    out.append(r[pos:pos + len(v)].as_signed())
                    pos += len(v)
                values, take_, first_ = out, r[pos], r[pos + 1]
            level += 1
            return values, take_, first_

        terms, ctl_take, ctl_first = stage(terms, ctl_take, ctl_first)
        while len(terms) > 1:
            terms = [terms[i] + terms[i + 1] for i in range(0, len(terms), 2)]
            terms, ctl_take, ctl_first = stage(terms, ctl_take, ctl_first)
        chunk = terms[0]

        # Saturating accumulate, one bit wider than the accumulator before the clamp.
        lo = Const(cfg.acc_min, signed(cfg.acc_width + 1))
        hi = Const(cfg.acc_max, signed(cfg.acc_width + 1))
        total = Signal(signed(cfg.acc_width + 1))
        m.d.comb += total.eq(Mux(ctl_first, 0, self.acc) + chunk)
        with m.If(ctl_take):
            with m.If(total < lo):
                m.d.sync += self.acc.eq(lo)
            with m.Elif(total > hi):
                m.d.sync += self.acc.eq(hi)
            with m.Else():
                m.d.sync += self.acc.eq(total)
        return m
