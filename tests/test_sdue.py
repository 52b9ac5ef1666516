"""SDUE with its memories (hw/sdue_top.py) against the golden model and the cycle model,
under Icarus and Verilator: random dense tiles, ConMerged blocks of random and structured
masks, all-one and all-zero masks, and operands at the most negative value."""

import json

import pytest

from exion.config import preset
from sim.runner import SIMULATORS, run_bench


def _case(strategy, tokens, channels, k, sparsity=0.0, mask="uniform", seed=1, shift=6,
          **extra):
    return dict(strategy=strategy, tokens=tokens, channels=channels, k=k, sparsity=sparsity,
                mask=mask, seed=seed, shift=shift, **extra)


def cases_for(cfg, full=True):
    """The small arrays run every case; the 16 x 16 one (about 270 cycles per second under
    Icarus, whatever it does) runs a subset; its saturation extremes are in tests/test_dpu.py."""
    r, c = cfg.rows, cfg.cols
    if not full:
        return [
            _case("dense", r, c + 3, 3 * cfg.lanes - 5, mask="ones", seed=11),
            _case("greedy", 2 * r - 3, 4 * c, 2 * cfg.lanes + 1, 0.9, "column", seed=12),
            _case("ffd", r, 4 * c, cfg.lanes, 0.95, "uniform", seed=15),
            _case("dense", r, c, 2 * cfg.lanes, mask="ones", seed=18, shift=16, extreme=True),
        ]
    return [
        _case("dense", r, 2 * c + 3, 3 * cfg.lanes - 5, mask="ones", seed=11),
        _case("greedy", 2 * r - 3, 6 * c, 2 * cfg.lanes + 1, 0.9, "column", seed=12),
        _case("greedy", r, 8 * c, cfg.lanes, 0.95, "uniform", seed=13),
        _case("condense", r, 4 * c, cfg.lanes + 3, 0.8, "uniform", seed=14, shift=0),
        _case("ffd", r, 6 * c, 2 * cfg.lanes, 0.9, "column", seed=15),
        _case("skip_zero_tiles", r, 3 * c, cfg.lanes, 0.97, "column", seed=16),
        _case("greedy", r, 2 * c, cfg.lanes, mask="zeros", seed=17),
        # Most negative operands, long enough for the accumulators to saturate.
        _case("dense", r, c + 1, 38 * cfg.lanes, mask="ones", seed=18, shift=20, extreme=True),
    ]


def extremes(cfg):
    """The reduction extremes, dense and ConMerged: K = 1, K = lanes, K = lanes * cols."""
    r, c, lanes = cfg.rows, cfg.cols, cfg.lanes
    return [
        _case("dense", r, 3 * c + 1, 1, mask="ones", seed=21),
        _case("greedy", r, 6 * c, 1, 0.85, "column", seed=22),
        _case("dense", r, 2 * c, lanes, mask="ones", seed=23),
        _case("ffd", 2 * r - 1, 6 * c, lanes, 0.9, "uniform", seed=24),
        _case("dense", r, 2 * c - 1, lanes * c, mask="ones", seed=25),
        _case("condense", r, 4 * c, lanes * c, 0.8, "column", seed=26, shift=10),
    ]


CONFIGS = {
    "exion": preset("exion"),
    "toy": preset("toy"),
    "4x4_m3": preset("exion", rows=4, cols=4, lanes=8, merge_degree=3, adder_stages=3,
                     wmem_bank_bytes=4608, drain_ports=1),
    # drain_ports > 1: two columns per cycle on an 8-column array (drain-bound at K = 1,
    # chunk-bound from K = 3 lanes), four per cycle with a pipeline that binds II instead
    # (with the operand stage: pipeline_depth 4).
    "4x8_d2": preset("exion", rows=4, cols=8, lanes=4, drain_ports=2, adder_stages=0),
    "4x8_d4": preset("exion", rows=3, cols=8, lanes=4, merge_degree=3, drain_ports=4,
                     operand_stages=1),
}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CONFIGS)
def test_sdue(sim, name):
    cfg = CONFIGS[name]
    cases = cases_for(cfg, full=name != "exion")
    if cfg.drain_ports > 1 and name != "exion":
        cases += extremes(cfg)
    if name == "exion" and sim == "icarus":
        # Icarus runs this array at tens of cycles per second while memories load: one dense
        # and one merged block (every ConMerge case also runs under Verilator just above).
        cases = [dict(cases[0], channels=cfg.cols + 3, k=cfg.lanes)]
    run_bench(cfg, "sdue_top", sim, "sim.tb_sdue",
              extra_env={"EXION_SDUE_CASES": json.dumps(cases)})
