"""Schedule reuse: ConMerge once per keep-mask, its SMEM contents reloaded in each sparse iteration.

FFN-Reuse (:mod:`golden.ffn_reuse`) builds a layer's FC1 keep-mask in the dense iteration and
keeps it for the ``cfg.ffn_reuse_n`` sparse iterations after it. The CAU's ConMerge vectors of
that mask therefore do not change either: the core schedules each row group once, in the
dense iteration (``SCHEDULE`` beside the dense GEMMs, ``STORE_SMEM`` of its blocks to memory),
and every sparse iteration reloads them (``LOAD_SMEM``) instead of running the CAU again.

:func:`core_iteration_reused` models one sparse FC1 iteration that way and the dense iteration
that produces the schedules, in the same terms as :func:`golden.sparse_iteration.
core_iteration` (the CAU rule of ``cfg``, row groups in token order, transfers at
``offchip_bytes_per_cycle``). Per row group ``g`` of a sparse iteration, on the load engine
``LOAD_SMEM`` (``L_g`` = its blocks' bytes over the bandwidth) then the gather of the group's
weight rows (``LOAD_WMEM MEM | GATHER``, ``F_g``), then the sparse ``GEMM`` (``n_g`` blocks),
two SMEM halves and two WMEM buffers::

    l_start[g] = max(f_end[g-1], b_free[g-2])     # load engine free; SMEM half, WMEM buffer free
    f_end[g]   = l_start[g] + L_g + F_g
    b_start[g] = max(f_end[g], b_free[g-1])
    b_free[g]  = b_start[g] + n_g * II
    total      = b_start[last] + compute_cycles(n_last, k)

The dense iteration (weights once when they fit one WMEM buffer, as ``core_iteration.dense``),
each group's dense ``FFN_MASK`` GEMM writing one of two mask-memory halves, the CAU scheduling
the group from that half and the read engine storing its blocks (``S_g`` = ``L_g``)::

    d_start[g] = max(d_free[g-1], a_end[g-2])      # the mask half read by SCHEDULE g-2 is free
    d_free[g]  = d_start[g] + blocks * II ;  t_g = d_start[g] + compute_cycles(blocks, k)
    a_end[g]   = max(a_end[g-1], t_g, s_end[g-2]) + A_g     # mask ready, SMEM half stored
    s_end[g]   = max(a_end[g], s_end[g-1]) + S_g
    total      = fetch + max(t_last, s_end[last])          (weights fetched once; else the
                                                             larger of that and the memory time)

See ``docs/cycle-model.md``, "Schedule reuse".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exion.config import ExionConfig
from exion.formats import block_words
from golden.cycle_model import compute_cycles, issue_interval
from golden.sparse_iteration import core_iteration, ideal_speedup

__all__ = ["smem_block_bytes", "reuse_pipeline_cycles", "dense_scheduled_cycles",
           "ReusedIteration", "core_iteration_reused"]


def smem_block_bytes(cfg: ExionConfig) -> int:
    """Bytes of one ConMerge vector in memory, the layout of ``STORE_SMEM`` / ``LOAD_SMEM``
    (:func:`exion.formats.block_words` whole bus words)."""
    return block_words(cfg) * cfg.bus_bytes


def reuse_pipeline_cycles(work, k: int, cfg: ExionConfig) -> int:
    """Cycles of a sparse iteration's groups ``(L_g, F_g, n_g)`` (``LOAD_SMEM`` cycles, gather
    cycles, blocks) through the load engine and the SDUE (module docstring). With every
    ``L_g`` = 0 it is the gathered pipeline with a CAU that costs nothing."""
    ii = issue_interval(k, cfg)
    f_end = end = 0
    b_free = [0, 0]                   # b_free[g-2], b_free[g-1]
    for ld, f, n in work:
        f_end = max(f_end, b_free[0]) + ld + f
        start = max(f_end, b_free[1])
        if n:
            end = start + compute_cycles(n, k, cfg)
        end = max(end, f_end)
        b_free = [b_free[1], start + n * ii]
    return end


def dense_scheduled_cycles(groups, dense_blocks: int, k: int, cfg: ExionConfig) -> int:
    """Cycles of the dense GEMMs of ``groups`` ``(A_g, S_g)`` (schedule cycles, store cycles)
    with each group's ``SCHEDULE`` and ``STORE_SMEM`` beside them (module docstring), weights
    on chip: ``max(t_last, s_end[last])``."""
    ii = issue_interval(k, cfg)
    d_free = a_end = s_end = t = 0
    a_hist = [0, 0]                   # a_end[g-2], a_end[g-1]
    s_hist = [0, 0]
    for a, s in groups:
        d_start = max(d_free, a_hist[0])
        d_free = d_start + dense_blocks * ii
        t = d_start + compute_cycles(dense_blocks, k, cfg)
        a_end = max(a_hist[1], t, s_hist[0]) + a
        s_end = max(a_end, s_hist[1]) + s
        a_hist, s_hist = [a_hist[1], a_end], [s_hist[1], s_end]
    return max(t, s_end)


@dataclass(frozen=True)
class ReusedIteration:
    """A sparse FC1 iteration with its schedule reloaded, and the dense iteration that made it.

    ``sparse``: cycles of the sparse iteration (``LOAD_SMEM`` + gather + sparse GEMM per
    group); ``cau_in_loop``: :attr:`golden.sparse_iteration.CoreIteration.gathered`, the same
    iteration with the CAU scheduling every group; ``dense``: the dense iteration without
    scheduling (``CoreIteration.dense``); ``dense_scheduled``: with every group's
    ``SCHEDULE`` and ``STORE_SMEM`` beside it; ``smem_bytes``: the blocks' bytes one way
    (stored once per mask, loaded once per sparse iteration); ``gather_bytes``: the gathered
    weight rows; ``min_bytes``: every needed weight row once."""

    sparsity: float
    blocks: int
    ideal_blocks: int
    sparse: int
    cau_in_loop: int
    dense: int
    dense_scheduled: int
    smem_bytes: int
    gather_bytes: int
    min_bytes: int
    reuse_n: int

    @property
    def ideal(self) -> float:
        """The ideal speedup ``1 / (1 - s)``."""
        return ideal_speedup(self.sparsity)

    @property
    def of_ideal(self) -> float:
        """``dense / sparse`` over the ideal: the issue's figure per sparse iteration."""
        return self.dense / self.sparse / self.ideal

    @property
    def period_speedup(self) -> float:
        """One FFN-Reuse period (the dense iteration and ``reuse_n`` sparse ones) against
        ``reuse_n + 1`` dense iterations: ``(n + 1) * dense / (dense_scheduled + n * sparse)``."""
        n = self.reuse_n
        return (n + 1) * self.dense / (self.dense_scheduled + n * self.sparse)


