"""Golden model of the banked, multi-buffered memories (hw/mem.py).

Each of ``banks`` banks holds ``buffers`` buffers of ``depth`` words. The array side uses
buffer ``cur``; host-side buffer ``j`` (``0 <= j <= buffers - 2``) is ``(cur + 1 + j) % buffers``.
``swap`` advances ``cur``. Writes and reads within a cycle see the state before that cycle's
swap; reads return the word as it was before that cycle's writes (synchronous RAM, read first).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BankedMemoryModel"]


class BankedMemoryModel:
    def __init__(self, banks: int, depth: int, buffers: int, lanes: int = 1):
        self.banks, self.depth, self.buffers, self.lanes = banks, depth, buffers, lanes
        self.data = np.zeros((buffers, banks, depth, lanes), dtype=object)
        self.cur = 0

    def host_buffer(self, j: int = 0) -> int:
        if self.buffers == 1:
            return 0
        if not 0 <= j <= self.buffers - 2:
            raise ValueError(f"host buffer {j} is out of range [0, {self.buffers - 2}]")
        return (self.cur + 1 + j) % self.buffers

    def cycle(self, *, writes=(), reads=(), swap=False, side="host"):
        """One clock cycle.

        ``writes``: ``(bank, lane, addr, value, j)`` into host-side buffer ``j``
        (``side="host"``: IMEM/WMEM) or ``(bank, lane, addr, value)`` into the array-side
        buffer (``side="array"``: OMEM). ``reads``:
        ``(bank, addr)`` from the other side's buffer. Returns the read values.
        """
        # OMEM's host reads the buffer the array filled last: host-side index buffers - 2.
        rbuf = self.cur if side == "host" else self.host_buffer(max(0, self.buffers - 2))
        out = [self.data[rbuf, b, a].copy() for b, a in reads]
        for w in writes:
            b, lane, a, v = w[:4]
            buf = self.host_buffer(w[4]) if side == "host" else self.cur
            self.data[buf, b, a, lane] = v
        if swap:
            self.cur = (self.cur + 1) % self.buffers
        return out
