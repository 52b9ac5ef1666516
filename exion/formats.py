"""Formats and widths that the golden model and the RTL must agree on.

Part of the spec layer: imports nothing of the project but ``exion``. The schedule's block
format (the "ConMerge vector", docs/schedule.md), the predictor's accumulator width and the
top-k count are specification: ``golden/`` computes with them, ``hw/`` sizes its datapath by
them, and neither imports the other for them.
"""

from __future__ import annotations

import math

from .config import ExionConfig
from .limits import CHANNEL_BITS, GROUP_BITS, MAX_KEYS
from .util import check_fraction, check_int

__all__ = ["MAX_MAG_BITS", "TOPK_EPS", "block_bits", "block_words", "shift_add_acc_width",
           "topk_count", "max_keep"]

#: Operands of the predictor may have magnitudes up to ``2**MAX_MAG_BITS`` (exponent sums of
#: two operands then stay below 63, so every power-of-two term fits an int64).
MAX_MAG_BITS = 31

#: ``topk_count`` subtracts this before ``ceil`` so that decimal ratios written in binary
#: (``0.07 * 100 == 7.000000000000001``) give the intended count.
TOPK_EPS = 1e-9


def block_bits(cfg: ExionConfig) -> int:
    """Bits of one packed block (ConMerge vector): the group index, ``cols * merge_degree``
    (valid, channel) slots and ``rows * cols`` select codes, LSB first."""
    return (GROUP_BITS + cfg.cols * cfg.merge_degree * (1 + CHANNEL_BITS)
            + cfg.rows * cfg.cols * cfg.sel_width)


def block_words(cfg: ExionConfig) -> int:
    """Bus words of one block in memory (``LOAD_SMEM`` / ``STORE_SMEM``): the packed block in
    ``ceil(block_bits / bus_width)`` whole words of the master port."""
    return -(-block_bits(cfg) // cfg.bus_width)


def shift_add_acc_width(k: int, width: int, steps: int) -> int:
    """Signed accumulator width that holds any shift-add product sum of ``k`` terms exactly.

    An approximation (one or two steps) only drops low-order ones, so it never exceeds
    ``|x| <= 2**(width-1)``; hence ``|result| <= k * 2**(2*width-2)``.
    """
    check_int("steps", steps, 1, 2)
    width = check_int("width", width, 2, MAX_MAG_BITS + 1)
    bound = k * (1 << (2 * width - 2))
    return bound.bit_length() + 1


def topk_count(k: float, keys: int) -> int:
    """Keys kept by a non-dominant query: ``max(1, min(keys, ceil(k * keys - 1e-9)))``."""
    kf = check_fraction("k", k)
    check_int("keys", keys, 1, math.inf)
    return max(1, min(int(keys), math.ceil(kf * keys - TOPK_EPS)))


def max_keep(ep_k: float, max_keys: int = MAX_KEYS) -> int:
    """Largest top-k count the selector holds: ``max(2, topk_count(ep_k, max_keys))`` (the gap
    test compares the two largest scores, so at least two)."""
    return max(2, topk_count(ep_k, max_keys))
