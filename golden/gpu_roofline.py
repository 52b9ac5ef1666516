"""Roofline model of the GPU baselines running dense DiT layers. A model, not a measurement.

For a GEMM ``(m x k) @ (k x n)`` in the GPU's operand type (``exion.energy_table.GPUS``)::

    ops    = 2 m k n                                   # a multiply-accumulate is 2 operations
    bytes  = (m k + k n + m n) * bytes_per_value       # each operand and the result moved once
    time   = max(ops / (peak_ops * efficiency), bytes / bandwidth)
    energy = power_w * time                            # board power for the whole time

So the time is a lower bound (perfect caching, no launch overhead, peak throughput at
``efficiency = 1``) and the energy charges the board power the talk gives (about 15 W,
about 300 W) for that time: no idle or partial-power state. ``docs/energy.md`` lists what
this leaves out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exion.energy_table import DIT_SHAPES, GPUS, GpuSpec

__all__ = ["Gemm", "Roofline", "dit_block_gemms", "roofline", "gpu", "GPUS", "DIT_SHAPES"]


@dataclass(frozen=True)
class Gemm:
    """``count`` GEMMs ``(m x k) @ (k x n)`` of one transformer block."""

    name: str
    m: int
    k: int
    n: int
    count: int = 1

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.count

    @property
    def values_moved(self) -> int:
        return (self.m * self.k + self.k * self.n + self.m * self.n) * self.count


@dataclass(frozen=True)
class Roofline:
    """Roofline time and energy of some GEMMs on one GPU."""

    gpu: str
    ops: float
    bytes: float
    time_s: float
    energy_j: float
    bound: str

    @property
    def intensity(self) -> float:
        """Operations per byte moved."""
        return self.ops / self.bytes if self.bytes else math.inf


def gpu(name: str) -> GpuSpec:
    if name not in GPUS:
        raise ValueError(f"gpu = {name!r} is not one of {', '.join(GPUS)}")
    return GPUS[name]


def dit_block_gemms(shape: str | dict) -> list[Gemm]:
    """The dense GEMMs of one DiT block (``shape``: a key of ``DIT_SHAPES`` or a dict with
    ``tokens, hidden, heads, ffn``): QKV projection, ``Q K^T`` and ``P V`` per head, output
    projection, FFN FC1 and FC2. adaLN modulation, layer norms, softmax and GELU are not
    GEMMs of the token count and are left out (they are small next to these)."""
    if isinstance(shape, str):
        if shape not in DIT_SHAPES:
            raise ValueError(f"shape = {shape!r} is not one of {', '.join(DIT_SHAPES)}")
        shape = DIT_SHAPES[shape]
    t, h, heads, f = shape["tokens"], shape["hidden"], shape["heads"], shape["ffn"]
    if heads < 1 or h % heads:
        raise ValueError(f"heads = {heads} must divide hidden = {h}")
    dh = h // heads
    return [Gemm("qkv", t, h, 3 * h), Gemm("qk", t, dh, t, heads), Gemm("av", t, t, dh, heads),
            Gemm("proj", t, h, h), Gemm("fc1", t, h, f), Gemm("fc2", t, f, h)]


def roofline(name: str, gemms, efficiency: float = 1.0) -> Roofline:
    """Roofline of ``gemms`` (a :class:`Gemm` or a list) run one after another on GPU
    ``name``, at ``efficiency`` (in (0, 1]) of the peak throughput."""
    spec = gpu(name)
    if isinstance(efficiency, bool) or not isinstance(efficiency, (int, float)) \
            or not 0 < efficiency <= 1:
        raise ValueError(f"efficiency = {efficiency!r} is out of range (0, 1]")
    if isinstance(gemms, Gemm):
        gemms = [gemms]
    ops = by = t = 0.0
    compute_bound = 0.0
    for g in gemms:
        o, b = 2.0 * g.macs, float(g.values_moved * spec.bytes_per_value)
        tc, tm = o / (spec.peak_ops * efficiency), b / spec.bandwidth
        ops, by, t = ops + o, by + b, t + max(tc, tm)
        compute_bound += max(tc, tm) if tc >= tm else 0.0
    bound = "compute" if compute_bound >= t / 2 else "memory"
    return Roofline(spec.name, ops, by, t, spec.power_w * t, bound)
