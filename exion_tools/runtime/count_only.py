"""The count-only path: a run's cycles, MACs, bytes and action counts without its data path
(docs/runtime.md, "Count-only runs").

:class:`CountBackend` answers the host's commands from their fields alone: ``CYCLES`` from
``golden.cycle_model`` (the formulas ``golden.core_model`` uses), ``SCHEDULE``'s vectors from
``golden.conmerge.cau_schedule`` of the mask window, zeros for every frame. :class:`CountHost`
is a :class:`exion_tools.runtime.lower.Host` on it whose operations are memoized: an
operation's counters depend only on its shapes (and, for a sparse GEMM, on its keep-mask), so
the first call of a signature runs the host's own code on the count backend into a scratch
:class:`Stats` and later calls add that delta. :class:`CountRuntime` is the DiT runtime with
activations replaced by zeros of the right shape: the only data its counters depend on are
the masks (eager prediction's keep-mask, FFN-Reuse's FC1 keep-mask), which a mask source
gives: :class:`ReplayMasks` (those an executing run recorded, :class:`RecordingRuntime`: the
counters then equal the executing run's exactly) or :class:`TraceMasks` (the real masks of
``data/traces256``, mapped onto the model's shape).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from golden import intsem

from .count_backend import CountBackend, zero_operand
from .count_masks import MaskLog, ReplayMasks, TraceMasks
from .counts import LayerRow, Stats
from .lower import Host
from .model import DiTRuntime

__all__ = ["PATHS", "make_runtime", "CountBackend", "CountHost", "FastHost", "CountRuntime", "RecordingRuntime", "MaskLog",
           "ReplayMasks", "TraceMasks"]

_ROW_FIELDS = [f.name for f in dataclasses.fields(LayerRow)
               if f.name not in ("sample", "iteration", "block", "layer")]


#: Memoized operation deltas per (configuration, overlap), shared by every CountHost.
_MEMOS: dict = {}



def _add(st, rows, counts: dict, cycles: int) -> None:
    """Add recorded counters to the run's statistics ``st``: per-layer ``rows`` as
    ``(layer, [(field, value), ...])`` (None: no row), the action ``counts`` and ``cycles``."""
    for layer, fields in rows or ():
        st.layer = layer
        r = st.row()
        for f, v in fields:
            setattr(r, f, getattr(r, f) + v)
    c = st.counts
    for k, v in counts.items():
        c.counts[k] = c.counts.get(k, 0) + v
    c.cycles += cycles

class CountHost(Host):
    """A :class:`Host` on a :class:`CountBackend` whose operations are memoized by signature
    (shapes; a sparse GEMM's keep-mask per row group); results are zeros.

    Parameters
    ----------
    cfg : ExionConfig
    stats : Stats
    """

    def __init__(self, cfg, stats: Stats, *, overlap: bool = False):
        super().__init__(cfg, CountBackend(cfg), stats, overlap=overlap)
        # the deltas depend on the configuration and the overlap only: runs share them
        self._memo: dict = _MEMOS.setdefault((cfg, self.overlap), {})
        if len(_MEMOS) > 16:
            _MEMOS.clear()

    def _delta(self, key, run, extra=lambda: None):
        """Counters of ``run()`` (recorded once per ``key``) added to :attr:`stats`;
        returns ``extra()`` as it was after that run."""
        d = self._memo.get(key)
        st = self.stats
        if d is None:
            tmp = Stats(self.cfg)
            tmp.where, tmp.layer = st.where, st.layer
            self.stats = tmp
            try:
                run()
            finally:
                self.stats = st
            row = tmp.rows.get((*st.where, st.layer))
            d = self._memo[key] = (None if row is None else
                                   [(f, getattr(row, f)) for f in _ROW_FIELDS
                                    if getattr(row, f)],
                                   dict(tmp.counts.counts), tmp.counts.cycles, extra())
        fields, counts, cycles, out = d
        _add(st, None if fields is None else [(st.layer, fields)], counts, cycles)
        return out

    def _sparse_image(self, w, words):
        kc = -(-np.shape(w)[0] // self.cfg.lanes)
        return zero_operand((self.cfg.cols, len(words) * kc, self.cfg.merge_degree,
                       self.cfg.lanes)), 0, 0

    def load_wmem(self, img, streams: int) -> int:
        buf = self._next("w", self.cfg.wmem_buffers)
        self._cmd("LOAD_WMEM", buf=buf, base=0, count=img.shape[1],
                  streams=0 if streams >= self.cfg.merge_degree else streams)
        return buf

    def gemm(self, x, w, shift: int, *, ffn_th=None, k_macs=None):
        m, n = np.shape(x)[0], np.shape(w)[1]
        self._delta(("gemm", np.shape(x), np.shape(w), k_macs, ffn_th is not None),
                    lambda: Host.gemm(self, x, w, shift, ffn_th=ffn_th, k_macs=k_macs))
        y = np.zeros((m, n), np.int64)
        return y if ffn_th is None else (y, np.zeros((m, n), bool))

    def sparse_gemm(self, x, w, keep, shift: int, *, k_macs=None):
        keep = np.asarray(keep, bool)
        m = np.shape(x)[0]
        before = None
        for g0 in range(0, m, self.cfg.rows):
            g1 = min(g0 + self.cfg.rows, m)
            kg = keep[g0:g1]
            first, last = self._delta(
                ("sparse", kg.shape, np.packbits(kg).tobytes(), np.shape(x)[1], np.shape(w),
                 k_macs),
                lambda: Host.sparse_gemm(self, x[g0:g1], w, kg, shift, k_macs=k_macs),
                lambda: self._sparse_edges)
            if self.overlap and before is not None:
                # one pipeline over all row groups: this group's first SCHEDULE ran beside
                # the previous group's last GEMM (Host._sched_account)
                hidden = min(first, before)
                r = self.stats.row()
                r.cycles -= hidden
                r.schedule_cycles -= hidden
                self.stats.counts.cycles -= hidden
            before = last
        return np.zeros((m, np.shape(w)[1]), np.int64)

    def predict(self, qp, kp, q_th: int, topk: int):
        m, n = np.shape(qp)[0], np.shape(kp)[0]
        self._delta(("predict", np.shape(qp), np.shape(kp), topk),
                    lambda: Host.predict(self, qp, kp, q_th, topk))
        return np.zeros((m, n), bool), np.zeros(m, bool)

    def gelu(self, x):
        self._delta(("gelu", np.shape(x)), lambda: Host.gelu(self, x))
        return np.zeros(np.shape(x), np.int64)

    def residual(self, x, f, gate=None):
        shape = np.broadcast_shapes(np.shape(x), np.shape(f))
        self._delta(("residual", shape), lambda: Host.residual(self, x, f, gate))
        return np.zeros(shape, np.int64)

    def layernorm(self, x, scale=None, shift=None):
        self._delta(("layernorm", np.shape(x)), lambda: Host.layernorm(self, x, scale, shift))
        return np.zeros(np.shape(x), np.int64)

    def softmax(self, s, keep=None):
        self._delta(("softmax", np.shape(s), keep is not None),
                    lambda: Host.softmax(self, s, keep))
        return np.zeros(np.shape(s), np.int64)


# -- the runtimes --------------------------------------------------------------------------

class RecordingRuntime(DiTRuntime):
    """The executing runtime, recording the masks it uses into ``log`` (a :class:`MaskLog`)
    for a count-only run to replay."""

    def __init__(self, *args, log: MaskLog, **kw):
        super().__init__(*args, **kw)
        self.log = log

    def _eager_rest(self, h, qkv, cq, ck, cv, keep, dom):
        self.log.eager.append((keep.copy(), dom.copy()))
        return super()._eager_rest(h, qkv, cq, ck, cv, keep, dom)

    def linear(self, x, ql, *, ffn_th=None, keep=None):
        if keep is not None:
            self.log.ffn.append(np.array(keep, bool))
        return super().linear(x, ql, ffn_th=ffn_th, keep=keep)


class CountRuntime(DiTRuntime):
    """:class:`DiTRuntime` without activations: every GEMM, CFSE operation and prediction is
    issued with operands of the right shape on a :class:`CountHost`; the masks come from
    ``masks`` (:class:`ReplayMasks`, :class:`TraceMasks`).

    Parameters
    ----------
    weights, cfg, mode, host, cfse
        As :class:`DiTRuntime` (``host``: a :class:`CountHost`).
    masks : ReplayMasks or TraceMasks
        Needed for modes ``ep``, ``ffnr``, ``all``.
    depth : int or None
        Blocks to run with block 0's weights (a synthetic shape's blocks all have the same
        shapes and biases: ``weights`` then needs only one block); default the weights' own.
    """

    def __init__(self, weights, cfg, mode, host: CountHost, cfse="chip", *, masks=None,
                 depth=None):
        super().__init__(weights, cfg, mode, host, cfse=cfse)
        self.masks = masks
        self._blocks: dict = {}                 # block key -> its counters
        if depth is not None and depth != self.spec.depth:
            for i in range(self.spec.depth, depth):
                for n in ("qkv", "attn.proj", "ffn.fc1", "ffn.fc2", "ada"):
                    self.lin[f"blocks.{i}.{n}"] = self.lin[f"blocks.0.{n}"]
            self.spec = dataclasses.replace(self.spec, depth=depth)

    def block(self, x, c_act, i: int, sample: int, dense_iter: bool):
        """The block's counters, recorded once per (masks, FFN-Reuse state) and added again
        for every block with the same (a shape model's blocks differ only in their masks)."""
        st = self.stats
        key = None
        if self.masks is None or self.mode == "base":
            key = ()
        elif self.masks.block_key(st.where, self.spec.heads) is not None:
            key = self.masks.block_key(st.where, self.spec.heads)
        if key is not None and self.ffnr:
            key += (dense_iter, (sample, i) in self.ffn_state)
        d = self._blocks.get(key) if key is not None else None
        if d is None:
            tmp = Stats(self.cfg)
            tmp.where, tmp.layer = st.where, st.layer
            self.stats = self.host.stats = tmp
            try:
                super().block(x, c_act, i, sample, dense_iter)
            finally:
                self.stats = self.host.stats = st
            d = ([(r.layer, [(f, getattr(r, f)) for f in _ROW_FIELDS if getattr(r, f)])
                  for r in tmp.rows.values()], dict(tmp.counts.counts), tmp.counts.cycles)
            if key is not None:
                self._blocks[key] = d
        rows, counts, cycles = d
        _add(st, rows, counts, cycles)
        if self.ffnr:
            self.ffn_state[(sample, i)] = True
        return x

    def gated(self, name, gate):
        return self.lin[name]                   # the same shapes and bias columns

    def shift_add(self, a, b, key=None):
        return zero_operand((np.shape(a)[0], np.shape(b)[1]))

    def nonlinear(self, op, *args, elements, cfse_op=None, **kw):
        if self.placement[op] != "host" and self.host.cfse_ok(op, np.shape(args[0])[-1]):
            return getattr(self.host, op)(*args, **kw)
        self.stats.host(cfse_op or op, elements)
        return np.zeros(np.shape(args[0]), np.int64)

    def _bias_columns(self, ql) -> int:
        """``DiTRuntime.linear``'s bias K columns with the input shift (``auto_shift``) of
        the zero activations here, 0: a larger input shift can only need fewer columns, which
        changes the counters only where that drops a whole lane chunk (not in dit64 or
        DiT-XL/2: tests/test_runtime_count.py, ``bench_runtime_modes.py --check``)."""
        if not np.any(ql.b):
            return 0
        W = self.cfg.data_width
        fw = ql.fw + min(0, ql.fw + 10 - self.fo)           # DiTRuntime.linear's s < 0 case
        bacc = ql.b * 2.0 ** (10 + fw)
        return max(1, math.ceil(float(np.max(np.abs(bacc))) / (intsem.qmax(W) << (W - 2))))

    def linear(self, x, ql, *, ffn_th=None, keep=None):
        """``DiTRuntime.linear``'s commands: its K parts, the bias as extra K columns
        (:meth:`_bias_columns`), operands of zeros."""
        cfg = self.cfg
        m = np.shape(x)[0]
        k, n = ql.w.shape
        on_chip = ffn_th is not None or keep is not None or self.gemm_epilogue
        kt = k + (self._bias_columns(ql) if on_chip else 0)
        kmax = self.host.kc_max * cfg.lanes
        for k0 in range(0, kt, kmax):
            k1 = min(k0 + kmax, kt)
            km = max(0, min(k1, k) - k0)
            xs, ws = zero_operand((m, k1 - k0)), zero_operand((k1 - k0, n))
            if keep is not None:
                self.host.sparse_gemm(xs, ws, keep, 0, k_macs=km)
            elif ffn_th is not None and kt <= kmax:
                self.host.gemm(xs, ws, 0, ffn_th=ffn_th, k_macs=km)
            else:
                self.host.gemm(xs, ws, 0, k_macs=km)
        y = np.zeros((m, n), np.int64)
        if not on_chip and np.any(ql.b):
            self.nonlinear("residual", y, zero_operand(y.shape), elements=y.size)
        return (y, y) if ffn_th is None else (y, y, np.zeros((m, n), bool))

    def _eager_rest(self, h, qkv, cq, ck, cv, keep, dom):
        n = np.shape(h)[0]
        keep, dom = self.masks.eager(self.stats.where, cq.start // (cq.stop - cq.start),
                                     (n, n))
        return super()._eager_rest(h, qkv, cq, ck, cv, keep, dom)

    def ffn(self, h, i: int, sample: int, dense_iter: bool, gate=None):
        st, b = self.stats, f"blocks.{i}."
        n = np.shape(h)[0]
        fc1 = self.lin[b + "ffn.fc1"]
        nf = fc1.w.shape[1]
        st.layer = "fc1"
        if not self.ffnr:
            self.linear(h, fc1)
        elif dense_iter or (sample, i) not in self.ffn_state:
            lo = -(1 << (self.cfg.data_width - 1)) - 1
            self.linear(h, fc1, ffn_th=(self.th_min, lo))
            self.ffn_state[(sample, i)] = True
        else:
            self.linear(h, fc1, keep=self.masks.ffn(st.where, (n, nf)))
        g = self.nonlinear("gelu", np.zeros((n, nf), np.int64), elements=n * nf)
        st.layer = "fc2"
        return self.linear(g, self.lin[b + "ffn.fc2"])[1]



class FastHost(CountHost):
    """The counters of :class:`CountHost` (from the real operands' shapes and masks) with the
    results of :class:`exion_tools.runtime.golden_host.GoldenHost` (the golden functions, bit
    for bit what the model backend gives: tests/test_runtime.py): a run of
    :class:`DiTRuntime` on it has the model backend's images and counters without
    ``golden.core_model``'s per-command data path (``exion run --backend fast``)."""

    def __init__(self, cfg, stats: Stats, *, overlap: bool = False):
        from .golden_host import GoldenHost
        super().__init__(cfg, stats, overlap=overlap)
        self.golden = GoldenHost(cfg, Stats(cfg), fast=True)

    def gemm(self, x, w, shift: int, *, ffn_th=None, k_macs=None):
        super().gemm(x, w, shift, ffn_th=ffn_th, k_macs=k_macs)
        return self.golden.gemm(x, w, shift, ffn_th=ffn_th, k_macs=k_macs)

    def sparse_gemm(self, x, w, keep, shift: int, *, k_macs=None):
        super().sparse_gemm(x, w, keep, shift, k_macs=k_macs)
        return self.golden.sparse_gemm(x, w, keep, shift, k_macs=k_macs)

    def predict(self, qp, kp, q_th: int, topk: int):
        super().predict(qp, kp, q_th, topk)
        return self.golden.predict(qp, kp, q_th, topk)

    def gelu(self, x):
        super().gelu(x)
        return self.golden.gelu(x)

    def residual(self, x, f, gate=None):
        super().residual(x, f, gate)
        return self.golden.residual(x, f, gate)

    def layernorm(self, x, scale=None, shift=None):
        super().layernorm(x, scale, shift)
        return self.golden.layernorm(x, scale, shift)

    def softmax(self, s, keep=None):
        super().softmax(s, keep)
        return self.golden.softmax(s, keep)


#: How a run computes (``exion run --backend``'s values besides ``rtl``).
PATHS = ("model", "fast", "count")


def make_runtime(path: str, weights, cfg, mode: str, stats: Stats, *, cfse: str = "chip",
                 overlap: bool = True, depth: int | None = None, backend=None):
    """The runtime of ``path``: ``model`` (``backend``, default the model backend), ``fast``
    (:class:`FastHost`), ``count`` (:class:`CountRuntime` with :class:`TraceMasks`;
    ``depth``: blocks to run with block 0's weights)."""
    if path == "model":
        from .backend import make_backend
        be = backend if backend is not None else make_backend("model", cfg)
        return DiTRuntime(weights, cfg, mode, Host(cfg, be, stats, overlap=overlap), cfse=cfse)
    if path == "fast":
        return DiTRuntime(weights, cfg, mode, FastHost(cfg, stats, overlap=overlap), cfse=cfse)
    if path == "count":
        d = depth or weights.spec.depth
        return CountRuntime(weights, cfg, mode, CountHost(cfg, stats, overlap=overlap),
                            cfse=cfse, masks=TraceMasks(cfg.iterations, d), depth=d)
    raise ValueError(f"path = {path!r} is not one of {', '.join(PATHS)}")
