"""Cycles of the core's CFSE commands (golden.cycle_model.cfse_command_cycles, which the RTL's
CYCLES equals in tests/test_core_cfse.py) at the ``exion`` preset (16 x 16, 16 lanes, 1024
OMEM words), with two ratios: to the ideal of one OMEM address of every row per cycle (``n``
cycles; softmax and LayerNorm read every channel three and four times: 3 or 4 x ideal is
their read-bound floor) and to the SDUE cycles of the GEMM that produced the command's input (a row
group of 16 tokens, ``n`` output channels, K = 256: golden.cycle_model.compute_cycles).
Run: ``python bench/bench_core_cfse.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exion.config import preset  # noqa: E402
from golden import cycle_model  # noqa: E402

K = 256         # the producing GEMM's reduction (kc = 16 at 16 lanes)


def main() -> None:
    cfg = preset("exion")
    R = cfg.rows
    cases = [("GELU", 1024, "FC1 output of one row group (hidden 1024)"),
             ("RESIDUAL", 256, "FC2 / projection output (width 256)"),
             ("LAYERNORM", 256, "LayerNorm + adaLN of 16 tokens of width 256"),
             ("SOFTMAX", 64, "16 queries x 64 keys (all rows keep a key)")]
    print(f"exion preset: {R} x {cfg.cols}, {cfg.lanes} lanes, OMEM {cfg.words('omem')} words")
    print(f"{'command':<10} {'n':>5} {'rows':>4} {'cycles':>7} {'ideal':>6} {'x ideal':>8} "
          f"{'GEMM':>6} {'x GEMM':>7}  input")
    for op, n, what in cases:
        cyc = cycle_model.cfse_command_cycles(op, n, R)
        ideal = n
        gemm = cycle_model.compute_cycles(-(-n // cfg.cols), K, cfg)
        print(f"{op:<10} {n:>5} {R:>4} {cyc:>7} {ideal:>6} {cyc / ideal:>8.2f} "
              f"{gemm:>6} {cyc / gemm:>7.2f}  {what}")


if __name__ == "__main__":
    main()
