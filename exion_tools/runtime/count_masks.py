"""Mask sources of count-only runs (docs/runtime.md, "Count-only runs"): the masks an
executing run used (:class:`MaskLog`, :class:`ReplayMasks`) or those of a recorded workload
trace mapped onto a model (:class:`TraceMasks`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

__all__ = ["MaskLog", "ReplayMasks", "TraceMasks"]


@dataclasses.dataclass
class MaskLog:
    """Masks an executing run used, in order: ``eager`` ``(keep, dominant)`` per (block,
    head), ``ffn`` the FC1 keep-mask of each sparse iteration's (block).

    Members
    -------
    eager, ffn : list
    """

    eager: list = dataclasses.field(default_factory=list)
    ffn: list = dataclasses.field(default_factory=list)


class ReplayMasks:
    """The masks of a :class:`MaskLog`, handed out in the order they were recorded."""

    def __init__(self, log: MaskLog):
        self._eager, self._ffn = iter(log.eager), iter(log.ffn)

    def eager(self, where, head, shape):
        keep, dom = next(self._eager)
        assert keep.shape == shape, (keep.shape, shape)
        return keep, dom

    def block_key(self, where, heads):
        return None                     # every block's masks are its own: no reuse

    def ffn(self, where, shape):
        keep = next(self._ffn)
        assert keep.shape == shape, (keep.shape, shape)
        return keep


class TraceMasks:
    """Masks of a recorded workload trace (``workload/export.py``'s format, default
    ``data/traces256``: the trained dit256, 256 tokens, 4 blocks, 2 heads, FFN 576, 100
    iterations, eager masks every 5th iteration, FFN masks every other dense iteration) mapped
    onto another model: iteration ``i`` of ``T`` to the last trace iteration at or before
    ``i / T`` of the trace's run, block ``b`` of ``D`` to trace block ``b * 4 // D``, head
    ``h`` to trace head ``h % 2``; masks tiled (``numpy.resize`` per row) to the model's
    tokens and channels (a query left with no key keeps one). The trace keeps no dominant
    flags: a query with exactly one kept key is taken as dominant (what
    ``golden.eager.select`` makes of a dominant query)."""

    def __init__(self, iterations: int, depth: int, path=None):
        from workload import traces
        root = Path(__file__).resolve().parents[2]
        ts = traces.load_traces(root / "data" / "traces256" if path is None else path,
                                verify=False)
        self.iterations, self.depth = iterations, depth
        self.run_iters = int(ts.info["run"]["iterations"])
        self.blocks = int(ts.info["model"]["depth"])
        self.heads = int(ts.info["model"]["heads"])
        e, f = ts.kinds["eager"], ts.kinds["ffn"]
        self._e = {(int(m[1]), int(m[3]), int(m[4])): i for i, m in enumerate(e.meta)}
        self._f = {(int(m[1]), int(m[3])): i for i, m in enumerate(f.meta)}
        self._ek, self._fk = e, f
        self._cache: dict = {}
        self._picked: dict = {}

    def _pick(self, table, it: int, rest):
        t = it * self.run_iters // self.iterations
        key = (id(table), t, rest)
        hit = self._picked.get(key)
        if hit is None:
            hit = self._picked[key] = table[max(k for k in table if k[1:] == rest and k[0] <= t)]
        return hit

    def _fit(self, m: np.ndarray, shape) -> np.ndarray:
        rows = np.resize(np.arange(m.shape[0]), shape[0])
        cols = np.resize(np.arange(m.shape[1]), shape[1])
        return m[np.ix_(rows, cols)]

    def block_key(self, where, heads):
        """The trace masks block ``where`` uses: blocks with the same key count the same."""
        b = where[2] * self.blocks // self.depth
        return (tuple(self._pick(self._e, where[1], (b, h % self.heads)) for h in range(heads)),
                self._pick(self._f, where[1], (b,)))

    def eager(self, where, head, shape):
        i = self._pick(self._e, where[1], (where[2] * self.blocks // self.depth,
                                           head % self.heads))
        key = ("e", i, shape)
        if key not in self._cache:
            keep = self._fit(self._ek.mask(i), shape)
            none = ~keep.any(axis=1)            # cut to fewer keys: keep one (a dominant query)
            keep[np.flatnonzero(none), np.flatnonzero(none) % shape[1]] = True
            self._cache[key] = (keep, keep.sum(axis=1) == 1)
        return self._cache[key]

    def ffn(self, where, shape):
        i = self._pick(self._f, where[1], (where[2] * self.blocks // self.depth,))
        key = ("f", i, shape)
        if key not in self._cache:
            self._cache[key] = self._fit(self._fk.mask(i), shape)
        return self._cache[key]
