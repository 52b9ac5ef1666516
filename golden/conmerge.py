"""ConMerge schedulers: turn an output keep-mask into :class:`~golden.schedule.Schedule` blocks.

A GEMM ``Y[M, N] = X[M, K] @ W[K, N]`` whose output keep-mask ``mask[M, N]`` (``True`` =
compute) is sparse is cut into row groups of ``cfg.rows`` tokens and, per group, into blocks
that each occupy the ``rows x cols`` SDUE once (see ``golden/schedule.py`` and
``docs/schedule.md``). The strategies differ in how many blocks they need:

``dense``
    Every ``cols``-wide channel tile of every group is a block (slot ``c`` of tile ``t`` holds
    channel ``t * cols + c`` on stream 0); DPU ``(r, c)`` is active iff its mask bit is set.
``skip_zero_tiles``
    ``dense`` without the tiles whose mask is all zero in that group.
``condense``
    Per group, channels no token of the group needs (zero conflict vector) are dropped; the
    rest are packed ``cols`` per block in ascending channel order, one per slot.
``greedy``
    Condense + merge exactly as the ConMerge Assistant Unit (CAU) does it, word for word: see
    :func:`golden.conmerge_rules.greedy_group` and ``docs/conmerge.md``. ``merge_degree == 1`` equals ``condense``.
``window``
    The greedy rule with ``open_blocks`` (default :data:`WINDOW_BLOCKS`) blocks open at once
    instead of one, and channels optionally placed in popcount-descending order within each
    aligned run of ``sort_window`` channel indices (default 1: ascending order); see
    :func:`golden.conmerge_rules.window_group` and ``docs/conmerge.md``. ``open_blocks=1, sort_window=1`` is
    ``greedy``.
``bestfit``
    ``window`` with the best-fit slot choice: a channel goes into the fitting open slot whose
    OR of conflict vectors has the most set bits (the fullest rows; the lowest slot on ties)
    instead of the lowest fitting one; opening and emission as in ``window``. What the CAU does
    with ``cau_fit = 1`` (:func:`golden.conmerge_rules.window_group` with ``fit="best"``).
``resident``
    The rule of resident weights (the CAU's ``RESIDENT`` mode): a channel window's weights sit
    in WMEM in a fixed layout, so channel ``j`` may only go into slot ``j % cols``, stream
    ``(j // cols) % merge_degree``; ``open_blocks`` blocks open, the oldest fitting one taken
    (``fit = "best"``: the one whose slot OR has the most set bits). See
    :func:`golden.conmerge_rules.resident_group` and ``docs/conmerge.md``.
``ffd``
    First-fit-decreasing bin packing of the group's channels (by conflict-vector popcount,
    descending) over *all* slots of the group, then slots packed ``cols`` per block. A
    software (host-side) scheduler; the CAU does not need to reproduce it.
``column``
    Column-granular skipping baseline: a channel is skipped only if no token of the whole
    GEMM needs it; the remaining channels are tiled ``cols`` at a time for every group.

Token ordering (``token_sort``) decides which tokens share a row group: ``none`` (in order),
``popcount`` (mask-row popcount, descending, stable) or ``signature`` (greedy clustering that
minimises each group's union of needed channels; see :func:`token_order`).
"""

from __future__ import annotations

import numpy as np

from exion.config import SORT_STRATEGIES, ExionConfig
from exion.limits import CAU_BEAT
from exion.util import check_int
from golden.conmerge_rules import (FITS, ffd_group, greedy_group, popcounts, resident_group,
                                   window_group)
from golden.schedule import Block, Schedule

__all__ = [
    "STRATEGIES", "token_order", "group_masks", "conflict_vectors", "schedule",
    "ideal_blocks", "lower_bound_blocks", "synthetic_mask", "WINDOW_BLOCKS", "cau_schedule",
    "cau_sort_window", "cau_fit",
]

#: Scheduling strategies, in the order tables list them.
STRATEGIES = ("dense", "skip_zero_tiles", "column", "condense", "greedy", "window", "bestfit",
              "resident", "ffd")

