"""Reference energies of the energy model (``golden/energy.py``), each with its source.

Part of the spec layer: data only, imports nothing of the project. Every figure is kept at
the technology node and supply it was published for; ``golden.energy`` scales it to the
model's node and supply with :data:`STILLMAKER_ENERGY` (see ``docs/energy.md``). A figure
marked ``checked=False`` is a literature value quoted from memory or derived from a claim: no
copy of it (primary or secondary) could be read while this table was written.

Sources (short keys used in the ``source`` fields):

* ``horowitz14``: M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, 45 nm, 0.9 V (the figures as listed in ``shared/reference/anchors.md``).
* ``aladdin``: Y. S. Shao et al., "Aladdin", ISCA 2014, 40 nm standard cells, as shipped in
  the Accelergy project's ``hwcomponents-library`` (``library/aladdin.py``: energies per
  action and leakage powers of a 32-bit adder, 32 x 32 multiplier, 32-bit comparator and a
  1-bit register).
* ``stillmaker17``: A. Stillmaker, B. Baas, "Scaling equations for the accurate prediction
  of CMOS device performance from 180 nm to 7 nm", Integration 58 (2017), the energy
  polynomials as tabulated in the Accelergy project's ``hwcomponents`` package
  (``scaling/techscaling.py``).
* ``oconnor17``: M. O'Connor et al., "Fine-Grained DRAM: Energy-Efficient DRAM for Extreme
  Bandwidth Systems", MICRO 2017, Fig. 1 (HBM2: activation 1.21 + I/O 0.22 + on-die data
  movement 2.54 = 3.97 pJ/bit; GDDR5 14.0 pJ/bit),
  https://research.nvidia.com/sites/default/files/pubs/2017-10_Fine-Grained-DRAM%3A-Energy-Efficient/oconnor_and_chatterjee.micro2017.pdf
  (the breakdown as quoted in public tables and simulator configurations).
* ``ha_lpddr4``: H. Ha, Stanford PhD thesis (DRAM design-space exploration), 32 Gb LPDDR4
  single-die package, 14.0 pJ/bit (simulation),
  https://stacks.stanford.edu/file/yp843xn4828/Heonjae_Thesis-augmented.pdf, as tabulated in
  the public ``DRAM_info`` collection (github.com/Dongyunkam/DRAM_info, README, section 4).
* ``micron_ubs``: Micron, "Ultra-Bandwidth Solutions" memory comparison table,
  https://www.micron.com/products/ultra-bandwidth-solutions: "Average Device Power (pJ/bit)"
  GDDR6 7.5 (14-16 Gb/s per pin), GDDR6X 7.25, HBM2E 6.0 (read from a stored copy of the
  page). Micron's GDDR6X announcement (2020) also says GDDR6X at 21 Gb/s uses 15 % less
  power per bit than GDDR6 at 14 Gb/s: a different operating point, not used here.
* ``cacti7_28nm``: CACTI 7 runs of small SRAMs at 28 nm (4-8 KB, 512-bit ports) tabulated in
  the same collection: write / read energy 1.15-1.40.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Ref", "ARITH", "REGISTER_BIT", "SRAM_64BIT", "SRAM_WRITE_RATIO", "DRAM_PJ_PER_BIT",
           "LEAK_REFS", "STILLMAKER_NODES", "STILLMAKER_ENERGY", "GpuSpec", "GPUS",
           "DIT_SHAPES", "SYSTEM_MEMORY"]


@dataclass(frozen=True)
class Ref:
    """One published energy figure.

    Members
    -------
    pj : float
        Energy per action in pJ (or, for :data:`LEAK_REFS`, leakage power in uW).
    width : int
        Operand width in bits the figure is for (0 where it does not apply).
    node_nm, vdd : float
        Technology node (nm) and supply (V) of the figure.
    source : str
        Where the figure comes from (see the module docstring).
    checked : bool
        True if the figure was read while this table was written, from the project's
        reference notes or a public table quoting the source; False if quoted from memory or
        derived from a claim.
    """

    pj: float
    width: int
    node_nm: float
    vdd: float
    source: str
    checked: bool = True


#: Integer arithmetic. Widths between the published points are interpolated by
#: ``golden.energy`` (adders linearly in width, multipliers by a power law through both
#: points, comparators linearly from one point: Aladdin's scaling rules).
ARITH: dict[str, tuple[Ref, ...]] = {
    "add": (Ref(0.03, 8, 45, 0.9, "horowitz14: INT8 add"),
            Ref(0.1, 32, 45, 0.9, "horowitz14: INT32 add")),
    "mult": (Ref(0.2, 8, 45, 0.9, "horowitz14: INT8 multiply"),
             Ref(3.1, 32, 45, 0.9, "horowitz14: INT32 multiply")),
    "compare": (Ref(0.02947, 32, 40, 0.9,
                    "aladdin: 32-bit comparator (40 nm; 0.9 V assumed, the node's nominal)"),),
}

#: One flip-flop bit clocked with new data (Aladdin's register "read" energy per bit).
REGISTER_BIT = Ref(0.009, 1, 40, 0.9, "aladdin: register, per bit (0.9 V assumed)")

#: SRAM 64-bit access by capacity in bytes (Horowitz). ``golden.energy`` fits
#: ``E = E_8K * sqrt(capacity / 8 KB)`` per 64 bits (10 / 20 / 113 pJ at 8 KB / 32 KB / 1 MB
#: against the published 10 / 20 / 100) and scales linearly with the port width.
SRAM_64BIT: tuple[tuple[int, Ref], ...] = (
    (8 << 10, Ref(10.0, 64, 45, 0.9, "horowitz14: 8 KB SRAM, 64-bit access")),
    (32 << 10, Ref(20.0, 64, 45, 0.9, "horowitz14: 32 KB SRAM, 64-bit access")),
    (1 << 20, Ref(100.0, 64, 45, 0.9, "horowitz14: 1 MB SRAM, 64-bit access")),
)

#: Write energy / read energy of a small SRAM (cacti7_28nm: 1.15-1.40 for 4-8 KB arrays).
SRAM_WRITE_RATIO = 1.3

#: Off-chip memory, pJ per bit transferred (device + interface; the controller and PHY on
#: the accelerator side are not included).
DRAM_PJ_PER_BIT: dict[str, Ref] = {
    "hbm2": Ref(3.97, 1, 0, 0, "oconnor17: HBM2, Fig. 1"),
    "gddr5": Ref(14.0, 1, 0, 0, "oconnor17: GDDR5, Fig. 1"),
    "gddr6": Ref(7.5, 1, 0, 0, "micron_ubs: GDDR6 average device power, 7.5 pJ/bit"),
    "lpddr4": Ref(14.0, 1, 0, 0, "ha_lpddr4: 32 Gb LPDDR4 SDP, simulated"),
    "lpddr5": Ref(11.2, 1, 0, 0, "lpddr4 x 0.8: vendor claims of about 20 % lower energy "
                  "per bit than LPDDR4(X); no published LPDDR5 pJ/bit figure was found in the "
                  "stored pages, documentation and code searched", checked=False),
    "ddr3": Ref(20.3, 1, 0, 0, "horowitz14: DRAM 64-bit access 1.3 nJ (low end of 1.3-2.6)"),
}

#: Leakage power references (``pj`` field = uW at the node, ``width`` = transistors of the
#: unit in static CMOS, counted as ``exion_tools/synth_model.py`` counts them: a mirror full
#: adder is 28 transistors, an AND2 6). ``golden.energy`` divides one by the other.
LEAK_REFS: tuple[tuple[str, Ref], ...] = (
    ("32-bit adder: 32 full adders = 896 transistors",
     Ref(2.40, 32 * 28, 40, 0.9, "aladdin: adder leak 2.40e-6 W")),
    ("32x32 array multiplier: 1024 AND2 + 1024 full adders = 34816 transistors",
     Ref(80.0, 1024 * (6 + 28), 40, 0.9, "aladdin: multiplier leak 8.0e-5 W")),
)

#: Stillmaker & Baas energy polynomials: energy at node ``n`` and supply ``V`` is
#: proportional to ``a V^2 + b V + c`` with ``(a, b, c) = STILLMAKER_ENERGY[n]``.
STILLMAKER_NODES = (130, 90, 65, 45, 32, 20, 16, 14, 10, 7)
STILLMAKER_ENERGY: dict[int, tuple[float, float, float]] = {
    130: (7.171, -6.709, 2.904),
    90: (4.762, -4.781, 2.092),
    65: (3.755, -4.398, 1.975),
    45: (1.103, -0.362, 0.2767),
    32: (0.9559, -0.7823, 0.471),
    20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239),
    10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}


@dataclass(frozen=True)
class GpuSpec:
    """Peak figures of a GPU for the roofline model (``golden/gpu_roofline.py``).

    Members
    -------
    name : str
    peak_ops : float
        Peak operations per second (a multiply-accumulate is 2 operations).
    dtype : str
        Operand type the peak is for; ``bytes_per_value`` its size.
    bytes_per_value : int
    bandwidth : float
        DRAM bandwidth, bytes per second.
    power_w : float
        Board power used for energy = power x time.
    memory : str
        DRAM type (a key of :data:`DRAM_PJ_PER_BIT` where one fits).
    source : str
    """

    name: str
    peak_ops: float
    dtype: str
    bytes_per_value: int
    bandwidth: float
    power_w: float
    memory: str
    source: str


#: The two GPUs of the EXION talk's evaluation (throughput, bandwidth and power as the talk's
#: table gives them, ``shared/reference/exion-hpca25-slides.txt``).
GPUS: dict[str, GpuSpec] = {
    "orin-nano": GpuSpec(
        "Jetson Orin Nano", 40.0e12, "int8", 1, 68.0e9, 15.0, "lpddr5",
        "EXION talk, GPU table: 40.0 TOPS, 68 GB/s, about 15 W. NVIDIA's 40 TOPS is, as "
        "recalled (not re-read here), INT8 with 2:4 structured sparsity, dense INT8 about "
        "half of it; the model takes the talk's figure"),
    "rtx6000-ada": GpuSpec(
        "RTX 6000 Ada", 91.1e12, "fp16", 2, 960.0e9, 300.0, "gddr6",
        "EXION talk, GPU table: 91.1 TFLOPS, 960 GB/s, about 300 W. 91.1 T equals 18176 "
        "CUDA cores x 2 x 2.505 GHz (core count and boost clock as recalled, not re-read "
        "here), the non-tensor rate; the tensor cores are faster; kept as the talk gives it"),
}

#: Dense DiT shapes: tokens, hidden, heads, blocks, FFN width.
DIT_SHAPES: dict[str, dict[str, int]] = {
    # anchors.md: DiT-XL/2 at 256 x 256.
    "dit-xl/2": {"tokens": 256, "hidden": 1152, "heads": 16, "blocks": 28, "ffn": 4608},
    # data/traces/index.json, "model": the DiT trained on sklearn digits.
    "dit-digits": {"tokens": 64, "hidden": 128, "heads": 4, "blocks": 4, "ffn": 512},
}

#: Off-chip memory type of the evaluated systems (presets ``exion4`` / ``exion24`` of
#: ``exion/config.py``). The talk names the systems but not their memories: ours is an
#: iso-memory comparison, each system gets the memory type and bandwidth of the GPU it is
#: compared with (``GPUS``: LPDDR5 68 GB/s, GDDR6 960 GB/s). Other presets: LPDDR4.
SYSTEM_MEMORY: dict[str, str] = {"exion4": "lpddr5", "exion24": "gddr6"}
