"""Physical limits of a sparse FFN-Reuse FC1 iteration, weight fetch included.

A sparse iteration's speedup over dense is measured against the ideal ``1 / (1 - s)``: the SDUE
computing only the kept outputs. Once the weight fetch counts, the memory sets a second floor:
every weight row some token needs, and every token, must cross the memory bus at least once.
:func:`iteration_bound` gives both floors of one mask, for the dense GEMM and for the sparse
one, and from them the most of the ideal any loop order, CAU rule or merge degree can reach at
``cfg.offchip_bytes_per_cycle``. Two limits of the array itself come beside it:

* the merge degree: a block computes at most ``rows * cols`` outputs (the ideal's count) but
  streams at most ``cols * merge_degree`` weight rows, so a group whose ``needed`` channels
  outnumber ``cols * merge_degree`` times its ideal blocks needs more blocks than the ideal
  (:attr:`IterationBound.degree_blocks`);
* the on-chip memories: fetching every weight and token once needs one of the two operands to
  stay on chip while the other streams past (:func:`stationary_bytes`).

See ``docs/cycle-model.md``, "Physical limits of a sparse iteration".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exion.config import ExionConfig
from golden import conmerge
from golden.core_mem import item_bytes
from golden.sparse_iteration import dense_cycles, window_capacity

__all__ = ["IterationBound", "iteration_bound", "operand_bytes", "stationary_bytes",
           "imem_bank_bytes_for", "resident_blocks_bound"]


def operand_bytes(k: int, cfg: ExionConfig) -> tuple[int, int]:
    """``(weight row bytes, token bytes)`` as the core moves them: a weight row of ``k``
    INT codes in whole bus words, a token in whole lane vectors (``golden.core_mem``), the
    counts :func:`golden.sparse_resident.resident_iteration` uses."""
    kc = -(-k // cfg.lanes)
    ib = item_bytes(cfg.lanes, cfg.rows, cfg.data_width)[0]
    bb = cfg.bus_bytes
    return -(-kc * ib // bb) * bb, kc * ib


@dataclass(frozen=True)
class IterationBound:
    """Floors of one FC1 GEMM ``(tokens x k) @ (k x channels)`` under a keep-mask.

    ``dense_compute``: the dense GEMM's SDUE cycles (:func:`golden.sparse_iteration.
    dense_cycles`); ``ideal_compute``: ``dense_compute * (1 - s)``, the ideal's time;
    ``weight_bytes`` / ``needed_weight_bytes``: every weight row / every row some token keeps,
    once; ``token_bytes`` / ``needed_token_bytes``: every token / every token with a kept
    output, once; ``ideal_blocks``: per row group ``ceil(kept / (rows * cols))``, summed;
    ``degree_blocks``: per group ``max(ceil(kept / (rows * cols)), ceil(needed / (cols *
    merge_degree)))``, summed; ``bandwidth``: the off-chip bytes per cycle."""

    sparsity: float
    dense_compute: int
    ideal_compute: float
    weight_bytes: int
    needed_weight_bytes: int
    token_bytes: int
    needed_token_bytes: int
    ideal_blocks: int
    degree_blocks: int
    bandwidth: float

    @property
    def dense_bound(self) -> float:
        """The dense GEMM's floor: ``max(dense_compute, (weights + tokens) / bandwidth)``."""
        return max(self.dense_compute, (self.weight_bytes + self.token_bytes) / self.bandwidth)

    @property
    def sparse_bytes(self) -> int:
        """Bytes a sparse iteration moves at least: needed weight rows and tokens, once."""
        return self.needed_weight_bytes + self.needed_token_bytes

    @property
    def sparse_bound(self) -> float:
        """The sparse iteration's floor: ``max(ideal_compute, sparse_bytes / bandwidth)``."""
        return max(self.ideal_compute, self.sparse_bytes / self.bandwidth)

    @property
    def limit(self) -> float:
        """The most of the ideal reachable, both GEMMs at their floors:
        ``dense_bound * (1 - s) / sparse_bound`` (1 where the array binds both)."""
        return self.dense_bound * (1.0 - self.sparsity) / self.sparse_bound

    @property
    def degree_limit(self) -> float:
        """The block efficiency the merge degree allows: ``ideal_blocks / degree_blocks``."""
        return self.ideal_blocks / self.degree_blocks if self.degree_blocks else 1.0

    def bandwidth_for(self, share: float) -> float:
        """The least bytes per cycle at which :attr:`limit` reaches ``share`` (0 < share <= 1):
        0 where the memory-bound ratio ``weights * (1 - s) / needed`` already does, else
        ``share * sparse_bytes / ideal_compute`` (the ratio falls monotonically as the
        bandwidth falls: the sparse floor turns memory-bound first)."""
        if not 0 < share <= 1:
            raise ValueError(f"share = {share!r} must be in (0, 1]")
        if not self.sparse_bytes or not self.ideal_compute:
            return 0.0
        floor = (self.weight_bytes + self.token_bytes) * (1 - self.sparsity) / self.sparse_bytes
        if floor >= share:
            return 0.0
        return share * self.sparse_bytes / self.ideal_compute


def iteration_bound(mask, k: int, cfg: ExionConfig) -> IterationBound:
    """:class:`IterationBound` of the FC1 GEMM under ``mask`` (tokens x channels) on the core
    of ``cfg`` at its ``offchip_bytes_per_cycle``; row groups in token order."""
    mask = np.asarray(mask, dtype=bool)
    m, n = mask.shape
    row_b, tok_b = operand_bytes(k, cfg)
    gm = conmerge.group_masks(mask, conmerge.token_order(mask, cfg, "none"), cfg.rows)
    kept = gm.sum(axis=(1, 2))
    needed = gm.any(axis=1).sum(axis=1)
    ideal = [-(-int(x) // cfg.dpus) for x in kept]
    by_degree = [-(-int(x) // (cfg.cols * cfg.merge_degree)) for x in needed]
    dense = dense_cycles(m, n, k, cfg)
    s = 1.0 - float(mask.mean()) if mask.size else 0.0
    return IterationBound(
        sparsity=s, dense_compute=dense, ideal_compute=dense * (1.0 - s),
        weight_bytes=n * row_b, needed_weight_bytes=int(mask.any(axis=0).sum()) * row_b,
        token_bytes=m * tok_b, needed_token_bytes=int(mask.any(axis=1).sum()) * tok_b,
        ideal_blocks=sum(ideal), degree_blocks=sum(max(a, b) for a, b in zip(ideal, by_degree)),
        bandwidth=float(cfg.offchip_bytes_per_cycle))


def stationary_bytes(mask, k: int, cfg: ExionConfig) -> tuple[int, int]:
    """Off-chip bytes of the two stationary loop orders, every WMEM / IMEM buffer used:
    ``(weights stationary, tokens stationary)``.

    Weights stationary: windows of ``wmem_buffers * window_capacity`` channels, each window's
    needed weight rows once, every token with a kept output in the window once per window.
    Tokens stationary: chunks of as many tokens as every IMEM buffer holds (``rows`` per
    ``ceil(k / lanes)`` words of each bank), each chunk's tokens once, the weight rows the chunk
    needs once per chunk. Against :attr:`IterationBound.sparse_bytes` this is what the on-chip
    memories of ``cfg`` cost over the minimum with either order (no order moving less data
    exists among those that keep one operand on chip)."""
    mask = np.asarray(mask, dtype=bool)
    m, n = mask.shape
    row_b, tok_b = operand_bytes(k, cfg)
    kc = -(-k // cfg.lanes)
    w = max(1, cfg.wmem_buffers * window_capacity(k, cfg))
    ws = 0
    for w0 in range(0, n, w):
        sub = mask[:, w0:w0 + w]
        ws += int(sub.any(axis=0).sum()) * row_b + int(sub.any(axis=1).sum()) * tok_b
    t = max(1, cfg.imem_buffers * (cfg.words("imem") // kc) * cfg.rows)
    ts = 0
    for t0 in range(0, m, t):
        sub = mask[t0:t0 + t]
        ts += int(sub.any(axis=1).sum()) * tok_b + int(sub.any(axis=0).sum()) * row_b
    return ws, ts


def imem_bank_bytes_for(tokens: int, k: int, cfg: ExionConfig) -> int:
    """The smallest ``imem_bank_bytes`` whose IMEM buffers hold every row group of ``tokens``
    tokens at reduction ``k`` side by side (``golden.sparse_resident.imem_groups`` >= groups:
    ``ceil(groups / imem_buffers) * ceil(k / lanes)`` lane vectors a bank and buffer): the
    tokens-stationary order then fetches each weight row once, and GEMMs at their groups'
    ``ibase`` read them in place."""
    groups = -(-tokens // cfg.rows)
    kc = -(-k // cfg.lanes)
    return math.ceil(-(-groups // cfg.imem_buffers) * kc * cfg.lanes * cfg.data_width / 8)


def resident_blocks_bound(mask, cfg: ExionConfig, window: int, *, crossbar: bool = False) -> int:
    """Blocks the resident layout needs at least (``golden.sparse_resident``), whatever the
    rule: per channel window of ``window`` channels and row group, the largest of

    * ``ceil(kept / (rows * cols))`` (the ideal's count);
    * the most needed channels of one class, a class being the (bank, stream) RAM that holds
      window channel ``j`` (``(j % cols, (j // cols) % merge_degree)``): a RAM delivers one
      weight word a cycle, so a block takes at most one channel of each class;
    * ``ceil(the most kept outputs of one bank's channels / rows)``: bank ``c`` feeds slot
      ``c`` only, whose DPUs compute one output per token row a block;

    summed. Against :attr:`IterationBound.ideal_blocks` it bounds the block efficiency of
    every rule on that layout (the CAU's resident rule and any host-side channel order).
    ``crossbar``: the floor of a design (not built) whose slots read any WMEM RAM through a
    crossbar, a channel in any slot: the third term drops (the rule of such a design:
    ``golden.sparse_resident.resident_iteration(..., rule="crossbar")``)."""
    mask = np.asarray(mask, dtype=bool)
    n = mask.shape[1]
    gm = conmerge.group_masks(mask, conmerge.token_order(mask, cfg, "none"), cfg.rows)
    need = gm.any(axis=1)                                # (groups, channels)
    kept = gm.sum(axis=1)                                # (groups, channels)
    classes = cfg.cols * cfg.merge_degree
    total = 0
    for w0 in range(0, n, window):
        j = np.arange(min(window, n - w0))
        cls = j % cfg.cols * cfg.merge_degree + (j // cfg.cols) % cfg.merge_degree
        nw = need[:, w0:w0 + len(j)]
        kw = kept[:, w0:w0 + len(j)]
        per_class = np.stack([nw[:, cls == c].sum(axis=1) for c in range(classes)], axis=1)
        per_bank = np.stack([kw[:, j % cfg.cols == c].sum(axis=1) for c in range(cfg.cols)],
                            axis=1)
        ideal = -(-kw.sum(axis=1) // cfg.dpus)
        least = np.maximum(ideal, per_class.max(axis=1))
        if not crossbar:
            least = np.maximum(least, -(-per_bank.max(axis=1) // cfg.rows))
        total += int(least.sum())
    return total

