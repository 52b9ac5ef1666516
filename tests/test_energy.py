"""The energy model (golden/energy.py), its action counts (golden/energy_counts.py) and the
GPU roofline (golden/gpu_roofline.py). numpy only; no RTL."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from exion import energy_table as T
from exion.config import preset
from golden import conmerge
from golden.cycle_model import PREDICT_OVERHEAD
from golden.energy import (ActionCounts, EnergyError, EnergyModel, NODE_RANGE, VDD_RANGE,
                           dpu_ff_bits, energy, energy_scale, stillmaker, unit_transistors)
from golden.energy_counts import (cfse_counts, dense_gemm_counts, dit_block_counts,
                                  ffn_dense_iteration_counts, ffn_sparse_iteration_counts,
                                  predict_counts, schedule_counts)
from golden.gpu_roofline import Gemm, dit_block_gemms, roofline
from hw.dpu import tree_register_levels

CFG = preset("exion")
AT_HOROWITZ = EnergyModel(node_nm=45, vdd=0.9)


def test_published_points_come_back_at_their_own_node():
    """At 45 nm / 0.9 V the primitives return Horowitz's figures unchanged."""
    m = AT_HOROWITZ
    assert m.add(8) == pytest.approx(0.03) and m.add(32) == pytest.approx(0.1)
    assert m.mult(8) == pytest.approx(0.2) and m.mult(32) == pytest.approx(3.1)
    assert m.sram_read(64, 8 << 10) == pytest.approx(10.0)
    assert m.sram_read(64, 32 << 10) == pytest.approx(20.0)  # the sqrt fit hits 32 KB
    assert m.sram_read(64, 1 << 20) == pytest.approx(100.0, rel=0.15)  # and 1 MB within 15 %
    assert m.sram_write(64, 8 << 10) == pytest.approx(10.0 * T.SRAM_WRITE_RATIO)
    assert EnergyModel(memory="hbm2").dram_byte() == pytest.approx(8 * 3.97)
    assert EnergyModel(memory="lpddr4").dram_byte() == pytest.approx(112.0)


def test_scaling_matches_the_derived_anchors():
    """anchors.md: with Stillmaker & Baas at 0.8 V, x0.51 from 45 to 28 nm, x0.139 to 14 nm."""
    assert energy_scale(45, 0.8, 14, 0.8) == pytest.approx(0.139, abs=0.001)
    assert energy_scale(45, 0.8, 28, 0.8) == pytest.approx(0.51, abs=0.01)
    assert energy_scale(14, 0.8, 14, 0.8) == 1.0


@pytest.mark.parametrize("vdd", [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2])
def test_node_scaling_is_monotone(vdd):
    nodes = np.linspace(NODE_RANGE[0], NODE_RANGE[1], 247)
    e = [stillmaker(float(n), vdd) for n in nodes]
    assert all(b > a > 0 for a, b in zip(e, e[1:])), "energy must grow with the node"


def test_every_action_scales_with_node_and_supply():
    small, big = EnergyModel(node_nm=7), EnergyModel(node_nm=45)
    t7, t45 = small.action_table(CFG), big.action_table(CFG)
    for key in t7:
        if key == ("offchip", "byte"):
            assert t7[key] == t45[key]  # DRAM is not built in the core's process
        else:
            assert 0 < t7[key] < t45[key], key
    lo, hi = EnergyModel(vdd=0.6), EnergyModel(vdd=1.0)
    assert lo.mult(12) < hi.mult(12)
    assert small.leak_per_transistor_w() < big.leak_per_transistor_w()


def test_known_counts_give_known_energy():
    m = EnergyModel()
    t = m.action_table(CFG)
    c = ActionCounts(cycles=0).add("dpu", "mult", 1000).add("imem", "read", 7)
    c = c + ActionCounts().add("offchip", "byte", 3).add("dpu", "mult", 24)
    r = energy(c, CFG, m)
    expect = 1024 * t[("dpu", "mult")] + 7 * t[("imem", "read")] + 3 * t[("offchip", "byte")]
    assert r.total_pj == pytest.approx(expect)
    assert r.leakage_pj == 0
    assert r.by_component()["dpu"] == pytest.approx(1024 * t[("dpu", "mult")])
    doubled = energy(c * 2, CFG, m)
    assert doubled.total_pj == pytest.approx(2 * expect)


def test_idle_unit_costs_only_leakage():
    m = EnergyModel()
    tr = {"dpu": 1_000_000, "wmem": 2_000_000}
    r = energy(ActionCounts(cycles=800), CFG, m, tr)  # 1 us at 800 MHz, no action
    assert r.dynamic_pj == 0
    p = m.leak_per_transistor_w()
    assert r.leakage["dpu"] == pytest.approx(1e6 * p * 1e-6 * 1e12)
    assert r.leakage["wmem"] == pytest.approx(2 * r.leakage["dpu"])
    assert energy(ActionCounts(cycles=0), CFG, m, tr).total_pj == 0


