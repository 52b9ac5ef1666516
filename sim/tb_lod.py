"""cocotb bench of the leading-one detector (hw/lod.py), exhaustive against golden.eager.lod."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import Timer

from golden.eager import lod, lod_approx

from .tb_common import config


class UnitView:
    """A unit's ports inside a bundle top (``hw.predictor.EagerUnits``): attribute ``name`` is
    the top's ``<prefix>__name``; ``clk`` and ``rst`` are shared."""

    def __init__(self, dut, prefix: str):
        self._dut, self._prefix = dut, prefix

    def __getattr__(self, name):
        if name in ("clk", "rst"):
            return getattr(self._dut, name)
        return getattr(self._dut, f"{self._prefix}__{name}")


def view(dut, prefix: str):
    """``dut`` itself when it is the unit alone, else the unit's view inside a bundle."""
    try:
        getattr(dut, f"{prefix}__" + {"lod": "x", "pred": "acc", "sel": "count"}[prefix])
    except AttributeError:
        return dut
    return UnitView(dut, prefix)


def uint(sig) -> int:
    """Unsigned value of a port (one-bit ports read as Logic, wider ones as LogicArray)."""
    v = sig.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


class LodDriver:
    """Applies one operand and reads every output field (combinational unit)."""

    FIELDS = ("sign", "p1", "p2", "has_second", "nonzero")

    def __init__(self, dut, width):
        self.dut, self.width = dut, width

    async def apply(self, x: int):
        self.dut.x.value = x & ((1 << self.width) - 1)
        await Timer(1, unit="ns")
        d = self.dut
        return ([uint(getattr(d, f)) for f in self.FIELDS]
                + [d.approx1.value.to_signed(), d.approx2.value.to_signed()])


@cocotb.test()
async def exhaustive(dut):
    """Every signed data_width-bit value, -2**(W-1) included."""
    cfg = config()
    W = cfg.data_width
    xs = np.arange(-(1 << (W - 1)), 1 << (W - 1), dtype=np.int64)
    g = lod(xs, W)
    want = np.stack([g.sign, g.p1, g.p2, g.has_second, g.nonzero,
                     lod_approx(xs, 1, W), lod_approx(xs, 2, W)], axis=1)
    drv = LodDriver(view(dut, "lod"), W)
    for i, x in enumerate(xs.tolist()):
        got = await drv.apply(x)
        assert got == want[i].tolist(), f"x = {x}: got {got}, want {want[i].tolist()}"
