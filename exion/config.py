"""The one configuration object of the generator.

:class:`ExionConfig` is a frozen, validated dataclass. The RTL (``hw/``), the golden model
(``golden/``), the cycle model and the emitted manifest all read their parameters from it; no
parameter is typed twice. Every bad value raises :class:`ConfigError` (a ``ValueError``) naming
the field, the value and the allowed range.

Defaults follow the EXION talk (see ``docs/config.md``): a 16 x 16 SDUE, 12-bit signed
operands, IMEM / WMEM / OMEM banks of 1.5 KB / 12 KB / 1.5 KB, double-buffered I/O and
triple-buffered weights, and the DiT row of the accuracy table for the algorithm parameters
(FFN-Reuse N = 2 over 100 iterations at 80 % sparsity, eager prediction q_th = 0.15, k = 0.05).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from .util import check_range

__all__ = ["ConfigError", "ExionConfig", "PRESETS", "preset", "SORT_STRATEGIES"]

#: Token orderings a row group may be formed with (see ``golden/conmerge.py``).
SORT_STRATEGIES = ("none", "popcount", "signature")


class ConfigError(ValueError):
    """A configuration value is out of its allowed range."""


def clog2(n: int) -> int:
    """Bits needed to index ``n`` things (``clog2(1) == 0``)."""
    return max(0, (n - 1).bit_length())


# Allowed range per integer field: (low, high) inclusive. Kept in one table so that the
# validation message, the CLI help and docs/config.md say the same thing.
INT_RANGES: dict[str, tuple[int, int]] = {
    "rows": (1, 64),
    "cols": (1, 64),
    "lanes": (1, 64),
    "data_width": (2, 16),
    "acc_width": (8, 48),
    "merge_degree": (1, 8),
    "adder_stages": (0, 6),
    "operand_stages": (0, 1),
    "drain_ports": (1, 8),
    "imem_bank_bytes": (1, 1 << 20),
    "wmem_bank_bytes": (1, 1 << 22),
    "omem_bank_bytes": (1, 1 << 20),
    "imem_buffers": (1, 3),
    "wmem_buffers": (1, 3),
    "omem_buffers": (1, 3),
    "ffn_reuse_n": (0, 64),
    "iterations": (1, 10000),
    "lod_steps": (1, 2),
    "schedule_depth": (1, 4096),
    "cau_window": (1, 8),
    "cau_sort": (0, 1),
    "cau_rate": (1, 4),
    "cau_fit": (0, 1),
    "bus_width": (32, 1024),
    "cores": (1, 64),
}

FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "ffn_target_sparsity": (0.0, 1.0),
    "ep_q_th": (0.0, 1.0e6),
    "ep_k": (0.0, 1.0),
    "clock_mhz": (1.0, 5000.0),
    "offchip_bytes_per_cycle": (0.001, 1.0e6),
}


@dataclass(frozen=True)
class ExionConfig:
    """Parameters of one EXION core and of the algorithms it runs.

    Members
    -------
    rows, cols : int
        SDUE array size: ``rows`` tokens (IMEM / OMEM banks) by ``cols`` weight columns (WMEM banks).
    lanes : int
        Multipliers per dot-product unit (DPU); a power of two.
    data_width : int
        Signed operand width in bits (SDUE and predictor), 12 in EXION.
    acc_width : int
        Signed accumulator width. At least ``2 * data_width + clog2(lanes)`` so that one cycle's
        lane sum is exact; the accumulator saturates (see ``golden/intsem.py``).
    merge_degree : int
        Weight columns one DPU column slot can hold after ConMerge (1 = condense only).
    adder_stages : int
        Pipeline registers inside the DPU adder tree (0 = combinational tree).
    operand_stages : int
        Pipeline registers between a memory read and the arithmetic that consumes it: the DPU
        weight switch's output before the multipliers, the eager predictor's operands before
        its leading-one detectors (0 = none). One costs a cycle of latency per SDUE run and
        per ``PREDICT`` / ``PREDICT_PROJ`` lane chunk; the FPGA build uses it, where a block
        RAM's read, the switch and a multiplier do not fit one 20 ns cycle (``docs/fpga.md``).
    drain_ports : int
        Columns of the SDUE's shadow register drained into OMEM per cycle (requantizers per
        row and OMEM write ports per bank); a power of two dividing ``cols``. Short
        reductions (``K < lanes * cols``) are drain-bound without them; see
        ``docs/cycle-model.md``. ``preset(..., cols=n)`` lowers a preset's value to
        ``gcd(drain_ports, n)``.
    imem_bank_bytes, wmem_bank_bytes, omem_bank_bytes : int
        Capacity of one bank of one buffer, in bytes.
    imem_buffers, wmem_buffers, omem_buffers : int
        Buffer count per memory (2 = ping-pong, 3 = triple buffering).
    schedule_depth : int
        ConMerge vectors (blocks) the schedule memory holds for one SDUE run.
    cau_window : int
        Blocks the ConMerge Assistant Unit keeps open at once (``W`` of the ``window`` rule of
        ``golden/conmerge.py``; 1 = the greedy rule).
    cau_sort : int
        1: the CAU places each mask beat's channels by conflict-vector popcount, descending
        (the ``window`` rule's ``sort_window`` = the beat); 0: in ascending channel order.
    cau_rate : int
        Channels the CAU places per cycle (1 = one); the schedule is the same for every rate,
        only the time differs (``docs/cau.md``).
    cau_fit : int
        Which fitting window slot the CAU places a channel in: 0 the lowest (first fit), 1 the
        one whose OR of conflict vectors has the most set bits, lowest on ties (best fit).
    ffn_reuse_n : int
        FFN-Reuse: sparse iterations after each dense one.
    ffn_target_sparsity : float
        FFN-Reuse: fraction of GELU outputs reused (not recomputed) in sparse iterations, used
        when the keep-mask is built by magnitude quantile.
    iterations : int
        Denoising iterations of the workload.
    ep_q_th : float
        Eager prediction: gap threshold between the largest and second-largest predicted score
        (in softmax-logit units).
    ep_k : float
        Eager prediction: top-k ratio, ``ceil(k * keys)`` keys kept when the gap test fails.
    lod_steps : int
        Leading-one detection steps of the predictor (1 = FACT-style, 2 = EXION's two-step).
    token_sort : str
        Token ordering used to form row groups for ConMerge; one of :data:`SORT_STRATEGIES`.
    clock_mhz : float
        Target clock, used by the cycle model's time figures and the timing constraints.
    offchip_bytes_per_cycle : float
        Off-chip bandwidth of the system, shared by its ``cores`` cores, in bytes per core
        clock (with one core: the core's own).
    bus_width : int
        Data width in bits of the core's AXI4 master port (``hw/dma.py``); a power of two.
        The default, 256 bits, moves 32 bytes per beat: the ``offchip_bytes_per_cycle`` the
        cycle model assumes.
    cores : int
        EXION cores of the system; they share the off-chip bandwidth
        (``golden/multicore.py`` partitions a model over them).
    """

    rows: int = 16
    cols: int = 16
    lanes: int = 16
    data_width: int = 12
    acc_width: int = 32
    merge_degree: int = 2
    adder_stages: int = 1
    operand_stages: int = 0
    drain_ports: int = 1
    imem_bank_bytes: int = 1536
    wmem_bank_bytes: int = 12288
    omem_bank_bytes: int = 1536
    imem_buffers: int = 2
    wmem_buffers: int = 3
    omem_buffers: int = 2
    schedule_depth: int = 64
    cau_window: int = 1
    cau_sort: int = 0
    cau_rate: int = 1
    cau_fit: int = 0
    ffn_reuse_n: int = 2
    ffn_target_sparsity: float = 0.8
    iterations: int = 100
    ep_q_th: float = 0.15
    ep_k: float = 0.05
    lod_steps: int = 2
    token_sort: str = "none"
    clock_mhz: float = 800.0
    offchip_bytes_per_cycle: float = 32.0
    bus_width: int = 256
    cores: int = 1
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in INT_RANGES:
                lo, hi = INT_RANGES[f.name]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ConfigError(
                        f"{f.name} must be an integer in [{lo}, {hi}], not {value!r}")
                check_range(f.name, value, lo, hi, error=ConfigError)
            elif f.name in FLOAT_RANGES:
                lo, hi = FLOAT_RANGES[f.name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not math.isfinite(value):
                    raise ConfigError(
                        f"{f.name} must be a number in [{lo}, {hi}], not {value!r}")
                check_range(f.name, value, lo, hi, error=ConfigError)
                object.__setattr__(self, f.name, float(value))
        if self.lanes & (self.lanes - 1):
            raise ConfigError(
                f"lanes = {self.lanes} must be a power of two in [1, 64] "
                f"(the DPU adder tree is a binary tree)")
        if self.adder_stages > clog2(self.lanes):
            raise ConfigError(
                f"adder_stages = {self.adder_stages} is out of range [0, {clog2(self.lanes)}] "
                f"(a {self.lanes}-lane adder tree has {clog2(self.lanes)} levels)")
        min_acc = self.product_width + clog2(self.lanes)
        if not min_acc <= self.acc_width <= 48:
            raise ConfigError(
                f"acc_width = {self.acc_width} is out of range [{min_acc}, 48] "
                f"(one cycle's sum of {self.lanes} products of {self.data_width}-bit operands "
                f"needs {min_acc} bits)")
        if self.drain_ports & (self.drain_ports - 1) or self.cols % self.drain_ports:
            raise ConfigError(
                f"drain_ports = {self.drain_ports} must be a power of two in [1, 8] that "
                f"divides cols = {self.cols} (the shadow drains cols / drain_ports columns "
                f"per block)")
        if self.bus_width & (self.bus_width - 1):
            raise ConfigError(
                f"bus_width = {self.bus_width} must be a power of two in [32, 1024] "
                f"(AXI4 data widths are powers of two)")
        if self.token_sort not in SORT_STRATEGIES:
            raise ConfigError(
                f"token_sort = {self.token_sort!r} is not one of {', '.join(SORT_STRATEGIES)}")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a non-empty string, not {self.name!r}")
        # Banks must hold at least one read word (a lane vector); WMEM must hold the
        # merge_degree weight vectors a column slot reads per cycle.
        for mem, need in (("imem", self.lanes * self.data_width),
                          ("wmem", self.merge_degree * self.lanes * self.data_width),
                          ("omem", self.data_width)):
            have = getattr(self, f"{mem}_bank_bytes") * 8
            if have < need:
                raise ConfigError(
                    f"{mem}_bank_bytes = {have // 8} is too small: one read word needs "
                    f"{math.ceil(need / 8)} bytes (allowed range [{math.ceil(need / 8)}, "
                    f"{INT_RANGES[mem + '_bank_bytes'][1]}])")

    # -- derived quantities (read-only) ---------------------------------------------------

    @property
    def dpus(self) -> int:
        """Dot-product units in the SDUE."""
        return self.rows * self.cols

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.rows * self.cols * self.lanes

    @property
    def data_min(self) -> int:
        return -(1 << (self.data_width - 1))

    @property
    def data_max(self) -> int:
        return (1 << (self.data_width - 1)) - 1

    @property
    def acc_min(self) -> int:
        return -(1 << (self.acc_width - 1))

    @property
    def acc_max(self) -> int:
        return (1 << (self.acc_width - 1)) - 1

    @property
    def product_width(self) -> int:
        """Width of an exact signed product of two operands."""
        return 2 * self.data_width

    @property
    def sum_width(self) -> int:
        """Width of one cycle's exact sum of ``lanes`` products."""
        return self.product_width + clog2(self.lanes)

    @property
    def sel_width(self) -> int:
        """Bits of a DPU's conflict-vector switch field: 0 = idle, 1..merge_degree = stream."""
        return clog2(self.merge_degree + 1)

    @property
    def pipeline_depth(self) -> int:
        """Cycles from a lane chunk's memory read to its sum reaching the accumulator:
        one synchronous memory read, the operand stages, the adder-tree stages, and the
        accumulate register."""
        return 1 + self.operand_stages + self.adder_stages + 1

    @property
    def drain_cycles(self) -> int:
        """Cycles the shadow register takes to drain one block: ``cols / drain_ports``."""
        return self.cols // self.drain_ports

    @property
    def bus_bytes(self) -> int:
        """Bytes per beat of the AXI4 master port: ``bus_width / 8``."""
        return self.bus_width // 8

    def words(self, mem: str) -> int:
        """Lane-vector words one bank of one buffer of ``mem`` ('imem', 'wmem', 'omem') holds.

        IMEM and WMEM words are lane vectors (``lanes * data_width`` bits; a WMEM word of a
        merged column slot carries ``merge_degree`` of them); OMEM words are single outputs of
        ``data_width`` bits.
        """
        bits = getattr(self, f"{mem}_bank_bytes") * 8
        per_word = {"imem": self.lanes * self.data_width,
                    "wmem": self.merge_degree * self.lanes * self.data_width,
                    "omem": self.data_width}[mem]
        return bits // per_word

    # -- serialization --------------------------------------------------------------------

    @staticmethod
    def parse_field(name: str, text: str):
        """Convert command-line ``text`` to the type of field ``name`` (no range check yet:
        the constructor does that); a non-number raises :class:`ConfigError`."""
        if name in INT_RANGES:
            lo, hi = INT_RANGES[name]
            try:
                return int(text, 10)
            except ValueError:
                raise ConfigError(
                    f"{name} must be an integer in [{lo}, {hi}], not {text!r}") from None
        if name in FLOAT_RANGES:
            lo, hi = FLOAT_RANGES[name]
            try:
                return float(text)
            except ValueError:
                raise ConfigError(
                    f"{name} must be a number in [{lo}, {hi}], not {text!r}") from None
        if name in {f.name for f in fields(ExionConfig)}:
            return text
        raise ConfigError(f"unknown configuration field {name!r}")

    def replace(self, **changes: Any) -> "ExionConfig":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def manifest(self) -> dict[str, Any]:
        """The JSON manifest a generated design ships with: parameters and derived values."""
        return {
            "generator": "exion-gen",
            "format": 1,
            "config": self.to_dict(),
            "derived": {
                "dpus": self.dpus,
                "peak_macs_per_cycle": self.peak_macs_per_cycle,
                "product_width": self.product_width,
                "sum_width": self.sum_width,
                "sel_width": self.sel_width,
                "pipeline_depth": self.pipeline_depth,
                "drain_cycles": self.drain_cycles,
                "imem_words": self.words("imem"),
                "wmem_words": self.words("wmem"),
                "omem_words": self.words("omem"),
                "bus_bytes": self.bus_bytes,
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.manifest(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExionConfig":
        if "config" in data:  # a whole manifest
            data = data["config"]
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown configuration field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "ExionConfig":
        return cls.from_dict(json.loads(text))

    def to_c_header(self) -> str:
        """``#define`` s for host software and testbenches written in C."""
        guard = "EXION_CONFIG_H"
        lines = [
            "/* Generated by exion-gen from ExionConfig; do not edit. */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
        ]
        items = dict(self.to_dict())
        items.update(self.manifest()["derived"])
        for key in sorted(items):
            value = items[key]
            macro = "EXION_" + key.upper()
            if isinstance(value, str):
                lines.append(f"#define {macro} {json.dumps(value)}")
            elif isinstance(value, float):
                lines.append(f"#define {macro} {value!r}")
            else:
                lines.append(f"#define {macro} {value}")
        lines += ["", f"#endif /* {guard} */", ""]
        return "\n".join(lines)


#: Named configurations. ``toy`` is the 8 x 3 model of the talk's Figures 8-9; ``exion`` the
#: 16 x 16 core of the talk's configuration table.
PRESETS: dict[str, ExionConfig] = {
    "exion": ExionConfig(drain_ports=4, name="exion"),
    "toy": ExionConfig(rows=8, cols=3, name="toy"),
    # Systems of the paper's evaluation: an edge one of 4 cores and a server one of 24. The
    # bandwidth is the compared GPU's own (68 GB/s, 960 GB/s at 800 MHz: 85 and 1200 bytes
    # per cycle); the memory types are in exion/energy_table.py (SYSTEM_MEMORY). Each core's
    # port is the narrowest power of two whose beats, over all cores, cover the bandwidth
    # (4 x 32 >= 85; 24 x 64 >= 1200).
    "exion4": ExionConfig(drain_ports=4, cores=4, offchip_bytes_per_cycle=85.0, name="exion4"),
    "exion24": ExionConfig(drain_ports=4, cores=24, offchip_bytes_per_cycle=1200.0,
                           bus_width=512, name="exion24"),
}


def preset(preset_name: str, /, **overrides: Any) -> ExionConfig:
    """A preset with ``overrides`` applied (named ``<preset>-custom`` unless ``name`` is one of
    them). Unknown presets raise :class:`ConfigError`."""
    name = preset_name
    if name not in PRESETS:
        raise ConfigError(f"preset = {name!r} is not one of {', '.join(sorted(PRESETS))}")
    cfg = PRESETS[name]
    if "cols" in overrides and "drain_ports" not in overrides:
        # The preset's drain ports, lowered to a divisor of the new column count.
        overrides = {**overrides, "drain_ports": math.gcd(cfg.drain_ports, overrides["cols"])}
    if overrides:
        cfg = cfg.replace(**{"name": f"{name}-custom", **overrides})
    return cfg
