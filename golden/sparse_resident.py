"""Resident weights: a channel window's weights loaded once in a fixed layout, every row group's
sparse GEMM reading them in place, its blocks from the CAU's resident rule (``RESIDENT``).

:func:`resident_iteration` models the loop order (per channel window, weights once, tokens per
window, or once with ``acts_resident`` when every row group's token tile fits IMEM:
:func:`imem_groups`) against which :func:`golden.sparse_iteration.core_iteration` (every
group's weights gathered) and :func:`dense_window_cycles` (the dense GEMM in the same order)
are compared; :func:`resident_permutation` is a host-side channel order per window. See
``docs/cycle-model.md``, "Resident weights", and ``docs/conmerge.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from exion.util import check_int
from golden import conmerge
from golden.conmerge_rules import FITS, crossbar_group, placement_order
from golden.core_mem import item_bytes
from golden.cycle_model import schedule_cycles
from golden.sparse_iteration import fetch_pipeline_cycles, overlapped_cycles, window_capacity

__all__ = ["resident_window", "imem_groups", "ResidentIteration", "resident_iteration",
           "dense_window_cycles", "resident_permutation"]


def resident_window(k: int, cfg: ExionConfig) -> int:
    """Channels of one window in the resident weight layout of one WMEM buffer: window channel
    ``j`` in bank ``j % cols``, stream ``(j // cols) % merge_degree``, words
    ``(j // (cols * merge_degree)) * kc ..`` (``kc = ceil(k / lanes)``), so a buffer of
    ``words("wmem")`` words holds ``cols * merge_degree * floor(words / kc)`` channels (at
    least one row of slots)."""
    kc = -(-k // cfg.lanes)
    return cfg.cols * cfg.merge_degree * max(1, cfg.words("wmem") // kc)


def imem_groups(k: int, cfg: ExionConfig) -> int:
    """Row groups whose token tiles IMEM holds at once: a ``GEMM`` reads its group's
    ``kc = ceil(k / lanes)`` words from one IMEM buffer at ``ibase .. ibase + kc`` (``ibase +
    kc`` <= ``words("imem")``, checked at issue), so each of the ``imem_buffers`` buffers holds
    ``floor(words("imem") / kc)`` groups side by side (row ``r`` of a group in bank ``r``)."""
    kc = -(-k // cfg.lanes)
    return cfg.imem_buffers * (cfg.words("imem") // kc)


def _check_acts_fit(groups: int, k: int, cfg: ExionConfig) -> None:
    have = imem_groups(k, cfg)
    if groups > have:
        kc = -(-k // cfg.lanes)
        raise ValueError(
            f"acts_resident: {groups} row groups of kc = {kc} IMEM words do not fit IMEM "
            f"(it holds {have}: imem_buffers {cfg.imem_buffers} x floor(words {cfg.words('imem')}"
            f" / kc); allowed: groups <= {have})")


@dataclass(frozen=True)
class ResidentIteration:
    """One sparse FC1 iteration in the resident loop order (:func:`resident_iteration`).

    ``window`` channels per window, ``windows`` of them; ``blocks`` / ``ideal_blocks`` (the
    per-group ideal over all channels, as :class:`CoreIteration`); ``cau`` the
    ``SCHEDULE`` cycles of every (window, group); ``compute`` the CAU / SDUE pipeline over every
    (window, group) with the weights on chip (:func:`overlapped_cycles`); ``cycles`` the same
    with the weight and activation fetch (:func:`fetch_pipeline_cycles`, see
    :func:`resident_iteration`); bytes: ``weight_bytes`` (every window's needed weight rows,
    once), ``act_bytes`` (every group's tokens once per window it has blocks in; with
    ``acts_resident`` once, in the first window it has blocks in), ``act_once`` (every token
    once) and ``min_weight_bytes`` (every needed weight row once)."""

    sparsity: float
    window: int
    windows: int
    blocks: int
    ideal_blocks: int
    cau: int
    compute: int
    cycles: int
    weight_bytes: int
    act_bytes: int
    act_once: int
    min_weight_bytes: int
    acts_resident: bool = False

    @property
    def offchip_bytes(self) -> int:
        return self.weight_bytes + self.act_bytes


def resident_iteration(mask, k: int, cfg: ExionConfig, window: int | None = None, *,
                       rule: str = "resident", acts_resident: bool = False
                       ) -> ResidentIteration:
    """The FC1 GEMM ``(tokens x k) @ (k x channels)`` under ``mask`` with resident weights.

    Outer loop over channel windows of ``window`` channels (default :func:`resident_window`),
    inner over the row groups (token order, as :func:`core_iteration`): the window's weights
    sit in one WMEM buffer in the resident layout, loaded once (the rows of the channels some
    token needs); each group's ``SCHEDULE`` of the window's mask uses the resident rule
    (``rule`` ``"resident"``: ``cau_schedule(..., resident=True)``; ``"cau"``: the CAU's
    unconstrained rule, i.e. weights on chip in every group's own layout, for comparison;
    ``"crossbar"``: :func:`golden.conmerge_rules.crossbar_group`, the same layout read
    through a crossbar, a design not built, its ``SCHEDULE`` timed as the resident rule's) and
    its sparse ``GEMM`` reads the weights in place; a group's activations are fetched again in
    every window where it has blocks, or with ``acts_resident`` only in the first (every
    group's token tile stays in IMEM at its own ``ibase``; a ``ValueError`` when the groups do
    not fit: more than :func:`imem_groups`). Timing: :func:`fetch_pipeline_cycles` over every
    (window, group) in loop order with ``F`` = the group's activation fetch plus an equal
    share of the next window's weight fetch (one loader at ``offchip_bytes_per_cycle``; the
    next window's buffer fills while this window computes: two WMEM buffers), after the first
    window's weights (fill). Bytes in whole bus words per weight row, lane-vector words per
    token."""
    mask = np.asarray(mask, dtype=bool)
    m, n = mask.shape
    if rule not in ("resident", "cau", "crossbar"):
        raise ValueError(f"rule = {rule!r} is not one of resident, cau, crossbar")
    res = rule != "cau"
    w = resident_window(k, cfg) if window is None else int(window)
    if w < 1:
        raise ValueError(f"window = {window!r} must be >= 1 channel")
    kc = -(-k // cfg.lanes)
    ib = item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[0]
    bb = cfg.bus_bytes
    row_bytes = -(-kc * ib // bb) * bb
    tok_bytes = kc * ib
    bw = cfg.offchip_bytes_per_cycle
    order = conmerge.token_order(mask, cfg, "none")
    gm_all = conmerge.group_masks(mask, order, cfg.rows)
    G = gm_all.shape[0]
    real = [int((order[g * cfg.rows:(g + 1) * cfg.rows] >= 0).sum()) for g in range(G)]
    if acts_resident:
        _check_acts_fit(G, k, cfg)
    fetched = np.zeros(G, bool)         # acts_resident: the group's tokens are in IMEM
    starts = list(range(0, n, w)) or [0]
    wfetch, per_window = [], []
    blocks = cau = wbytes = abytes = 0
    for w0 in starts:
        sub = mask[:, w0:w0 + w]
        if rule == "crossbar":
            gm = conmerge.group_masks(sub, order, cfg.rows)
            nb = np.array([_crossbar_count(gm[g], cfg) for g in range(G)], np.int64)
        else:
            sched = conmerge.cau_schedule(sub, cfg, token_sort="none", resident=res)
            gm = conmerge.group_masks(sub, sched.token_order, cfg.rows)
            nb = np.zeros(G, np.int64)
            for b in sched.blocks:
                nb[b.group] += 1
        need = int(gm.any(axis=(0, 1)).sum()) if gm.size else 0
        wbytes += need * row_bytes
        wfetch.append(math.ceil(need * row_bytes / bw))
        items = []
        for g in range(G):
            a = schedule_cycles(conmerge.conflict_vectors(gm[g]).tolist(), CAU_BEAT, cfg,
                                resident=res)
            act = real[g] * tok_bytes if nb[g] and not fetched[g] else 0
            fetched[g] |= acts_resident and nb[g] > 0
            abytes += act
            cau += a
            blocks += int(nb[g])
            items.append((a, act, int(nb[g])))
        per_window.append(items)
    work = [(0, wfetch[0], 0)]
    for i, items in enumerate(per_window):
        nxt = wfetch[i + 1] if i + 1 < len(wfetch) else 0
        for g, (a, act, nb) in enumerate(items):
            share = -(-nxt * (g + 1) // G) - -(-nxt * g // G)
            work.append((a, math.ceil(act / bw) + share, nb))
    ideal = sum(-(-int(x) // cfg.dpus) for x in gm_all.sum(axis=(1, 2)))
    return ResidentIteration(
        sparsity=1.0 - float(mask.mean()) if mask.size else 0.0, window=w,
        windows=len(starts), blocks=blocks, ideal_blocks=ideal, cau=cau,
        compute=overlapped_cycles([(a, nb) for items in per_window for a, _, nb in items],
                                  k, cfg),
        cycles=fetch_pipeline_cycles(work, k, cfg), weight_bytes=wbytes, act_bytes=abytes,
        act_once=sum(real) * tok_bytes,
        min_weight_bytes=int(mask.any(axis=0).sum()) * row_bytes, acts_resident=acts_resident)


def _crossbar_count(gm, cfg: ExionConfig) -> int:
    """Blocks of :func:`golden.conmerge_rules.crossbar_group` for one group's window mask
    (channels ascending, ``cau_window`` open blocks, ``cau_fit``)."""
    cvs = conmerge.conflict_vectors(gm).tolist()
    idx = placement_order(cvs, 1)
    return crossbar_group(idx, [int(cvs[i]) for i in idx], cfg.cols, cfg.merge_degree,
                          cfg.cau_window, FITS[cfg.cau_fit])[0]


def dense_window_cycles(tokens: int, channels: int, k: int, cfg: ExionConfig,
                        buffers: int = 1, *, acts_resident: bool = False) -> tuple[int, int]:
    """``(cycles, off-chip bytes)`` of the dense GEMM in the channel-window order: windows of
    ``buffers`` times :func:`window_capacity` channels (whole column tiles, at least one; the
    resident order's window of as many WMEM buffers), each window's weights
    fetched once, every group's tokens again per window (``acts_resident``: in the first
    window only, the groups' tiles kept in IMEM, :func:`imem_groups`; a ``ValueError`` when
    they do not fit); timed as
    :func:`resident_iteration` (:func:`fetch_pipeline_cycles`, no ``SCHEDULE``, the first
    window's weights as fill, the next window's in shares behind each group's tokens). The
    dense baseline of the resident order: the same loop order without the mask."""
    kc = -(-k // cfg.lanes)
    ib = item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[0]
    bb = cfg.bus_bytes
    row_bytes = -(-kc * ib // bb) * bb
    bw = cfg.offchip_bytes_per_cycle
    w = max(cfg.cols, buffers * window_capacity(k, cfg) // cfg.cols * cfg.cols)
    G = -(-tokens // cfg.rows)
    real = [min(cfg.rows, tokens - g * cfg.rows) for g in range(G)]
    if acts_resident:
        _check_acts_fit(G, k, cfg)
    starts = list(range(0, channels, w))
    wf = [math.ceil(min(w, channels - w0) * row_bytes / bw) for w0 in starts]
    work = [(0, wf[0], 0)] if starts else []
    total = sum(min(w, channels - w0) for w0 in starts) * row_bytes
    for i, w0 in enumerate(starts):
        nxt = wf[i + 1] if i + 1 < len(wf) else 0
        nb = -(-min(w, channels - w0) // cfg.cols)
        for g in range(G):
            share = -(-nxt * (g + 1) // G) - -(-nxt * g // G)
            act = real[g] * kc * ib if i == 0 or not acts_resident else 0
            work.append((0, math.ceil(act / bw) + share, nb))
            total += act
    return fetch_pipeline_cycles(work, k, cfg), total


# -- host-side channel order for the resident rule ----------------------------------------

def resident_permutation(mask, cfg: ExionConfig, window: int, *,
                         token_sort: str | None = "none") -> np.ndarray:
    """A host-side channel order for the resident rule: ``perm`` with ``mask[:, perm]`` the
    mask in the order the resident layout stores the channels (position ``p`` of a window is
    window channel ``p``, class ``(p % cols, (p // cols) % merge_degree)``).

    The resident rule places at most one channel of a class per block, so a group needs at
    least as many blocks as its busiest class has needed channels. Per window of ``window``
    channels (a multiple of ``cols * merge_degree`` keeps every class the same size), the
    channels go, by the number of row groups that need them (descending, ties by channel), each
    to the class with the least such load so far that still has room (longest-processing-time
    first): every class carries about the same expected number of needed channels per group.
    Chosen from the mask itself (FFN-Reuse reuses the dense iteration's mask, so the host has
    it before the sparse iterations it schedules)."""
    mask = np.asarray(mask, dtype=bool)
    n = mask.shape[1]
    check_int("window", window, 1, 1 << 16)
    C, D = cfg.cols, cfg.merge_degree
    order = conmerge.token_order(mask, cfg, token_sort)
    # row groups needing each channel
    need = conmerge.group_masks(mask, order, cfg.rows).any(axis=1).sum(axis=0)
    perm = np.empty(n, np.int64)
    for w0 in range(0, n, window):
        chs = np.arange(w0, min(n, w0 + window))
        size = len(chs)
        classes = min(C * D, size)
        # positions of each class inside the window, ascending
        pos = [[p for p in range(size) if (p % C) + C * ((p // C) % D) == k]
               for k in range(C * D)]
        pos = [p for p in pos if p][:classes] if size < C * D else pos
        load = [0] * len(pos)
        used = [0] * len(pos)
        for ch in sorted(chs.tolist(), key=lambda c: (-int(need[c]), c)):
            k = min((i for i in range(len(pos)) if used[i] < len(pos[i])),
                    key=lambda i: (load[i], i))
            perm[w0 + pos[k][used[k]]] = ch
            used[k] += 1
            load[k] += int(need[ch])
    return perm
