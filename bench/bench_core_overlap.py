"""ConMerge overlapped with compute on the core's RTL: wall cycles of a sparse FFN-Reuse
iteration, serial order (``half`` 0: ``SCHEDULE`` g, ``GEMM`` g) against overlapped
(``SCHEDULE`` g + 1 into one SMEM half beside the ``GEMM`` of group g on the other), measured
on Verilator without bus pauses (sim/tb_core_overlap.py, the 4x4 configuration of
tests/test_core.py), next to ``golden.sparse_iteration``'s ``serial_cycles`` and
``overlapped_cycles`` of the same groups (``SCHEDULE`` cycles and blocks per group).

The measured figures run from the first command to the last ``READ_OMEM`` frame, so they also
hold the host's command writes, the token loads and the reads that the model leaves out.

    .venv/bin/python bench/bench_core_overlap.py [--groups N]    (~1 min, Verilator build)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from golden.sparse_iteration import overlapped_cycles, serial_cycles  # noqa: E402
from sim.runner import run_bench  # noqa: E402
from tests.test_core import CONFIGS  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", type=int, default=8, help="row groups (default 8)")
    p.add_argument("--kc", type=int, nargs="+", default=[8, 16],
                   help="lane chunks of K, one run each (default 8 16; at most the IMEM words)")
    args = p.parse_args(argv)
    cfg = CONFIGS["4x4"]
    if args.groups < 2:
        print(f"error: --groups = {args.groups} must be >= 2", file=sys.stderr)
        return 2
    bad = [kc for kc in args.kc if not 1 <= kc <= cfg.words("imem")]
    if bad:
        print(f"error: --kc = {bad[0]} is out of range [1, {cfg.words('imem')}]", file=sys.stderr)
        return 2
    reports = [run(cfg, args.groups, kc) for kc in args.kc]
    for rep in reports:
        show(cfg, rep)
    return 0


def run(cfg, groups: int, kc: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "overlap.json"
        env = {"EXION_OVERLAP_REPORT": str(report), "EXION_CORE_PAUSE": "0",
               "EXION_OVERLAP_GROUPS": str(groups), "EXION_OVERLAP_KC": str(kc)}
        run_bench(cfg, "core", "verilator", "sim.tb_core_overlap", extra_env=env)
        return json.loads(report.read_text())


def show(cfg, rep: dict) -> None:
    if rep["pause"]:
        print("warning: EXION_CORE_PAUSE is set in the environment: bus pauses were on",
              file=sys.stderr)
    g, k = rep["groups"], rep["k"]
    work = [(rep["schedule"], rep["blocks"])] * g
    model = {"serial": serial_cycles(work, k, cfg), "overlapped": overlapped_cycles(work, k, cfg)}
    print(f"\n# {cfg.rows} x {cfg.cols} core, {g} row groups of K = {k}, {rep['n_ch']} channels: "
          f"SCHEDULE {rep['schedule']} cycles, {rep['blocks']} blocks, GEMM "
          f"{rep['gemm']} cycles per group")
    head = f"{'order':<11} {'RTL wall':>9} {'model':>7} {'RTL / model':>11}"
    print(head)
    print("-" * len(head))
    for name in ("serial", "overlapped"):
        print(f"{name:<11} {rep[name]:>9} {model[name]:>7} {rep[name] / model[name]:>11.2f}")
    print(f"speedup of overlap: RTL {rep['serial'] / rep['overlapped']:.2f}x, "
          f"model {model['serial'] / model['overlapped']:.2f}x\n")


if __name__ == "__main__":
    sys.exit(main())