def test_leakage_reference_is_consistent():
    """Aladdin's adder and multiplier give leakage per transistor within 20 % of each other."""
    per = [r.pj / r.width for _, r in T.LEAK_REFS]
    assert max(per) / min(per) < 1.2


def test_transistors_from_a_synth_report():
    units = {"dpu": {"asic": {"total_tr": 10}}, "imem": 5}
    assert unit_transistors(units) == {"dpu": 10.0, "imem": 5.0}
    with pytest.raises(EnergyError, match=r"transistors of unit 'dpu' = -1"):
        unit_transistors({"dpu": -1})


@pytest.mark.parametrize("kw, text", [
    ({"node_nm": 3}, r"node_nm = 3 is out of range \[7.0, 130.0\]"),
    ({"node_nm": 200.0}, r"node_nm = 200.0 is out of range \[7.0, 130.0\]"),
    ({"vdd": 1.5}, r"vdd = 1.5 is out of range \[0.5, 1.2\]"),
    ({"vdd": float("nan")}, r"vdd must be a number in \[0.5, 1.2\], not nan"),
    ({"vdd": "0.8"}, r"vdd must be a number"),
    ({"memory": "ddr9"}, r"memory = 'ddr9' is not one of hbm2, gddr5, gddr6, lpddr4"),
])
def test_bad_model_parameters(kw, text):
    with pytest.raises(EnergyError, match=text):
        EnergyModel(**kw)


def test_bad_counts_and_actions():
    with pytest.raises(EnergyError, match=r"count of dpu.mult = -1 is out of range"):
        ActionCounts().add("dpu", "mult", -1)
    with pytest.raises(EnergyError, match=r"count of dpu.mult = nan is out of range"):
        ActionCounts().add("dpu", "mult", float("nan"))
    with pytest.raises(EnergyError, match=r"scale factor = -2 is out of range \[0, inf\)"):
        ActionCounts() * -2
    with pytest.raises(EnergyError, match=r"action dpu.divide is not one of"):
        energy(ActionCounts().add("dpu", "divide", 1), CFG)
    with pytest.raises(EnergyError, match=r"queries = 0 is out of range \[1, inf\)"):
        predict_counts(0, 64, 32, CFG)
    with pytest.raises(EnergyError, match=r"op = 'tanh' is not one of gelu"):
        cfse_counts("tanh", 4, CFG)
    assert (VDD_RANGE, NODE_RANGE) == ((0.5, 1.2), (7.0, 130.0))


@pytest.mark.parametrize("lanes, stages", [(16, 0), (16, 1), (16, 2), (8, 3), (4, 1), (1, 0)])
def test_dpu_register_bits_follow_the_rtl(lanes, stages):
    cfg = preset("exion", lanes=lanes, adder_stages=stages)
    expect = cfg.acc_width + sum((lanes >> lev) * (cfg.product_width + lev) + 2
                                 for lev in tree_register_levels(cfg))
    assert dpu_ff_bits(cfg) == expect
    assert dpu_ff_bits(CFG) == 234  # the synthesized 16x16 DPU's flip-flops (make synth)


@pytest.mark.parametrize("kw", [{}, {"operand_stages": 1}, {"lanes": 4, "adder_stages": 2},
                                {"lanes": 4, "merge_degree": 3, "adder_stages": 2,
                                 "operand_stages": 1},
                                {"lanes": 1, "adder_stages": 0, "operand_stages": 1}], ids=str)
def test_dpu_register_bits_match_the_elaborated_dpu(kw):
    # The flip-flop bits of hw/dpu.py's RTLIL (no synthesis): the operand register included.
    from amaranth.back import rtlil

    from hw.dpu import Dpu
    cfg = preset("exion", **kw)
    text = rtlil.convert(Dpu(cfg))
    cells = re.findall(r"cell \$a?dff\w* .*?\n\s*end\b", text, re.S)
    assert cells
    bits = sum(int(re.search(r"parameter \\WIDTH (\d+)", c).group(1)) for c in cells)
    assert dpu_ff_bits(cfg) == bits
    if cfg.operand_stages:
        base = cfg.replace(operand_stages=0)
        assert bits - dpu_ff_bits(base) == 2 * cfg.lanes * cfg.data_width + 2