def core_iteration_reused(mask, k: int, cfg: ExionConfig) -> ReusedIteration:
    """:class:`ReusedIteration` of the FC1 GEMM ``(tokens x k) @ (k x channels)`` under
    ``mask`` on the core of ``cfg``."""
    mask = np.asarray(mask, dtype=bool)
    it = core_iteration(mask, k, cfg)
    bw = cfg.offchip_bytes_per_cycle
    vb = smem_block_bytes(cfg)
    # per group: LOAD_SMEM and the gather on the load engine, then the GEMM; in the dense
    # iteration the group's SCHEDULE and a STORE_SMEM as long as its LOAD_SMEM
    work = [(math.ceil(n * vb / bw), math.ceil(nb / bw), n) for _, nb, n in it.groups]
    groups = [(a, ld) for (a, _, _), (ld, _, _) in zip(it.groups, work)]
    beside = dense_scheduled_cycles(groups, -(-mask.shape[1] // cfg.cols), k, cfg)
    # the weights fetched once ahead of the dense GEMMs when they fit, else alongside
    dense_sched = it.dense - it.dense_compute + beside if it.weights_fit else max(beside, it.dense)
    return ReusedIteration(
        sparsity=it.sparsity, blocks=it.blocks, ideal_blocks=it.ideal_blocks,
        sparse=reuse_pipeline_cycles(work, k, cfg), cau_in_loop=it.gathered, dense=it.dense,
        dense_scheduled=max(dense_sched, it.dense), smem_bytes=it.blocks * vb,
        gather_bytes=it.gather_bytes, min_bytes=it.min_bytes, reuse_n=cfg.ffn_reuse_n)