#: Open blocks of the ``window`` strategy unless ``schedule(open_blocks=...)`` says otherwise:
#: on the FFN traces two open blocks give most of what unbounded first fit gives
#: (``bench/bench_workload_traces.py --rules``, docs/conmerge.md).
WINDOW_BLOCKS = 2


# -- token ordering -----------------------------------------------------------------------

def token_order(mask, cfg: ExionConfig, token_sort: str | None = None) -> np.ndarray:
    """Token id per (group, row), ``groups * rows`` long, ``-1`` padding the last group.

    ``none``: tokens in order. ``popcount``: by mask-row popcount, descending, stable (ties keep
    ascending token id). ``signature``: greedy clustering. Each group is seeded with the
    unassigned token of largest popcount (lowest id on ties); then ``rows - 1`` times the
    unassigned token adding the fewest channels to the group's union of needed channels is
    added (lowest id on ties). Tokens with similar masks thus share a group, which shrinks the
    group's set of nonzero-conflict-vector channels (what condense and merge have to place).
    Rows are bitsets of 64-bit words, so the cost is ``O(M^2 N / 64)`` word operations
    (about 50 ms for 256 x 4608).
    """
    mask = np.asarray(mask, dtype=bool)
    m = mask.shape[0]
    sort = cfg.token_sort if token_sort is None else token_sort
    if sort not in SORT_STRATEGIES:
        raise ValueError(f"token_sort = {sort!r} is not one of {', '.join(SORT_STRATEGIES)}")
    pop = mask.sum(axis=1)
    if sort == "none":
        order = np.arange(m, dtype=np.int64)
    elif sort == "popcount":
        order = np.argsort(-pop, kind="stable").astype(np.int64)
    else:
        order = _signature_order(mask, cfg.rows)
    groups = -(-m // cfg.rows)
    out = np.full(groups * cfg.rows, -1, np.int64)
    out[:m] = order
    return out


def _popcount_rows(words: np.ndarray) -> np.ndarray:
    """Population count of each row of a ``uint64`` array."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    b = words.view(np.uint8)
    return np.unpackbits(b, axis=-1).sum(axis=-1, dtype=np.int64)


def _signature_order(mask: np.ndarray, rows: int) -> np.ndarray:
    m, n = mask.shape
    # mask rows as bitsets: (m, ceil(n / 64)) uint64
    nw = max(1, -(-n // 64))
    packed = np.zeros((m, nw * 8), dtype=np.uint8)
    nb = -(-n // 8)
    if nb:
        packed[:, :nb] = np.packbits(mask, axis=1, bitorder="little")
    a = packed.view(np.uint64)
    pop = mask.sum(axis=1).astype(np.int64)
    free = np.ones(m, dtype=bool)
    big = np.int64(n + 1)
    order: list[int] = []
    while len(order) < m:
        seed = int(np.argmax(np.where(free, pop, -1)))  # first (lowest id) of the maxima
        free[seed] = False
        order.append(seed)
        union = a[seed].copy()
        for _ in range(rows - 1):
            if len(order) == m:
                break
            added = _popcount_rows(a & ~union)  # channels token u would add to the union
            pick = int(np.argmin(np.where(free, added, big)))
            free[pick] = False
            order.append(pick)
            union |= a[pick]
    return np.asarray(order, dtype=np.int64)


def group_masks(mask, order: np.ndarray, rows: int) -> np.ndarray:
    """The mask rearranged to ``(groups, rows, channels)``; padding rows are all zero."""
    mask = np.asarray(mask, dtype=bool)
    g = len(order) // rows
    out = np.zeros((g * rows, mask.shape[1]), dtype=bool)
    valid = order >= 0
    out[valid] = mask[order[valid]]
    return out.reshape(g, rows, mask.shape[1])


def conflict_vectors(group_mask: np.ndarray) -> np.ndarray:
    """Conflict vector per channel of one group (``rows x channels`` bool) as ``uint64``:
    bit ``r`` set iff row ``r`` of the group needs the channel (rows <= 64)."""
    gm = np.asarray(group_mask, dtype=bool)
    r = gm.shape[0]
    packed = np.packbits(gm, axis=0, bitorder="little")  # (ceil(r / 8), channels) uint8
    cv = np.zeros(gm.shape[1], dtype=np.uint64)
    for i in range(packed.shape[0]):
        cv |= packed[i].astype(np.uint64) << np.uint64(8 * i)
    assert r <= 64
    return cv


# -- schedule assembly ----------------------------------------------------------------------

def _assemble(cfg: ExionConfig, mask: np.ndarray, order: np.ndarray, gm: np.ndarray,
              block_group, rec_block, rec_slot, rec_stream, rec_channel,
              strategy: str) -> Schedule:
    """Build the blocks from placement records: record ``i`` puts channel ``rec_channel[i]``
    on stream ``rec_stream[i]`` of slot ``rec_slot[i]`` of block ``rec_block[i]``. Every DPU of
    that column whose row needs the channel gets ``sel = stream + 1``."""
    R, C, D = cfg.rows, cfg.cols, cfg.merge_degree
    block_group = np.asarray(block_group, dtype=np.int64)
    rb = np.asarray(rec_block, dtype=np.int64)
    rs = np.asarray(rec_slot, dtype=np.int64)
    rd = np.asarray(rec_stream, dtype=np.int64)
    rc = np.asarray(rec_channel, dtype=np.int64)
    nb = len(block_group)
    slots = np.full((nb, C, D), -1, dtype=np.int64)
    sel = np.zeros((nb, R, C), dtype=np.int64)
    if len(rb):
        slots[rb, rs, rd] = rc
        bits = gm[block_group[rb], :, rc]  # (records, rows)
        i, r = np.nonzero(bits)
        sel[rb[i], r, rs[i]] = rd[i] + 1
    blocks = [Block(int(g), slots[b], sel[b]) for b, g in enumerate(block_group.tolist())]
    return Schedule(cfg=cfg, tokens=mask.shape[0], channels=mask.shape[1],
                    token_order=order, blocks=blocks, strategy=strategy)


def _tiled(cfg, mask, order, gm, channels: np.ndarray, keep: np.ndarray | None, strategy):
    """Tiles of ``cols`` consecutive entries of ``channels`` for every group; ``keep``
    (groups x tiles bool) drops tiles."""
    C = cfg.cols
    G = gm.shape[0]
    n = len(channels)
    T = -(-n // C)
    if keep is None:
        keep = np.ones((G, T), dtype=bool)
    g_of, t_of = np.nonzero(keep)  # row-major: group by group, tiles ascending
    nb = len(g_of)
    # block b holds entries t_of[b] * C + c, c < C, that exist
    b_idx = np.repeat(np.arange(nb), C)
    c_idx = np.tile(np.arange(C), nb)
    e_idx = t_of[b_idx] * C + c_idx
    ok = e_idx < n
    return _assemble(cfg, mask, order, gm, g_of, b_idx[ok], c_idx[ok],
                     np.zeros(int(ok.sum()), np.int64), channels[e_idx[ok]], strategy)


def _nonzero_channels(gm: np.ndarray):
    """Per group: ascending nonzero-cv channels and their cvs (Python lists)."""
    out = []
    for g in range(gm.shape[0]):
        cv = conflict_vectors(gm[g])
        nz = np.flatnonzero(cv)
        out.append((nz, cv[nz]))
    return out


def schedule(mask, cfg: ExionConfig, strategy: str, *, token_sort: str | None = None,
             open_blocks: int = WINDOW_BLOCKS, sort_window: int = 1,
             fit: str = "first") -> Schedule:
    """Schedule the outputs ``mask`` (tokens x channels, bool) keeps on the SDUE of ``cfg``.

    ``strategy`` is one of :data:`STRATEGIES`; ``token_sort`` (default ``cfg.token_sort``) one
    of ``none``, ``popcount``, ``signature``. ``open_blocks`` and ``sort_window`` (channels
    ``[k * sort_window, (k + 1) * sort_window)`` are placed by popcount, descending, ties by
    channel) apply to ``window``, ``bestfit`` and ``resident`` only; ``fit`` (``first`` or
    ``best``) to ``resident`` only (its class rule takes the mask's channel indices, from 0).
    Every result passes :func:`golden.schedule.check_schedule`.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (tokens x channels), not shape {mask.shape}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy = {strategy!r} is not one of {', '.join(STRATEGIES)}")
    check_int("open_blocks", open_blocks, 1, 64)
    check_int("sort_window", sort_window, 1, 1 << 16)
    if fit not in FITS:
        raise ValueError(f"fit = {fit!r} is not one of {', '.join(FITS)}")
    if cfg.rows > 64:
        raise ValueError("conflict vectors are packed into 64 bits: rows must be <= 64")
    R, C, D = cfg.rows, cfg.cols, cfg.merge_degree
    order = token_order(mask, cfg, token_sort)
    gm = group_masks(mask, order, R)
    G, N = gm.shape[0], mask.shape[1]

    if strategy == "dense":
        return _tiled(cfg, mask, order, gm, np.arange(N, dtype=np.int64), None, strategy)
    if strategy == "skip_zero_tiles":
        T = -(-N // C)
        pad = np.zeros((G, T * C), dtype=bool)
        pad[:, :N] = gm.any(axis=1)
        keep = pad.reshape(G, T, C).any(axis=2)
        return _tiled(cfg, mask, order, gm, np.arange(N, dtype=np.int64), keep, strategy)
    if strategy == "column":
        alive = np.flatnonzero(mask.any(axis=0)).astype(np.int64)
        return _tiled(cfg, mask, order, gm, alive, None, strategy)

    block_group: list[int] = []
    rb: list[np.ndarray] = []
    rs: list[np.ndarray] = []
    rd: list[np.ndarray] = []
    rc: list[np.ndarray] = []
    if strategy == "condense":
        g_of, ch = np.nonzero(gm.any(axis=1))  # group-major, channels ascending
        for g in range(G):
            chs = ch[g_of == g]
            nb = -(-len(chs) // C)
            idx = np.arange(len(chs))
            rb.append(len(block_group) + idx // C)
            rs.append(idx % C)
            rd.append(np.zeros(len(chs), np.int64))
            rc.append(chs)
            block_group += [g] * nb
    else:
        for g, (chs, cvs) in enumerate(_nonzero_channels(gm)):
            if strategy == "greedy":
                nb, b, s, d = greedy_group(chs.tolist(), cvs.tolist(), C, D)
                b = np.asarray(b, np.int64)
            elif strategy in ("window", "bestfit", "resident"):
                # popcount descending within each aligned run of sort_window channels
                perm = np.lexsort((chs, -popcounts(cvs), chs // sort_window))
                chs, cvs = chs[perm], cvs[perm]
                if strategy == "resident":
                    nb, b, s, d = resident_group(chs.tolist(), cvs.tolist(), C, D, open_blocks,
                                                 fit=fit)
                else:
                    nb, b, s, d = window_group(chs.tolist(), cvs.tolist(), C, D, open_blocks,
                                               fit="best" if strategy == "bestfit" else "first")
            else:  # ffd
                perm = np.lexsort((chs, -popcounts(cvs)))  # popcount desc, then channel
                chs = chs[perm]
                nslots, s, d = ffd_group(cvs[perm].tolist(), D)
                s = np.asarray(s, np.int64)
                nb = -(-nslots // C)
                b, s = s // C, s % C
            rb.append(len(block_group) + np.asarray(b, np.int64))
            rs.append(np.asarray(s, np.int64))
            rd.append(np.asarray(d, np.int64))
            rc.append(chs.astype(np.int64))
            block_group += [g] * nb
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
    return _assemble(cfg, mask, order, gm, block_group, cat(rb), cat(rs), cat(rd), cat(rc),
                     strategy)


def cau_sort_window(cfg: ExionConfig) -> int:
    """The ``sort_window`` of the CAU of ``cfg``: its beat if ``cau_sort``, else 1."""
    return CAU_BEAT if cfg.cau_sort else 1


def cau_fit(cfg: ExionConfig) -> str:
    """The slot choice of the CAU of ``cfg`` (:data:`golden.conmerge_rules.FITS`):
    ``first``, or ``best`` if ``cfg.cau_fit``."""
    return FITS[cfg.cau_fit]


def cau_schedule(mask, cfg: ExionConfig, *, token_sort: str | None = None,
                 resident: bool = False) -> Schedule:
    """The schedule the ConMerge Assistant Unit of ``cfg`` (``hw/cau.py``) makes of ``mask``:
    ``window`` (``bestfit`` if ``cfg.cau_fit``) with ``open_blocks = cfg.cau_window`` and
    ``sort_window`` from :func:`cau_sort_window` (``cau_window = 1, cau_sort = 0,
    cau_fit = 0``: ``greedy``, word for word). With ``resident`` (a ``SCHEDULE`` with the
    ``RESIDENT`` flag): ``resident`` with the same window, order and slot choice."""
    if resident:
        return schedule(mask, cfg, "resident", token_sort=token_sort,
                        open_blocks=cfg.cau_window, sort_window=cau_sort_window(cfg),
                        fit=cau_fit(cfg))
    return schedule(mask, cfg, "bestfit" if cfg.cau_fit else "window", token_sort=token_sort,
                    open_blocks=cfg.cau_window, sort_window=cau_sort_window(cfg))


# -- bounds ------------------------------------------------------------------------------

def ideal_blocks(mask, cfg: ExionConfig) -> int:
    """``ceil(required outputs / (rows * cols))``: every DPU of every block busy."""
    return -(-int(np.count_nonzero(mask)) // cfg.dpus)


def lower_bound_blocks(mask, cfg: ExionConfig, token_sort: str | None = None) -> int:
    """A lower bound on the blocks of *any* merge schedule with this token order.

    Per group, the slots needed are at least ``ceil(nonzero-cv channels / merge_degree)`` (a
    slot carries ``merge_degree`` streams), at least the largest row popcount (a row is busy on
    at most one stream of a slot) and at least ``ceil(outputs / rows)``; blocks per group are
    ``ceil(slots / cols)``.
    """
    mask = np.asarray(mask, dtype=bool)
    order = token_order(mask, cfg, token_sort)
    gm = group_masks(mask, order, cfg.rows)
    nz = gm.any(axis=1).sum(axis=1)
    rowmax = gm.sum(axis=2).max(axis=1, initial=0) if gm.size else np.zeros(len(gm), int)
    outs = gm.sum(axis=(1, 2))
    total = 0
    for n, rm, o in zip(nz.tolist(), np.asarray(rowmax).tolist(), outs.tolist()):
        slots = max(-(-n // cfg.merge_degree), rm, -(-o // cfg.rows))
        total += -(-slots // cfg.cols)
    return total


# -- synthetic masks for tests and benchmarks ---------------------------------------------

def synthetic_mask(m: int, n: int, sparsity: float, kind: str = "uniform", *,
                   seed: int = 0, alive_keep: float = 0.25) -> np.ndarray:
    """A ``m x n`` keep-mask with about ``sparsity`` of its entries ``False``.

    ``uniform``: every entry kept independently with probability ``1 - sparsity``.
    ``column``: column-structured, like FFN-Reuse masks where some channels are dead for every
    token: a fraction ``(1 - sparsity) / alive_keep`` of the channels is alive (all if that
    exceeds 1), each alive channel keeps each token with its own probability drawn uniformly
    from ``[0, 2 * q]`` (mean ``q``; ``q = alive_keep``, or the density if all are alive).
    """
    rng = np.random.default_rng(seed)
    density = 1.0 - sparsity
    if kind == "uniform":
        return rng.random((m, n)) < density
    if kind != "column":
        raise ValueError(f"kind = {kind!r} is not one of uniform, column")
    alive_frac = min(1.0, density / alive_keep)
    q = density / alive_frac if alive_frac > 0 else 0.0
    alive = rng.random(n) < alive_frac
    p = rng.random(n) * 2 * q * alive
    return rng.random((m, n)) < p[None, :]

