"""Whole sparse iterations: ConMerge overlapped with compute, and loop orders for big weights.

A sparse GEMM ``(M x K) @ (K x N)`` under an output keep-mask runs row group by row group:
per group the CAU schedules the group's mask (``SCHEDULE``, :func:`golden.cycle_model.
schedule_cycles`) and the SDUE computes the group's blocks (``II`` cycles each,
:func:`golden.cycle_model.issue_interval`). See ``docs/cycle-model.md``, "Sparse iterations".

``serial``
    Today's core: ``SCHEDULE`` and ``GEMM`` share the schedule memory (SMEM), so each group's
    ``SCHEDULE`` waits for the previous group's GEMM and the GEMM for its ``SCHEDULE``:
    ``sum(schedule_g + compute_cycles(blocks_g, K))``.
``overlapped``
    SMEM and the mask memory double-buffered: the CAU schedules group ``g + 1`` into one half
    while the SDUE runs group ``g`` from the other, a two-stage pipeline whose steady state is
    ``max(SDUE, CAU)`` per group (:func:`overlapped_cycles`).

Loop orders (:func:`loop_order`) for weights that do not fit WMEM: per row group over all
channels (full merge freedom, weights re-fetched for every group) against per channel window
(the window's weights resident in one WMEM buffer while every group passes, merging only
within the window, activations re-fetched per window). The resident weight layout and its loop
order are in :mod:`golden.sparse_resident`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from golden import conmerge
from golden.core_gather import gather_bytes
from golden.core_mem import item_bytes
from golden.cycle_model import (compute_cycles, gemm_sequence_cycles, issue_interval,
                                schedule_cycles)

__all__ = ["group_work", "serial_cycles", "overlapped_cycles", "dense_cycles",
           "IterationReport", "iteration", "LoopOrderReport", "loop_order",
           "window_capacity", "fetch_pipeline_cycles", "CoreIteration", "core_iteration",
           "ideal_speedup"]


def group_work(mask, cfg: ExionConfig, *, strategy: str = "cau",
               token_sort: str | None = "none") -> list[tuple[int, int]]:
    """``(schedule cycles, blocks)`` per row group of ``mask`` (tokens x channels).

    ``strategy`` ``"cau"``: the CAU rule of ``cfg`` (:func:`golden.conmerge.cau_schedule`);
    any other :data:`golden.conmerge.STRATEGIES` name gives its blocks with the CAU's
    ``SCHEDULE`` cycles (a host-side scheduler that the CAU's time stands in for)."""
    mask = np.asarray(mask, dtype=bool)
    if strategy == "cau":
        sched = conmerge.cau_schedule(mask, cfg, token_sort=token_sort)
    else:
        sched = conmerge.schedule(mask, cfg, strategy, token_sort=token_sort)
    gm = conmerge.group_masks(mask, sched.token_order, cfg.rows)
    blocks = np.zeros(gm.shape[0], np.int64)
    for b in sched.blocks:
        blocks[b.group] += 1
    return [(schedule_cycles(conmerge.conflict_vectors(gm[g]).tolist(), CAU_BEAT, cfg),
             int(blocks[g])) for g in range(gm.shape[0])]


def serial_cycles(work, k: int, cfg: ExionConfig) -> int:
    """Cycles of the groups' ``SCHEDULE`` + ``GEMM`` pairs one after the other (today's core):
    ``sum(schedule + compute_cycles(blocks, k))``."""
    return sum(s + compute_cycles(b, k, cfg) for s, b in work)


def overlapped_cycles(work, k: int, cfg: ExionConfig) -> int:
    """Cycles of the groups with the CAU one group ahead of the SDUE (two SMEM halves).

    ``A_g`` = schedule cycles, ``n_g`` = blocks, ``II`` = :func:`issue_interval`::

        a_end[g]   = max(a_end[g-1], b_free[g-2]) + A_g      # its SMEM half is free again
        b_start[g] = max(a_end[g], b_free[g-1])              # schedule ready, SDUE free
        b_free[g]  = b_start[g] + n_g * II                   # last block issued: half free
        total      = b_start[last] + compute_cycles(n_last, k)   (last group with blocks)

    Blocks of consecutive groups issue back to back (the execute engine's prefetch,
    :func:`golden.cycle_model.gemm_sequence_cycles`); the pipeline tail of a group's last
    block overlaps the next group's. With one group (or ``A_g`` = 0) it is the serial time
    of that group; in the steady state each group costs ``max(A_{g+1}, n_g * II)``.
    """
    ii = issue_interval(k, cfg)
    a_end = 0
    b_free = [0, 0]                  # b_free[g-2], b_free[g-1]
    end = 0
    for a, n in work:
        a_end = max(a_end, b_free[0]) + a
        start = max(a_end, b_free[1])
        free = start + n * ii
        if n:
            end = start + compute_cycles(n, k, cfg)
        end = max(end, a_end)
        b_free = [b_free[1], free]
    return end


def dense_cycles(tokens: int, channels: int, k: int, cfg: ExionConfig) -> int:
    """The dense GEMM's SDUE cycles: every group's ``ceil(channels / cols)`` blocks, the
    groups' GEMMs back to back (:func:`golden.cycle_model.gemm_sequence_cycles`)."""
    groups = -(-tokens // cfg.rows)
    return gemm_sequence_cycles([(-(-channels // cfg.cols), k)] * groups, cfg)


@dataclass(frozen=True)
class IterationReport:
    """SDUE-side cycles of one sparse iteration's GEMM against its dense one."""

    sparsity: float
    blocks: int
    sdue: int           # the groups' GEMMs back to back, no SCHEDULE
    cau: int            # the groups' SCHEDULEs back to back
    serial: int
    overlapped: int
    steady: int         # sum over groups of max(SCHEDULE, blocks * II): no fill, no drain
    dense: int

    @property
    def ideal(self) -> float:
        """``dense * (1 - sparsity)``: the ideal ``1 / (1 - s)`` speedup."""
        return self.dense * (1.0 - self.sparsity)


def iteration(mask, k: int, cfg: ExionConfig, *, strategy: str = "cau",
              token_sort: str | None = "none") -> IterationReport:
    """:class:`IterationReport` of the GEMM ``(tokens x k) @ (k x channels)`` under ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    work = group_work(mask, cfg, strategy=strategy, token_sort=token_sort)
    return IterationReport(
        sparsity=1.0 - float(mask.mean()) if mask.size else 0.0,
        blocks=sum(b for _, b in work),
        sdue=gemm_sequence_cycles([(b, k) for _, b in work], cfg),
        cau=sum(s for s, _ in work),
        serial=serial_cycles(work, k, cfg), overlapped=overlapped_cycles(work, k, cfg),
        steady=sum(max(a, n * issue_interval(k, cfg)) for a, n in work),
        dense=dense_cycles(mask.shape[0], mask.shape[1], k, cfg))


# -- loop orders for weights that do not fit WMEM -------------------------------------------

def window_capacity(k: int, cfg: ExionConfig) -> int:
    """Channels whose ``k`` weights fit one WMEM buffer of all banks:
    ``floor(wmem_bank_bytes * cols * 8 / (k * data_width))`` (what ``golden.cycle_model.
    evaluate`` calls resident)."""
    return cfg.wmem_bank_bytes * cfg.cols * 8 // (k * cfg.data_width)


@dataclass(frozen=True)
class LoopOrderReport:
    """One loop order of a sparse (or dense) GEMM: blocks, cycles and off-chip bytes."""

    window: int          # channels per window (= all channels: per row group)
    resident: bool       # a window's weights stay in WMEM while every group passes
    blocks: int
    ideal_blocks: int    # ceil(outputs / dpus) per row group over all channels, summed
    compute: int         # SDUE cycles, every (window, group) GEMM back to back
    cau: int             # SCHEDULE cycles, every (window, group)
    weight_bytes: int
    act_bytes: int
    out_bytes: int
    memory: int          # ceil(bytes / offchip_bytes_per_cycle)
    pipeline: int = 0    # overlapped_cycles over every (window, group): CAU one group ahead
    min_bytes: int = 0   # every needed weight, token and output moved once

    @property
    def iteration(self) -> int:
        """``max(pipeline, memory)``: the CAU / SDUE pipeline with its fill and drain
        (:func:`overlapped_cycles`), transfers overlapped with it (double / triple buffering)."""
        return max(self.pipeline, self.memory)

    @property
    def bytes_ratio(self) -> float:
        """Off-chip bytes over :attr:`min_bytes`."""
        return self.offchip_bytes / self.min_bytes if self.min_bytes else 1.0

    @property
    def total(self) -> int:
        """``max(compute, cau, memory)``: SCHEDULE overlapped with compute (two SMEM halves)
        and transfers with both (double / triple buffering)."""
        return max(self.compute, self.cau, self.memory)

    @property
    def efficiency(self) -> float:
        return self.ideal_blocks / self.blocks if self.blocks else 1.0

    @property
    def offchip_bytes(self) -> int:
        return self.weight_bytes + self.act_bytes + self.out_bytes


def loop_order(mask, k: int, cfg: ExionConfig, window: int | None = None, *,
               strategy: str = "cau", token_sort: str | None = "none") -> LoopOrderReport:
    """Model the GEMM ``(tokens x k) @ (k x channels)`` under ``mask`` in one loop order.

    ``window`` channels per window (``None`` or >= channels: one window, the per-row-group
    order). Outer loop over windows, inner over row groups; each (window, group) is scheduled
    on its own (``strategy`` ``"dense"``: every tile of the window, else merged within the
    window). Weights: a window that fits one WMEM buffer (:func:`window_capacity`) is fetched
    once, the channels some group needs; else each group fetches the window channels it needs.
    Activations: every real token of a group with blocks, ``k`` values, once per window.
    Outputs: the mask's ``True`` s (all outputs for ``dense``), once. ``pipeline``: the
    (window, group) pairs through :func:`overlapped_cycles` in loop order (the dense order:
    no ``SCHEDULE``); ``min_bytes``: every weight channel some token needs, every token with
    an output and every output, once.
    """
    mask = np.asarray(mask, dtype=bool)
    m, n = mask.shape
    w = n if window is None else int(window)
    if w < 1:
        raise ValueError(f"window = {window!r} must be >= 1 channel")
    w = min(w, n)
    resident = w <= window_capacity(k, cfg)
    dw = cfg.data_width
    src = np.ones_like(mask) if strategy == "dense" else mask
    full = conmerge.group_masks(src, conmerge.token_order(src, cfg, token_sort), cfg.rows)
    ideal = sum(-(-int(x) // cfg.dpus) for x in full.sum(axis=(1, 2)))
    blocks = cau = 0
    runs: list[tuple[int, int]] = []
    works: list[tuple[int, int]] = []
    w_chan = a_tok = 0
    for w0 in range(0, n, w):
        sub = mask[:, w0:w0 + w]
        if strategy == "dense":
            sub = np.ones_like(sub)
            work = [(0, -(-sub.shape[1] // cfg.cols))] * -(-m // cfg.rows)
            order = np.arange(-(-m // cfg.rows) * cfg.rows)
            order[order >= m] = -1
        else:
            work = group_work(sub, cfg, strategy=strategy, token_sort=token_sort)
            order = conmerge.token_order(sub, cfg, token_sort)
        gm = conmerge.group_masks(sub, order, cfg.rows)
        needed = gm.any(axis=1)                                  # (groups, window channels)
        w_chan += int(needed.any(axis=0).sum()) if resident else int(needed.sum())
        works += work
        for g, (s, b) in enumerate(work):
            cau += s
            blocks += b
            runs.append((b, k))
            if b:
                a_tok += int((order[g * cfg.rows:(g + 1) * cfg.rows] >= 0).sum())
    outputs = m * n if strategy == "dense" else int(mask.sum())
    wb, ab, ob = (-(-x * dw // 8) for x in (w_chan * k, a_tok * k, outputs))
    need = full.any(axis=1)                       # (groups, channels) with an output
    least = (int(need.any(axis=0).sum()) * k + int(src.any(axis=1).sum()) * k) * dw
    least = -(-least // 8) + -(-outputs * dw // 8)
    return LoopOrderReport(
        window=w, resident=resident, blocks=blocks, ideal_blocks=ideal,
        compute=gemm_sequence_cycles(runs, cfg), cau=cau, weight_bytes=wb, act_bytes=ab,
        out_bytes=ob, memory=math.ceil((wb + ab + ob) / cfg.offchip_bytes_per_cycle),
        pipeline=overlapped_cycles(works, k, cfg), min_bytes=least)


# -- the core's sparse iteration with the weight fetch ---------------------------------------

def fetch_pipeline_cycles(work, k: int, cfg: ExionConfig) -> int:
    """Cycles of the groups through the core's three stages, ``SCHEDULE`` (CAU) -> weight
    fetch (the gather of the group's weights by its SMEM vectors, ``LOAD_WMEM`` with
    ``GATHER``) -> sparse ``GEMM`` (SDUE), with two SMEM halves and two WMEM buffers.

    ``work``: ``(A_g, F_g, n_g)`` per group (schedule cycles, fetch cycles, blocks)::

        a_end[g]   = max(a_end[g-1], b_free[g-2]) + A_g       # CAU free, its SMEM half free
        f_end[g]   = max(a_end[g], f_end[g-1]) + F_g          # vectors ready, loader free
        b_start[g] = max(f_end[g], b_free[g-1])
        b_free[g]  = b_start[g] + n_g * II
        total      = b_start[last] + compute_cycles(n_last, k)

    With every ``F_g`` = 0 it is :func:`overlapped_cycles`; in the steady state a group costs
    ``max(n_g * II, A_{g+1} + F_{g+1})`` (the CAU and the fetch of the next group share the
    SMEM half's lifetime)."""
    ii = issue_interval(k, cfg)
    a_end = f_end = end = 0
    b_free = [0, 0]
    for a, f, n in work:
        a_end = max(a_end, b_free[0]) + a
        f_end = max(a_end, f_end) + f
        start = max(f_end, b_free[1])
        free = start + n * ii
        if n:
            end = start + compute_cycles(n, k, cfg)
        end = max(end, f_end)
        b_free = [b_free[1], free]
    return end


@dataclass(frozen=True)
class CoreIteration:
    """One sparse FC1 iteration on the core against its dense GEMM, with the weight fetch.

    Cycles: ``compute`` (weights on chip: :func:`overlapped_cycles`), ``steady`` (its sum of
    ``max(SCHEDULE, blocks * II)``: no fill, no drain), ``gathered`` (the core as built: every
    group's weights gathered from memory at ``offchip_bytes_per_cycle``,
    :func:`fetch_pipeline_cycles`), ``dense_compute`` (the dense GEMM back to back) and
    ``dense`` (its weights fetched once when they fit one WMEM buffer, else per group, the
    fetch not overlapped with compute for the resident case: ``fetch + compute``; per group:
    ``max(compute, fetch)``). Bytes: ``gather_bytes`` (every group's named weight rows, whole
    bus words), ``dense_bytes`` (the dense order's weight bytes) and ``min_bytes`` (every weight
    row some group needs, once). ``weights_fit``: the dense weights fit one WMEM buffer (fetched
    once); ``groups``: per row group ``(SCHEDULE cycles, gather bytes, blocks)``."""

    sparsity: float
    blocks: int
    ideal_blocks: int
    cau: int
    sdue: int
    compute: int
    steady: int
    gathered: int
    dense_compute: int
    dense: int
    gather_bytes: int
    dense_bytes: int
    min_bytes: int
    weights_fit: bool = False
    groups: tuple = ()

    @property
    def ideal(self) -> float:
        """The ideal speedup ``1 / (1 - s)`` (:func:`ideal_speedup`)."""
        return ideal_speedup(self.sparsity)


def ideal_speedup(sparsity: float) -> float:
    """``1 / (1 - s)``: the SDUE computing only the kept outputs (infinite at ``s`` = 1)."""
    return 1.0 / (1.0 - sparsity) if sparsity < 1 else float("inf")


def core_iteration(mask, k: int, cfg: ExionConfig) -> CoreIteration:
    """:class:`CoreIteration` of the FC1 GEMM ``(tokens x k) @ (k x channels)`` under ``mask``
    on the core of ``cfg`` (the CAU rule of ``cfg``, row groups in token order)."""
    mask = np.asarray(mask, dtype=bool)
    m, n = mask.shape
    sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
    gm = conmerge.group_masks(mask, sched.token_order, cfg.rows)
    per = [[] for _ in range(gm.shape[0])]
    for b in sched.blocks:
        per[b.group].append(b)
    kc = -(-k // cfg.lanes)
    ib = item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[0]
    bb = cfg.bus_bytes
    row_bytes = -(-kc * ib // bb) * bb
    bw = cfg.offchip_bytes_per_cycle
    work, per_group = [], []
    for g in range(gm.shape[0]):
        a = schedule_cycles(conmerge.conflict_vectors(gm[g]).tolist(), CAU_BEAT, cfg)
        nb = gather_bytes(per[g], kc, cfg.cols, cfg.merge_degree, bb, ib)
        per_group.append((a, nb, len(per[g])))
        work.append((a, math.ceil(nb / bw), len(per[g])))
    ii = issue_interval(k, cfg)
    groups = gm.shape[0]
    dense_compute = dense_cycles(m, n, k, cfg)
    dense_bytes = n * row_bytes
    fit = -(-n // cfg.cols) * kc <= cfg.words("wmem")
    if fit:
        dense = math.ceil(dense_bytes / bw) + dense_compute
    else:
        dense_bytes *= groups
        dense = max(dense_compute, math.ceil(dense_bytes / bw))
    ideal = sum(-(-int(x) // cfg.dpus) for x in gm.sum(axis=(1, 2)))
    return CoreIteration(
        sparsity=1.0 - float(mask.mean()) if mask.size else 0.0,
        blocks=len(sched.blocks), ideal_blocks=ideal, cau=sum(a for a, _, _ in work),
        sdue=gemm_sequence_cycles([(nb, k) for _, _, nb in work], cfg),
        compute=overlapped_cycles([(a, nb) for a, _, nb in work], k, cfg),
        steady=sum(max(a, nb * ii) for a, _, nb in work),
        gathered=fetch_pipeline_cycles(work, k, cfg), dense_compute=dense_compute,
        dense=dense, gather_bytes=sum(nb for _, nb, _ in per_group), dense_bytes=dense_bytes,
        min_bytes=int(mask.any(axis=0).sum()) * row_bytes, weights_fit=fit,
        groups=tuple(per_group))

