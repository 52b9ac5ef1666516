"""Energy model of one EXION core, in the Accelergy / Timeloop style.

A table of energies per action for each component (:meth:`EnergyModel.action_table`), times
action counts (:class:`ActionCounts`, made by ``golden/energy_counts.py``), plus leakage
power times time::

    E = sum over (component, action) of count * e(component, action)        # dynamic
      + sum over units of transistors(unit) * p_leak * cycles / clock        # leakage

Every per-action energy is built from the published figures of ``exion/energy_table.py``
(each kept at its own node and supply) scaled to the model's ``node_nm`` and ``vdd`` with the
Stillmaker & Baas energy polynomials (:func:`energy_scale`). Leakage power per transistor
comes from Aladdin's leakage figures divided by the transistors of the same units, scaled the
same way (the ``hwcomponents`` convention); the transistor counts per unit are an argument
(what ``make synth`` reports, ``exion_tools/synth_model.py``), not imported from the tools.
Which rule is ours and which is published: ``docs/energy.md``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from exion import energy_table as T
from exion.config import ExionConfig, clog2
from exion.formats import block_bits, shift_add_acc_width
from exion.limits import MAX_HEAD_DIM, MAX_KEYS
from exion.util import check_range

__all__ = ["EnergyError", "NODE_RANGE", "VDD_RANGE", "MEMORIES", "stillmaker", "energy_scale",
           "dpu_ff_bits", "EnergyModel", "ActionCounts", "EnergyReport", "energy",
           "unit_transistors", "UNIT_OF"]


class EnergyError(ValueError):
    """A parameter of the energy model is out of range or unknown."""


#: Nodes (nm) and supplies (V) the scaling polynomials are used for: the table's nodes, and
#: the supply range in which every polynomial is positive and energy falls with the node.
NODE_RANGE = (float(min(T.STILLMAKER_NODES)), float(max(T.STILLMAKER_NODES)))
VDD_RANGE = (0.5, 1.2)
MEMORIES = tuple(T.DRAM_PJ_PER_BIT)


def _num(name: str, value, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EnergyError(f"{name} must be a number in [{lo}, {hi}], not {value!r}")
    return float(check_range(name, value, lo, hi, error=EnergyError))


def stillmaker(node_nm: float, vdd: float) -> float:
    """Relative energy of one switching event at ``node_nm`` and ``vdd``: the Stillmaker &
    Baas polynomial ``a V^2 + b V + c`` of the node, interpolated linearly in the node between
    the two tabulated nodes around it."""
    node = _num("node_nm", node_nm, *NODE_RANGE)
    vdd = _num("vdd", vdd, *VDD_RANGE)
    nodes = sorted(T.STILLMAKER_NODES)

    def poly(n):
        a, b, c = T.STILLMAKER_ENERGY[n]
        return a * vdd * vdd + b * vdd + c
    for lo, hi in zip(nodes, nodes[1:]):
        if lo <= node <= hi:
            t = (node - lo) / (hi - lo)
            return (1 - t) * poly(lo) + t * poly(hi)
    return poly(nodes[-1])  # unreachable: node is checked against NODE_RANGE


def energy_scale(from_node: float, from_vdd: float, to_node: float, to_vdd: float) -> float:
    """Factor that turns an energy at (``from_node``, ``from_vdd``) into one at (``to_node``,
    ``to_vdd``). Supplies outside :data:`VDD_RANGE` are clamped for published figures only
    (the model's own supply is checked)."""
    return stillmaker(to_node, to_vdd) / stillmaker(from_node, min(max(from_vdd, VDD_RANGE[0]),
                                                                  VDD_RANGE[1]))


def dpu_ff_bits(cfg: ExionConfig) -> int:
    """Flip-flop bits one busy DPU clocks per cycle: the accumulator, the operand register
    and the adder-tree pipeline registers, placed as ``hw/dpu.py`` places them (with
    ``operand_stages = 1``, ``a`` and the selected weight stream, ``2 * lanes * data_width``
    bits, and two control bits before the multipliers; ``adder_stages`` registers spread over
    the ``clog2(lanes) + 1`` logic levels, each holding that level's values and two control
    bits). 234 at the preset (the synthesized DPU has 234 flip-flops)."""
    levels = clog2(cfg.lanes) + 1
    s = cfg.adder_stages
    bits = cfg.acc_width + cfg.operand_stages * (2 * cfg.lanes * cfg.data_width + 2)
    for i in range(s):
        lev = (i + 1) * levels // (s + 1) - 1
        bits += (cfg.lanes >> lev) * (cfg.product_width + lev) + 2
    return bits


@dataclass(frozen=True)
class EnergyModel:
    """Technology and memory of the energy model.

    Members
    -------
    node_nm : float
        Technology node in nm, in :data:`NODE_RANGE` (default 14: the talk's system).
    vdd : float
        Core supply in V, in :data:`VDD_RANGE` (default 0.8, a 14 nm FinFET nominal).
    memory : str
        Off-chip memory type, one of :data:`MEMORIES`.
    """

    node_nm: float = 14.0
    vdd: float = 0.8
    memory: str = "lpddr4"

    def __post_init__(self):
        object.__setattr__(self, "node_nm", _num("node_nm", self.node_nm, *NODE_RANGE))
        object.__setattr__(self, "vdd", _num("vdd", self.vdd, *VDD_RANGE))
        if self.memory not in T.DRAM_PJ_PER_BIT:
            raise EnergyError(f"memory = {self.memory!r} is not one of {', '.join(MEMORIES)}")

    # -- primitives, pJ at the model's node and supply -------------------------------------

    def scaled(self, ref: T.Ref) -> float:
        return ref.pj * energy_scale(ref.node_nm, ref.vdd, self.node_nm, self.vdd)

    def add(self, width: int) -> float:
        """Integer adder of ``width`` bits (Horowitz, linear in width between 8 and 32)."""
        (w0, e0), (w1, e1) = ((r.width, self.scaled(r)) for r in T.ARITH["add"])
        return max(0.0, e0 + (width - w0) * (e1 - e0) / (w1 - w0))

    def mult(self, width: int) -> float:
        """Integer multiplier of two ``width``-bit operands (Horowitz, power law through the
        8- and 32-bit figures: exponent 1.98, about quadratic)."""
        (w0, e0), (w1, e1) = ((r.width, self.scaled(r)) for r in T.ARITH["mult"])
        return e0 * (width / w0) ** (math.log(e1 / e0) / math.log(w1 / w0))

    def compare(self, width: int) -> float:
        """Magnitude comparator of ``width`` bits (Aladdin, linear in width)."""
        (r,) = T.ARITH["compare"]
        return self.scaled(r) * width / r.width

    def reg_bits(self, bits: float) -> float:
        """``bits`` flip-flops clocked with new data (Aladdin register)."""
        return self.scaled(T.REGISTER_BIT) * bits

    def sram_read(self, bits: int, capacity_bytes: int) -> float:
        """One read of a ``bits``-wide word from an SRAM of ``capacity_bytes``: Horowitz's
        64-bit access energy, ``E_8K * sqrt(capacity / 8 KB)``, per bit times ``bits``."""
        size, ref = T.SRAM_64BIT[0]
        per_bit = self.scaled(ref) / ref.width
        return per_bit * bits * math.sqrt(capacity_bytes / size)

    def sram_write(self, bits: int, capacity_bytes: int) -> float:
        return T.SRAM_WRITE_RATIO * self.sram_read(bits, capacity_bytes)

    def dram_byte(self) -> float:
        """One byte to or from off-chip memory of type ``memory`` (not node-scaled: the DRAM
        and its interface are not built in the core's process)."""
        return 8 * T.DRAM_PJ_PER_BIT[self.memory].pj

    def leak_per_transistor_w(self) -> float:
        """Leakage power per transistor, W: the mean over :data:`exion.energy_table.LEAK_REFS`
        of (leakage / transistors), scaled like energy."""
        vals = [r.pj * 1e-6 / r.width * energy_scale(r.node_nm, r.vdd, self.node_nm, self.vdd)
                for _, r in T.LEAK_REFS]
        return sum(vals) / len(vals)

    # -- the table -------------------------------------------------------------------------

    def action_table(self, cfg: ExionConfig) -> dict[tuple[str, str], float]:
        """pJ per action of every (component, action) of a core ``cfg``."""
        dw, lanes = cfg.data_width, cfg.lanes
        word = lanes * dw
        tree = sum((lanes >> lev) * self.add(cfg.product_width + lev)
                   for lev in range(1, clog2(lanes) + 1))
        smem_bytes = cfg.schedule_depth * block_bits(cfg) // 8
        mask_bytes = cfg.words("omem") * cfg.rows // 8
        # PREDICT reduces at most MAX_HEAD_DIM terms per score: its accumulator and the
        # selector's scores are that wide.
        score_w = shift_add_acc_width(MAX_HEAD_DIM, dw, cfg.lod_steps)
        shifted = 2 * dw
        t = {
            ("dpu", "mult"): self.mult(dw),
            ("dpu", "tree_add"): tree,
            ("dpu", "acc_add"): self.add(cfg.acc_width),
            ("dpu", "ff_bit"): self.reg_bits(1),
            ("imem", "read"): self.sram_read(word, cfg.imem_bank_bytes),
            ("imem", "write"): self.sram_write(word, cfg.imem_bank_bytes),
            ("wmem", "read"): self.sram_read(cfg.merge_degree * word, cfg.wmem_bank_bytes),
            ("wmem", "write"): self.sram_write(word, cfg.wmem_bank_bytes),
            ("omem", "read"): self.sram_read(dw, cfg.omem_bank_bytes),
            ("omem", "write"): self.sram_write(dw, cfg.omem_bank_bytes),
            ("smem", "read"): self.sram_read(block_bits(cfg), smem_bytes),
            ("smem", "write"): self.sram_write(block_bits(cfg), smem_bytes),
            ("mask", "read"): self.sram_read(cfg.rows, mask_bytes),
            ("mask", "write"): self.sram_write(cfg.rows, mask_bytes),
            # Ours: a CAU cycle tests one conflict vector against every column slot's
            # occupancy (an AND-reduce of rows bits, priced as a comparator) and updates one.
            ("cau", "cycle"): cfg.cols * self.compare(cfg.rows) + self.reg_bits(cfg.rows),
            # Ours: per lane, two leading-one detectors (comparators), two shifts and the
            # lane add (adders of the shifted width), and its share of the adder tree.
            ("predictor", "lane_op"): 2 * self.compare(dw) + 3 * self.add(shifted)
            + self.add(shifted + clog2(lanes)),
            ("predictor", "acc_add"): self.add(score_w) + self.reg_bits(score_w),
            # Ours: a key enters a sorted list of up to MAX_KEYS entries: every entry compares.
            ("selector", "key"): MAX_KEYS * self.compare(score_w)
            + self.reg_bits(score_w + clog2(MAX_KEYS)),
            # The FFN-Reuse keep-mask test of one output: two threshold comparisons.
            ("ffn_mask", "compare"): 2 * self.compare(dw),
            # CFSE per element (ours, counted from golden/cfse.py's integer formulas).
            ("cfse", "gelu"): 2 * self.mult(16) + 3 * self.add(16) + self.reg_bits(16),
            ("cfse", "softmax"): self.compare(16) + 2 * self.add(16) + 2 * self.mult(16)
            + self.add(32) + self.mult(32) + self.reg_bits(16),
            ("cfse", "layernorm"): 2 * self.mult(16) + self.mult(32) + 4 * self.add(32)
            + self.add(16) + self.reg_bits(16),
            ("cfse", "residual"): self.mult(16) + self.add(16) + self.reg_bits(16),
            ("offchip", "byte"): self.dram_byte(),
        }
        return t


#: Which leakage unit (the units of ``make synth``) each dynamic component belongs to.
UNIT_OF = {"dpu": "dpu", "imem": "imem", "wmem": "wmem", "omem": "omem", "smem": "smem",
           "mask": "cau", "cau": "cau", "predictor": "predictor", "selector": "predictor",
           "ffn_mask": "sdue", "cfse": "cfse", "offchip": "offchip"}


@dataclass
class ActionCounts:
    """Action counts of some work: ``counts[(component, action)]`` and the ``cycles`` it
    takes (for leakage). Counts add up with ``+`` and scale with ``*``."""

    counts: dict[tuple[str, str], float] = field(default_factory=dict)
    cycles: float = 0

    def add(self, component: str, action: str, n: float) -> "ActionCounts":
        if isinstance(n, bool) or not isinstance(n, numbers.Real) or not 0 <= n < math.inf:
            raise EnergyError(f"count of {component}.{action} = {n!r} is out of range [0, inf)")
        if n:
            key = (component, action)
            self.counts[key] = self.counts.get(key, 0) + n
        return self

    def __add__(self, other: "ActionCounts") -> "ActionCounts":
        out = ActionCounts(dict(self.counts), self.cycles + other.cycles)
        for (c, a), n in other.counts.items():
            out.add(c, a, n)
        return out

    def __mul__(self, k: float) -> "ActionCounts":
        if isinstance(k, bool) or not isinstance(k, numbers.Real) or not 0 <= k < math.inf:
            raise EnergyError(f"scale factor = {k!r} is out of range [0, inf)")
        return ActionCounts({key: n * k for key, n in self.counts.items()}, self.cycles * k)

    __rmul__ = __mul__


@dataclass(frozen=True)
class EnergyReport:
    """Energy of some work, pJ: ``dynamic[(component, action)]``, ``leakage[unit]``."""

    dynamic: dict[tuple[str, str], float]
    leakage: dict[str, float]
    cycles: float
    time_s: float

    @property
    def dynamic_pj(self) -> float:
        return sum(self.dynamic.values())

    @property
    def leakage_pj(self) -> float:
        return sum(self.leakage.values())

    @property
    def total_pj(self) -> float:
        return self.dynamic_pj + self.leakage_pj

    def by_component(self) -> dict[str, float]:
        """Dynamic energy per component plus one ``leakage`` entry."""
        out: dict[str, float] = {}
        for (c, _a), e in self.dynamic.items():
            out[c] = out.get(c, 0.0) + e
        out["leakage"] = self.leakage_pj
        return out

    def format(self) -> str:
        tot = self.total_pj or 1.0
        lines = [f"{'component':<12}{'pJ':>14}{'share':>8}"]
        for c, e in sorted(self.by_component().items(), key=lambda kv: -kv[1]):
            lines.append(f"{c:<12}{e:>14.1f}{e / tot:>8.1%}")
        lines.append(f"{'total':<12}{self.total_pj:>14.1f}   ({self.cycles:.0f} cycles, "
                     f"{self.time_s * 1e6:.2f} us)")
        return "\n".join(lines)


def unit_transistors(units) -> dict[str, float]:
    """Transistors per unit from ``{unit: int}`` or from the ``design.units`` of a ``make
    synth`` JSON report (``{unit: {"asic": {"total_tr": ...}}}``)."""
    out = {}
    for unit, v in dict(units).items():
        n = v["asic"]["total_tr"] if isinstance(v, dict) else v
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not n >= 0:
            raise EnergyError(f"transistors of unit {unit!r} = {n!r} is out of range [0, inf)")
        out[str(unit)] = float(n)
    return out


def energy(counts: ActionCounts, cfg: ExionConfig, model: EnergyModel | None = None,
           transistors=None) -> EnergyReport:
    """Energy of ``counts`` on a core ``cfg``: dynamic from ``model``'s action table, leakage
    of every unit in ``transistors`` (see :func:`unit_transistors`; none: no leakage) over
    ``counts.cycles`` at ``cfg.clock_mhz``. An action the table lacks raises
    :class:`EnergyError` naming it."""
    model = model or EnergyModel()
    table = model.action_table(cfg)
    dyn = {}
    for key, n in counts.counts.items():
        if key not in table:
            known = ", ".join(f"{c}.{a}" for c, a in sorted(table))
            raise EnergyError(f"action {key[0]}.{key[1]} is not one of {known}")
        dyn[key] = n * table[key]
    time_s = counts.cycles / (cfg.clock_mhz * 1e6)
    p = model.leak_per_transistor_w()
    leak = {u: n * p * time_s * 1e12 for u, n in unit_transistors(transistors or {}).items()}
    return EnergyReport(dyn, leak, counts.cycles, time_s)