def test_dense_gemm_counts():
    c, rep = dense_gemm_counts(20, 40, 35, CFG)
    # K = 40 runs as 3 chunks of 16 lanes; 2 row groups x 3 column blocks of 16 channels,
    # each reading every IMEM / WMEM bank per chunk and SMEM once (the RTL's activity)
    assert c.counts[("dpu", "mult")] == 20 * 48 * 35
    assert c.counts[("omem", "write")] == 20 * 35
    assert c.counts[("imem", "read")] == 16 * 3 * 6 == c.counts[("wmem", "read")]
    assert c.counts[("offchip", "byte")] == rep.offchip_bytes
    assert c.counts[("smem", "read")] == 6 and c.cycles == rep.total_cycles
    d, _ = ffn_dense_iteration_counts(20, 40, 35, CFG)
    assert d.counts[("ffn_mask", "compare")] == 20 * 35
    assert d.counts[("mask", "write")] == 2 * 35  # two row groups of 16 tokens
    with pytest.raises(EnergyError, match=r"k = 0 is out of range"):
        dense_gemm_counts(4, 0, 4, CFG)


def test_sparse_iteration_costs_less_than_dense():
    mask = conmerge.synthetic_mask(64, 512, 0.8, "uniform", seed=3)
    sparse, rep = ffn_sparse_iteration_counts(mask, 128, CFG)
    dense, _ = ffn_dense_iteration_counts(64, 128, 512, CFG)
    assert sparse.counts[("dpu", "mult")] == int(mask.sum()) * 128
    assert sparse.counts[("smem", "write")] == rep.blocks == sparse.counts[("smem", "read")]
    assert sparse.counts[("cau", "cycle")] > 0
    m = EnergyModel()
    assert energy(sparse, CFG, m).by_component()["dpu"] < energy(dense, CFG, m).by_component()["dpu"]


def test_predict_counts():
    c = predict_counts(64, 64, 32, CFG)
    assert c.counts[("predictor", "lane_op")] == 64 * 64 * 32
    assert c.counts[("selector", "key")] == 64 * 64
    # four row groups of PREDICT, kc = 2: keys x kc + the overhead + one mask beat per 8 keys
    assert c.cycles == 4 * (64 * 2 + PREDICT_OVERHEAD + 8)
    p = predict_counts(64, 64, 32, CFG, d_model=128)
    assert p.counts[("predictor", "lane_op")] == 64 * 64 * 32 + 2 * 64 * 32 * 128
    assert cfse_counts("gelu", 33, CFG).cycles == 3


def test_roofline():
    g = Gemm("fc1", 256, 1152, 4608)
    r = roofline("rtx6000-ada", g)
    t_c = 2 * 256 * 1152 * 4608 / 91.1e12
    t_m = (256 * 1152 + 1152 * 4608 + 256 * 4608) * 2 / 960e9
    assert r.time_s == pytest.approx(max(t_c, t_m)) and r.energy_j == pytest.approx(300 * r.time_s)
    assert r.bound == ("compute" if t_c >= t_m else "memory")
    half = roofline("rtx6000-ada", g, efficiency=0.5)
    assert half.time_s >= r.time_s
    gemms = dit_block_gemms("dit-xl/2")
    assert sum(x.macs for x in gemms) == 256 * 1152 * (3 * 1152 + 1152 + 2 * 4608) \
        + 2 * 256 * 256 * 1152
    assert math.isfinite(roofline("orin-nano", gemms).intensity)
    with pytest.raises(ValueError, match=r"efficiency = 0 is out of range \(0, 1\]"):
        roofline("orin-nano", g, efficiency=0)
    with pytest.raises(ValueError, match=r"gpu = 'h100' is not one of orin-nano, rtx6000-ada"):
        roofline("h100", g)


def test_dit_block_counts_cover_every_gemm():
    parts = dit_block_counts("dit-digits", CFG)
    macs = sum(c.counts.get(("dpu", "mult"), 0) for c in parts.values())
    assert macs == sum(g.macs for g in dit_block_gemms("dit-digits"))
    assert parts["qk"].counts[("dpu", "mult")] == 4 * 64 * 32 * 64  # four heads
    assert parts["cfse"].counts[("cfse", "gelu")] == 64 * 512
    assert set(parts) == {"qkv", "qk", "av", "proj", "fc1", "fc2", "cfse"}


def test_schedule_counts_follow_the_cau_window():
    # a CAU with W open blocks flushes min(W, blocks) of them at a group's end: the CAU's
    # cycles and the SCHEDULE cycles grow by exactly that over the greedy CAU
    rng = np.random.default_rng(3)
    mask = rng.random((8, 200)) < 0.4
    base = preset("toy", merge_degree=2)
    wide = base.replace(cau_window=3, cau_sort=1)
    c1 = schedule_counts(conmerge.cau_schedule(mask, base), mask)
    c3 = schedule_counts(conmerge.cau_schedule(mask, wide), mask)
    blocks = len(conmerge.cau_schedule(mask, wide).blocks)   # one group of 8 tokens
    extra = min(3, blocks) - 1
    assert blocks > 3 and extra == 2
    assert c3.counts[("cau", "cycle")] == c1.counts[("cau", "cycle")] + extra
    assert c3.cycles == c1.cycles + extra
