"""golden/schedule_reuse.py: a sparse iteration with its ConMerge vectors reloaded (LOAD_SMEM)
instead of scheduled, and the dense iteration that schedules and stores them."""

import math

import numpy as np
import pytest

from exion.config import ExionConfig
from exion.formats import block_bits
from golden.cycle_model import compute_cycles, gemm_sequence_cycles
from golden.schedule_reuse import (core_iteration_reused, dense_scheduled_cycles,
                                   reuse_pipeline_cycles, smem_block_bytes)
from golden.sparse_bound import iteration_bound
from golden.sparse_iteration import fetch_pipeline_cycles

CFG = ExionConfig(rows=4, cols=4, lanes=4, merge_degree=2, cau_window=2)


def masks(seed, m=32, n=96):
    rng = np.random.default_rng(seed)
    out = [rng.random((m, n)) < p for p in (0.05, 0.2, 0.5, 0.9)]
    return out + [np.zeros((m, n), bool), np.ones((m, n), bool)]


@pytest.mark.parametrize("cfg", [CFG, CFG.replace(rows=8, cols=3, merge_degree=4, bus_width=64)])
def test_block_bytes_whole_bus_words(cfg):
    vb = smem_block_bytes(cfg)
    assert vb % cfg.bus_bytes == 0
    assert vb * 8 >= block_bits(cfg) > (vb - cfg.bus_bytes) * 8


def test_pipeline_edges():
    k = 20
    rng = np.random.default_rng(1)
    work = [(0, int(f), int(n)) for f, n in rng.integers(0, 40, (7, 2))]
    # no LOAD_SMEM: the gathered pipeline with a CAU of no cycles
    assert reuse_pipeline_cycles(work, k, CFG) == fetch_pipeline_cycles(work, k, CFG)
    # one group: everything in series
    assert reuse_pipeline_cycles([(3, 11, 5)], k, CFG) == 3 + 11 + compute_cycles(5, k, CFG)
    assert reuse_pipeline_cycles([(3, 11, 0)], k, CFG) == 14
    # loads that cost nothing: the GEMMs back to back
    free = [(0, 0, n) for _, _, n in work]
    assert reuse_pipeline_cycles(free, k, CFG) == gemm_sequence_cycles(
        [(n, k) for _, _, n in free if n], CFG)
    # the load engine binds: every group waits for its loads
    slow = [(50, 200, 1)] * 4
    assert reuse_pipeline_cycles(slow, k, CFG) == 4 * 250 + compute_cycles(1, k, CFG)


def test_dense_scheduled_edges():
    k, blocks = 20, 6
    free = [(0, 0)] * 5
    assert dense_scheduled_cycles(free, blocks, k, CFG) == gemm_sequence_cycles(
        [(blocks, k)] * 5, CFG)
    # a slow CAU stalls the dense GEMMs on the mask halves: group g + 2 waits for SCHEDULE g
    slow = [(1000, 10)] * 4
    t0 = compute_cycles(blocks, k, CFG)
    assert dense_scheduled_cycles(slow, blocks, k, CFG) == t0 + 4 * 1000 + 10


@pytest.mark.parametrize("bw", [4.0, 64.0, 4096.0])
@pytest.mark.parametrize("degree, window", [(2, 1), (4, 4)])
def test_iteration(bw, degree, window):
    cfg = CFG.replace(merge_degree=degree, cau_window=window, cau_fit=1,
                      offchip_bytes_per_cycle=bw)
    k = 24
    for seed, mk in enumerate(masks(degree * 10 + window)):
        r = core_iteration_reused(mk, k, cfg)
        floor = iteration_bound(mk, k, cfg)
        assert r.sparse >= floor.sparse_bound - 1e-9
        assert r.dense_scheduled >= r.dense
        assert r.smem_bytes == r.blocks * smem_block_bytes(cfg)
        n = cfg.ffn_reuse_n
        assert r.period_speedup == pytest.approx(
            (n + 1) * r.dense / (r.dense_scheduled + n * r.sparse))
        if not mk.any():
            assert r.blocks == 0 and r.smem_bytes == 0
    # with memory to spare, reloading beats rescheduling wherever the CAU was in the loop
    fast = CFG.replace(merge_degree=degree, cau_window=window, offchip_bytes_per_cycle=1e6)
    mk = masks(5)[2]
    r = core_iteration_reused(mk, k, fast)
    assert r.sparse <= r.cau_in_loop
    assert r.sparse < r.cau_in_loop or r.blocks == 0
    assert math.isfinite(r.of_ideal) and r.of_ideal > 0
