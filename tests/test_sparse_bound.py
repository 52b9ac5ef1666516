"""golden/sparse_bound.py: the floors hold against every loop order and rule the models have
(a floor above a measured time or block count fails here), and the limit's arithmetic."""

import numpy as np
import pytest

from exion.config import ExionConfig, preset
from golden import conmerge
from golden.conmerge_rules import FITS, crossbar_group, resident_class
from golden.sparse_bound import (imem_bank_bytes_for, iteration_bound, operand_bytes,
                                 resident_blocks_bound, stationary_bytes)
from golden.sparse_iteration import core_iteration
from golden.sparse_resident import dense_window_cycles, resident_iteration, resident_window

CFG = ExionConfig(rows=4, cols=4, lanes=4, merge_degree=2, cau_window=2)


def masks(seed, m=32, n=96, count=4):
    """Seeded masks of whole row groups and column tiles (the ideal ``dense * (1 - s)`` is a
    floor only then) from near empty to near dense, plus the extremes."""
    rng = np.random.default_rng(seed)
    out = [rng.random((m, n)) < p for p in np.linspace(0.05, 0.9, count)]
    # column-sparse: whole channels off, the rest dense within some groups
    col = rng.random((m, n)) < 0.5
    col[:, rng.random(n) < 0.6] = False
    out += [col, np.zeros((m, n), bool), np.ones((m, n), bool)]
    return out


@pytest.mark.parametrize("degree, window, fit", [(2, 1, 0), (2, 4, 1), (3, 2, 0), (4, 8, 1)])
@pytest.mark.parametrize("bw", [2.0, 16.0, 1024.0])
def test_floors_hold(degree, window, fit, bw):
    cfg = CFG.replace(merge_degree=degree, cau_window=window, cau_fit=fit,
                      offchip_bytes_per_cycle=bw)
    k = 24
    for mk in masks(degree * 100 + window):
        b = iteration_bound(mk, k, cfg)
        res = resident_iteration(mk, k, cfg)
        core = core_iteration(mk, k, cfg)
        assert res.cycles >= b.sparse_bound
        # core_iteration's gather order counts the weight rows it gathers (not the tokens)
        assert core.gathered >= max(b.ideal_compute, b.needed_weight_bytes / bw)
        assert core.compute >= b.ideal_compute
        assert core.dense >= b.dense_bound - b.token_bytes / bw
        assert dense_window_cycles(*mk.shape, k, cfg)[0] >= b.dense_bound
        assert res.offchip_bytes >= b.sparse_bytes
        assert core.blocks >= b.degree_blocks >= b.ideal_blocks
        for strategy in ("greedy", "ffd", "bestfit"):
            sched = conmerge.schedule(mk, cfg, strategy, token_sort="none")
            assert len(sched.blocks) >= b.degree_blocks
        xb = resident_iteration(mk, k, cfg, rule="crossbar")
        assert xb.blocks >= resident_blocks_bound(mk, cfg, res.window, crossbar=True)
        assert xb.offchip_bytes == res.offchip_bytes
        assert res.blocks >= resident_blocks_bound(mk, cfg, res.window) >= \
            resident_blocks_bound(mk, cfg, res.window, crossbar=True) >= res.ideal_blocks \
            or not mk.any()


def test_resident_bound_is_tight_somewhere():
    """The resident floor is reached by the resident rule on some mask (it is not slack
    everywhere), and a mask whose needed channels all share one class needs one block each."""
    cfg = CFG.replace(cau_window=8, cau_fit=1)
    w = resident_window(24, cfg)
    hits = sum(resident_iteration(mk, 24, cfg).blocks == resident_blocks_bound(mk, cfg, w)
               for mk in masks(7, count=8))
    assert hits >= 1
    mk = np.zeros((4, 64), bool)
    classes = cfg.cols * cfg.merge_degree
    mk[0, ::classes] = True                     # channels 0, 8, 16, ...: one class
    assert resident_blocks_bound(mk, cfg, 64) == 64 // classes
    assert resident_iteration(mk, 24, cfg, 64).blocks == 64 // classes


