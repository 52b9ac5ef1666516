"""Energy of the actions an RTL run performed against the energy model's, for the same commands.

The command stream of tests/test_energy_activity.py (dense GEMM, FFN_MASK GEMM, SCHEDULE +
sparse GEMMs, PREDICT, GELU, SOFTMAX with and without key mask, LAYERNORM, RESIDUAL, their
staging GEMMs and the READ_OMEMs, on the 4 x 4 or 8 x 3 core of tests/test_core.py) is
replayed on the RTL with the activity monitor of sim/tb_energy_activity.py; every action is
priced with ``golden.energy`` (14 nm, 0.8 V, LPDDR4: the defaults) on both sides. Printed: per
action the RTL's count, the model's (the runtime's ``exion_tools.runtime.counts.Stats``), both
energies, their ratio; the totals (dynamic energy; ``dpu.ff_bit`` is not observable by the
monitor and is priced from the model's count on both sides); then the same without the
off-chip bytes. ``--pause P`` adds random stream / bus pauses (the counts must not change).

    .venv/bin/python bench/bench_energy_activity.py [--sim icarus|verilator] [--pause 0.3]
                                                    [--config 4x4|8x3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from golden.energy import EnergyModel  # noqa: E402
from sim.runner import SIMULATORS  # noqa: E402
from sim.tb_energy_activity import COMPARED  # noqa: E402
from tests.test_core import CONFIGS  # noqa: E402
from tests.test_energy_activity import run_activity  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sim", default="icarus", help="icarus (default) or verilator")
    p.add_argument("--config", default="4x4", help="4x4 (default) or 8x3 (tests/test_core.py)")
    p.add_argument("--pause", type=float, default=0.0,
                   help="probability of a pause per cycle on every bus and stream, in [0, 0.9]")
    args = p.parse_args(argv)
    if args.sim not in SIMULATORS:
        print(f"error: --sim = {args.sim!r} is not one of {', '.join(SIMULATORS)}",
              file=sys.stderr)
        return 2
    if args.config not in ("4x4", "8x3"):
        print(f"error: --config = {args.config!r} is not one of 4x4, 8x3", file=sys.stderr)
        return 2
    if not 0 <= args.pause <= 0.9:
        print(f"error: --pause = {args.pause} is out of range [0, 0.9]", file=sys.stderr)
        return 2
    cfg = CONFIGS[args.config]
    res = run_activity(cfg, args.sim, args.pause)
    table = EnergyModel().action_table(cfg)
    rtl, model = res["rtl"], res["model"]
    print(f"{cfg.rows} x {cfg.cols} core, {res['commands']} commands, {res['cycles']} cycles, {args.sim}, "
          f"pause {res['pause']}; energy table: 14 nm, 0.8 V, LPDDR4")
    print(f"{'action':<20}{'RTL':>9}{'model':>9}{'pJ each':>10}{'RTL pJ':>12}{'model pJ':>12}"
          f"{'ratio':>7}")
    tot = {"rtl": 0.0, "model": 0.0}
    chip = {"rtl": 0.0, "model": 0.0}
    ff = ("dpu.ff_bit",)
    for key in (*COMPARED, *ff):
        c, a = key.split(".")
        e = table[(c, a)]
        n_r = rtl.get(key, model.get(key, 0)) if key in ff else rtl.get(key, 0)
        n_m = model.get(key, 0)
        er, em = n_r * e, n_m * e
        tot["rtl"] += er
        tot["model"] += em
        if c != "offchip":
            chip["rtl"] += er
            chip["model"] += em
        ratio = f"{er / em:7.3f}" if em else "      -"
        print(f"{key:<20}{n_r:>9}{n_m:>9}{e:>10.4f}{er:>12.1f}{em:>12.1f}{ratio}")
    for name, d in (("total (dynamic)", tot), ("on-chip only", chip)):
        print(f"{name:<38}{d['rtl']:>22.1f}{d['model']:>12.1f}"
              f"{d['rtl'] / d['model']:7.3f}")
    extra = {k: v for k, v in rtl.items() if k not in COMPARED}
    if extra:
        print("counted apart (host windows, not priced): "
              + ", ".join(f"{k} {v}" for k, v in sorted(extra.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
