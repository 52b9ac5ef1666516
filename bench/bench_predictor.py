"""Predictor area: the shift-and-add unit (hw/predictor.py) against a multiplier dot product of
the same lanes, operand width and accumulator width, both synthesized by Debian's yosys
(``synth; stat -tech cmos``). Also states the selector's hit rate against exact top-k.

Run: ``python bench/bench_predictor.py [lanes]`` (default 16 lanes, 12-bit, two-step LOD).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amaranth.back import verilog  # noqa: E402
from amaranth.hdl import Module, Mux, signed  # noqa: E402
from amaranth.lib import data, wiring  # noqa: E402
from amaranth.lib.wiring import In, Out  # noqa: E402

from exion.config import preset  # noqa: E402
from hw.predictor import Predictor  # noqa: E402


class MulDot(wiring.Component):
    """Reference: ``lanes`` exact signed multiplies, an adder tree and the same accumulator
    (width and first / valid control) as the predictor."""

    def __init__(self, cfg, acc_width):
        self.cfg = cfg
        lv = data.ArrayLayout(signed(cfg.data_width), cfg.lanes)
        super().__init__({"a": In(lv), "b": In(lv), "valid": In(1), "first": In(1),
                          "acc": Out(signed(acc_width))})

    def elaborate(self, platform):
        m = Module()
        terms = [self.a[i] * self.b[i] for i in range(self.cfg.lanes)]
        while len(terms) > 1:
            terms = [terms[i] + terms[i + 1] for i in range(0, len(terms), 2)]
        with m.If(self.valid):
            m.d.sync += self.acc.eq(Mux(self.first, 0, self.acc) + terms[0])
        return m


def synth(component, top):
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / f"{top}.v"
        f.write_text(verilog.convert(component, name=top, emit_src=False))
        r = subprocess.run(["yosys", "-p", f"read_verilog {f}; synth -top {top}; "
                            f"stat -tech cmos"], capture_output=True, text=True)
    log = r.stdout
    if "End of script" not in log:
        raise RuntimeError(f"yosys did not finish for {top}:\n{log[-2000:]}")
    stat = log[log.rindex("Printing statistics"):]
    cells = int(re.search(r"Number of cells:\s+(\d+)", stat).group(1))
    tr = re.search(r"Estimated number of transistors:\s+(\d+)", stat)
    muls = "$mul" in log[:log.index("Executing SYNTH")] if "Executing SYNTH" in log else None
    return cells, int(tr.group(1)) if tr else None, muls


def main():
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    lanes = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    cfg = preset("exion", lanes=lanes)
    pred = Predictor(cfg)
    acc = pred.acc_width
    print(f"{lanes} lanes, {cfg.data_width}-bit operands, {cfg.lod_steps}-step LOD, "
          f"{acc}-bit accumulator (shift_add_acc_width(1152, 12, 2))")
    rows = [("shift-add predictor", synth(pred, "pred")),
            ("multiplier dot product", synth(MulDot(cfg, acc), "muldot"))]
    for name, (cells, tr, _) in rows:
        print(f"{name:24s} cells {cells:7d}   est. transistors {tr}")
    (c1, t1, _), (c2, t2, _) = rows[0][1], rows[1][1]
    print(f"ratio predictor / multiplier: cells {c1 / c2:.2f}"
          + (f", transistors {t1 / t2:.2f}" if t1 and t2 else ""))
    print("selector: exact top-k (sorted insertion list, hw/selector.py), hit rate against "
          "golden.eager.select = 1.000 by construction (tests/test_selector.py checks it bit "
          "for bit); no approximate rule was needed.")


if __name__ == "__main__":
    main()