def test_limit_and_bandwidth_for():
    cfg = preset("exion")
    rng = np.random.default_rng(3)
    mk = rng.random((64, 512)) < 0.2
    b = iteration_bound(mk, 128, cfg)
    assert 0 < b.limit <= 1
    need = b.bandwidth_for(0.6)
    assert need > cfg.offchip_bytes_per_cycle
    at = iteration_bound(mk, 128, cfg.replace(offchip_bytes_per_cycle=need))
    below = iteration_bound(mk, 128, cfg.replace(offchip_bytes_per_cycle=need * 0.99))
    assert at.limit >= 0.6 - 1e-9 > below.limit
    assert iteration_bound(mk, 128, cfg.replace(offchip_bytes_per_cycle=1e6)).limit == \
        pytest.approx(1.0)
    # every channel needed by every token: dense = sparse, both memory-bound
    full = np.ones((64, 512), bool)
    assert iteration_bound(full, 128, cfg).limit == pytest.approx(1.0)
    assert iteration_bound(full, 128, cfg).bandwidth_for(0.6) == 0.0
    with pytest.raises(ValueError, match="share"):
        b.bandwidth_for(0)


def test_stationary_bytes():
    cfg = preset("exion")
    rng = np.random.default_rng(5)
    mk = rng.random((256, 1024)) < 0.2
    k = 1152
    least = iteration_bound(mk, k, cfg).sparse_bytes
    ws, ts = stationary_bytes(mk, k, cfg)
    assert ws > least and ts > least              # neither operand fits at K 1152
    big = cfg.replace(imem_bank_bytes=imem_bank_bytes_for(256, k, cfg))
    assert stationary_bytes(mk, k, big)[1] == least
    one_less = cfg.replace(imem_bank_bytes=imem_bank_bytes_for(256, k, cfg) - 24)
    assert stationary_bytes(mk, k, one_less)[1] > least
    # weights that fit (K 64): the weights-stationary order moves the minimum
    assert stationary_bytes(mk, 64, cfg)[0] == iteration_bound(mk, 64, cfg).sparse_bytes
    row_b, tok_b = operand_bytes(k, cfg)
    assert row_b % cfg.bus_bytes == 0 and tok_b == 72 * 24


@pytest.mark.parametrize("degree, window, fit", [(2, 1, 0), (2, 4, 1), (3, 2, 1), (4, 8, 0)])
def test_crossbar_group_places_every_channel_legally(degree, window, fit):
    """The crossbar rule (a design not built): every channel once, at most one channel of a
    class per block (one word per RAM a cycle), at most ``degree`` streams per slot, each
    stream once, the cvs of a slot disjoint."""
    cols, rows = 4, 4
    rng = np.random.default_rng(degree * 10 + window)
    for density in (0.1, 0.3, 0.6, 1.0):
        chs = sorted(rng.choice(64, size=int(rng.integers(1, 64)), replace=False).tolist())
        cvs = [int(rng.integers(1, 1 << rows)) if density == 1.0 else
               int(sum(1 << r for r in range(rows) if rng.random() < density)) or 1
               for _ in chs]
        n, rb, rs, rd = crossbar_group(chs, cvs, cols, degree, window, FITS[fit])
        assert len(rb) == len(chs) and n == max(rb) + 1
        seen = {}
        for j, cv, b, slot, d in zip(chs, cvs, rb, rs, rd):
            c, dd = resident_class(j, cols, degree)
            assert (b, "class", c * degree + dd) not in seen
            seen[(b, "class", c * degree + dd)] = j
            assert 0 <= d < degree and (b, slot, d) not in seen
            seen[(b, slot, d)] = cv
        for (b, slot, d), cv in [(key, v) for key, v in seen.items() if key[1] != "class"]:
            for e in range(d):
                assert not cv & seen[(b, slot, e)]
