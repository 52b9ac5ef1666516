"""The per-group packers of ConMerge: the rules that place one row group's channels into slots.

Pure Python on Python ints (a conflict vector per channel, bit ``r`` = row ``r`` of the group
needs it); :mod:`golden.conmerge` orders the channels, calls these per group and assembles the
:class:`~golden.schedule.Schedule`. :func:`greedy_group` and :func:`window_group` define the
ConMerge Assistant Unit (``hw/cau.py``) word for word, and :func:`resident_group` its
``RESIDENT`` mode (every channel in the one slot and stream its weights live in);
:func:`ffd_group` is host-side only, :func:`crossbar_group` a rule of a design not built (the
resident layout read through a crossbar).
See ``docs/conmerge.md``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["greedy_group", "window_group", "resident_group", "resident_class", "crossbar_group",
           "ffd_group", "popcounts", "placement_order", "window_blocks", "window_emits", "FITS"]

#: Slot choices of :func:`window_group`, indexed by ``cfg.cau_fit``: ``first`` (the lowest
#: fitting window slot) and ``best`` (the fitting slot whose OR of conflict vectors has the most
#: set bits, the lowest on ties).
FITS = ("first", "best")


def greedy_group(chs: list[int], cvs: list[int], cols: int, degree: int):
    """The CAU's merge rule, applied to one group's nonzero-cv channels in ascending order.

    The current block has ``nopen`` open slots; slot ``s`` holds ``cnt[s] <= degree`` channels
    whose conflict vectors OR to ``ors[s]``. A channel goes into the first (lowest) open slot
    with ``cnt < degree`` and ``ors & cv == 0`` (its stream is ``cnt`` before insertion); else,
    if ``nopen < cols``, into a newly opened slot ``nopen``; else the block is emitted and the
    channel starts a new block in slot 0. The last non-empty block is emitted at group end.

    Returns ``(n_blocks, rec_block, rec_slot, rec_stream)`` aligned with ``chs``.
    """
    rb: list[int] = []
    rs: list[int] = []
    rd: list[int] = []
    blk = 0
    ors = [0] * cols
    cnt = [0] * cols
    nopen = 0
    lo = 0  # slots below lo are full (cnt == degree); they can never take a channel
    for cv in cvs:
        s = lo
        while s < nopen:
            if cnt[s] < degree and not (ors[s] & cv):
                break
            s += 1
        else:
            if nopen < cols:
                s = nopen
                nopen += 1
            else:
                blk += 1
                ors = [0] * cols
                cnt = [0] * cols
                nopen, lo, s = 1, 0, 0
        d = cnt[s]
        ors[s] |= cv
        cnt[s] = d + 1
        if s == lo:
            while lo < nopen and cnt[lo] == degree:
                lo += 1
        rb.append(blk)
        rs.append(s)
        rd.append(d)
    return (blk + 1 if chs else 0), rb, rs, rd


def window_group(chs: list[int], cvs: list[int], cols: int, degree: int, open_blocks: int,
                 emits: list[bool] | None = None, fit: str = "first"):
    """The greedy rule over a window of ``open_blocks`` blocks (``W``), one group.

    Window slot ``s`` (``0 <= s < W * cols``) is slot ``s % cols`` of open block ``s // cols``,
    oldest block first; open slots form a prefix ``[0, nopen)``. A channel goes into the
    lowest open slot with ``cnt < degree`` and ``ors & cv == 0`` (stream ``cnt``); else, if
    ``nopen < W * cols``, into newly opened slot ``nopen``; else the oldest block (window slots
    ``[0, cols)``) is emitted, the others move down one block, and the channel opens slot
    ``(W - 1) * cols``. At group end the open blocks are emitted oldest first. Blocks are
    emitted in the order they were opened, so block ids are ``emitted + s // cols``.
    ``W = 1`` is :func:`greedy_group`. With a list ``emits``, one flag per channel is appended
    to it: whether placing that channel emitted the oldest block (what the CAU's timing at
    ``cau_rate > 1`` depends on, :func:`golden.cycle_model.cau_cycles`).

    ``fit = "best"`` (the ``bestfit`` rule, ``cau_fit = 1``) changes only the slot choice among
    the fitting ones: the one whose ``ors`` has the most set bits (the fullest rows), the lowest
    on ties; a channel that fits nowhere opens or emits exactly as with ``fit = "first"``.

    Returns ``(n_blocks, rec_block, rec_slot, rec_stream)`` aligned with ``chs``.
    """
    if fit not in FITS:
        raise ValueError(f"fit = {fit!r} is not one of {', '.join(FITS)}")
    best = fit == "best"
    n = open_blocks * cols
    ors = [0] * n
    cnt = [0] * n
    nopen = 0
    base = 0  # blocks emitted so far in this group
    rb: list[int] = []
    rs: list[int] = []
    rd: list[int] = []
    for cv in cvs:
        s = 0
        emitted = False
        if best:
            key = -1
            for t in range(nopen):
                if cnt[t] < degree and not (ors[t] & cv):
                    k = bin(ors[t]).count("1")
                    if k > key:
                        key, s = k, t
            found = key >= 0
        else:
            while s < nopen:
                if cnt[s] < degree and not (ors[s] & cv):
                    break
                s += 1
            found = s < nopen
        if not found:
            if nopen == n:
                emitted = True
                base += 1
                ors = ors[cols:] + [0] * cols
                cnt = cnt[cols:] + [0] * cols
                nopen = n - cols
            s = nopen
            nopen += 1
        if emits is not None:
            emits.append(emitted)
        d = cnt[s]
        ors[s] |= cv
        cnt[s] = d + 1
        rb.append(base + s // cols)
        rs.append(s % cols)
        rd.append(d)
    return base + -(-nopen // cols), rb, rs, rd


def resident_class(channel: int, cols: int, degree: int) -> tuple[int, int]:
    """``(slot, stream)`` of ``channel`` in the resident weight layout: window channel ``j``
    lives in WMEM bank ``j % cols``, stream ``(j // cols) % degree`` (docs/conmerge.md)."""
    return channel % cols, (channel // cols) % degree


def resident_group(chs: list[int], cvs: list[int], cols: int, degree: int, open_blocks: int,
                   emits: list[bool] | None = None, fit: str = "first"):
    """The resident rule over a window of ``open_blocks`` blocks (``W``), one group.

    With the weights of a channel window resident in WMEM in a fixed layout, bank ``c``
    stream ``d`` can only deliver the channels of its class, so channel ``j`` may only go into
    slot ``c, d = resident_class(j)``. Open blocks are kept oldest first; channel ``j`` with
    conflict vector ``cv`` fits open block ``b`` if stream ``d`` of slot ``c`` is empty in
    ``b`` and ``ors_b[c] & cv == 0``. ``fit = "first"``: the oldest fitting block;
    ``"best"``: the fitting block whose ``ors_b[c]`` has the most set bits, the oldest on ties.
    No fit: a new block is opened if fewer than ``W`` are open, else the oldest open block is
    emitted and a new one opened. At group end the open blocks are emitted oldest first;
    blocks are emitted in opening order, so block ids are ``emitted + position``. ``emits``
    as in :func:`window_group`.

    Returns ``(n_blocks, rec_block, rec_slot, rec_stream)`` aligned with ``chs``.
    """
    if fit not in FITS:
        raise ValueError(f"fit = {fit!r} is not one of {', '.join(FITS)}")
    best = fit == "best"
    ors: list[list[int]] = []       # per open block, oldest first: OR of cvs per slot
    used: list[list[int]] = []      # per open block: bit d of used[b][c] = stream d taken
    base = 0
    rb: list[int] = []
    rs: list[int] = []
    rd: list[int] = []
    for j, cv in zip(chs, cvs):
        c, d = resident_class(int(j), cols, degree)
        pick, key = -1, -1
        for b in range(len(ors)):
            if not (used[b][c] >> d) & 1 and not (ors[b][c] & cv):
                if not best:
                    pick = b
                    break
                k = bin(ors[b][c]).count("1")
                if k > key:
                    key, pick = k, b
        emitted = False
        if pick < 0:
            if len(ors) == open_blocks:
                emitted = True
                base += 1
                ors.pop(0)
                used.pop(0)
            ors.append([0] * cols)
            used.append([0] * cols)
            pick = len(ors) - 1
        if emits is not None:
            emits.append(emitted)
        ors[pick][c] |= cv
        used[pick][c] |= 1 << d
        rb.append(base + pick)
        rs.append(c)
        rd.append(d)
    return base + len(ors), rb, rs, rd


def crossbar_group(chs: list[int], cvs: list[int], cols: int, degree: int, open_blocks: int,
                   fit: str = "first"):
    """The resident layout read through a crossbar (a design not built; for
    ``golden.sparse_bound.resident_blocks_bound(..., crossbar=True)``'s question), one group.

    The weights sit as in the resident layout (window channel ``j`` in the RAM of class
    :func:`resident_class`), but every slot stream can read any RAM: channel ``j`` fits open
    block ``b`` if no channel of its class is in ``b`` yet (one word per RAM a cycle) and some
    slot ``s`` of ``b`` has a free stream and ``ors_b[s] & cv == 0``. ``fit = "first"``: the
    oldest such block, its lowest such slot; ``"best"``: over the open blocks, the fitting slot
    whose ``ors`` has the most set bits (oldest block, lowest slot on ties). No fit: open a
    block, or emit the oldest when ``open_blocks`` are open, as :func:`resident_group`.

    Returns ``(n_blocks, rec_block, rec_slot, rec_stream)`` aligned with ``chs``."""
    if fit not in FITS:
        raise ValueError(f"fit = {fit!r} is not one of {', '.join(FITS)}")
    best = fit == "best"
    ors: list[list[int]] = []       # per open block, oldest first: OR of cvs per slot
    cnt: list[list[int]] = []       # per open block: streams taken per slot
    used: list[int] = []            # per open block: bit k = a channel of class k is in it
    base = 0
    rb: list[int] = []
    rs: list[int] = []
    rd: list[int] = []
    for j, cv in zip(chs, cvs):
        c, d = resident_class(int(j), cols, degree)
        k = c * degree + d
        pick, slot, key = -1, -1, -1
        for b in range(len(ors)):
            if (used[b] >> k) & 1:
                continue
            for t in range(cols):
                if cnt[b][t] < degree and not (ors[b][t] & cv):
                    w = bin(ors[b][t]).count("1") if best else 0
                    if w > key:
                        pick, slot, key = b, t, w
                    if not best:
                        break
            if pick >= 0 and not best:
                break
        if pick < 0:
            if len(ors) == open_blocks:
                base += 1
                ors.pop(0)
                cnt.pop(0)
                used.pop(0)
            ors.append([0] * cols)
            cnt.append([0] * cols)
            used.append(0)
            pick, slot = len(ors) - 1, 0
        rd.append(cnt[pick][slot])
        ors[pick][slot] |= cv
        cnt[pick][slot] += 1
        used[pick] |= 1 << k
        rb.append(base + pick)
        rs.append(slot)
    return base + len(ors), rb, rs, rd


def popcounts(cvs: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(cvs).astype(np.int64)
    return np.array([bin(v).count("1") for v in cvs.tolist()], np.int64)


def ffd_group(cvs: list[int], degree: int):
    """First-fit over all slots of the group; channels must come in the packing order.

    Slot occupancy is kept as per-row bitsets over slots (Python ints): ``occ[r]`` has bit
    ``s`` set iff slot ``s`` already holds a channel needed by row ``r``; ``full`` marks slots
    holding ``degree`` channels. A channel with rows ``r1..rp`` fits the slots in
    ``~(full | occ[r1] | ... | occ[rp])``; the lowest one is taken (else a new slot opens).

    Returns ``(n_slots, rec_slot, rec_stream)`` aligned with ``cvs``.
    """
    occ: dict[int, int] = {}
    full = 0
    exists = 0
    nslots = 0
    cnt: list[int] = []
    rs: list[int] = []
    rd: list[int] = []
    for cv in cvs:
        conflict = full
        bits = cv
        while bits:
            low = bits & -bits
            conflict |= occ.get(low, 0)
            bits ^= low
        free = exists & ~conflict
        if free:
            s = (free & -free).bit_length() - 1
        else:
            s = nslots
            nslots += 1
            exists = (exists << 1) | 1
            cnt.append(0)
        sb = 1 << s
        bits = cv
        while bits:
            low = bits & -bits
            occ[low] = occ.get(low, 0) | sb
            bits ^= low
        d = cnt[s]
        cnt[s] = d + 1
        if d + 1 == degree:
            full |= sb
        rs.append(s)
        rd.append(d)
    return nslots, rs, rd


def placement_order(cvs, sort_window: int = 1) -> list[int]:
    """Indices of the nonzero entries of ``cvs`` (one conflict vector per channel, ascending
    channel) in the ``window`` rule's placement order: ascending, except that within each
    aligned run of ``sort_window`` channels they go by popcount, descending (ties ascending)."""
    nz = [i for i, v in enumerate(cvs) if v]
    return sorted(nz, key=lambda i: (i // sort_window, -bin(int(cvs[i])).count("1"), i))


def window_blocks(cvs, cols: int, degree: int, open_blocks: int = 1,
                  sort_window: int = 1, fit: str = "first", resident: bool = False) -> int:
    """Blocks the ``window`` rule (slot choice ``fit``, :data:`FITS`; with ``resident`` the
    resident rule, :func:`resident_group`) makes of one group whose channels have conflict
    vectors ``cvs`` (ascending channel from 0, zeros included)."""
    order = placement_order(cvs, sort_window)
    rule = resident_group if resident else window_group
    return rule(order, [int(cvs[i]) for i in order], cols, degree, open_blocks, fit=fit)[0]


def window_emits(cvs, cols: int, degree: int, open_blocks: int = 1,
                 sort_window: int = 1, fit: str = "first", resident: bool = False) -> list[bool]:
    """Per nonzero channel of one group (``cvs`` ascending, zeros included), in placement
    order (:func:`placement_order`): whether the ``window`` rule (slot choice ``fit``; with
    ``resident`` the resident rule) emits the oldest open block when it places that channel."""
    order = placement_order(cvs, sort_window)
    flags: list[bool] = []
    rule = resident_group if resident else window_group
    rule(order, [int(cvs[i]) for i in order], cols, degree, open_blocks, flags, fit)
    return flags
