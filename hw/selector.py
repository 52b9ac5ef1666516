"""Key selector of the eager predictor: :func:`golden.eager.select`, one query row at a time.

The predicted scores of one query row stream in, one key per cycle, key 0 first, each into an
input register and from there into the list in the next cycle. A sorted list
of the ``max_keep`` largest scores seen so far (ties: the earlier key stays ahead, i.e. ascending
key index, exactly the golden ranking) is kept by insertion: every entry compares itself with
the new score in parallel, entries below the insertion point shift down by one, the last falls
off. After the row's last key the result is emitted:

* one key only: keep it, dominant;
* ``list[0] - list[1] > q_th`` (strict): dominant, keep ``list[0]`` only;
* else keep ``list[0 .. count-1]``.

Timing: the dominance test is registered, formed at every insertion for the list it leaves,
so the path from the list to the keep-mask has no subtraction or comparison in it (the FPGA
build's timing, docs/fpga.md); ``q_th`` must therefore hold from the row's last insertion until
its result is taken (the core holds it for the whole command).

This is *exact* top-k (no hardware-friendly approximation was needed): ``max_keep``
comparators and registers. ``count = topk_count(k, keys)`` comes from the host and must be in
``[1, max_keep]``; ``max_keep >= 2`` (the gap test needs two). See ``docs/predictor.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig, clog2
from exion.formats import max_keep as spec_max_keep
from exion.formats import shift_add_acc_width
from exion.limits import MAX_HEAD_DIM, MAX_KEYS

__all__ = ["Selector", "DEFAULT_MAX_KEYS", "DEFAULT_HEAD_DIM"]

#: Defaults of the generated selector (the ones ``hw.generate`` builds): 64 keys per row, scores
#: of a head_dim = 72 shift-add product (DiT-XL: 1152 / 16 heads).
DEFAULT_MAX_KEYS = MAX_KEYS
DEFAULT_HEAD_DIM = MAX_HEAD_DIM


class Selector(wiring.Component):
    """Gap test + exact top-``count`` selection of one query row.

    Parameters
    ----------
    cfg : ExionConfig
    max_keys : int
        Keys per row the keep-mask can hold.
    max_keep : int, optional
        Entries of the sorted list (the largest ``count`` allowed); default
        ``max(2, topk_count(cfg.ep_k, max_keys))``.
    score_width : int, optional
        Signed score width; default ``shift_add_acc_width(DEFAULT_HEAD_DIM, data_width,
        lod_steps)``.

    Members
    -------
    scores : In(stream.Signature(StructLayout({"score": signed(score_width), "last": 1})))
        One key per transfer, key 0 first; ``last`` marks the row's last key.
    q_th : In(score_width)
        Unsigned gap threshold, read at each insertion (held until the row's result is
        taken); the host clamps ``q_th_int`` to ``2**score_width - 1`` (no gap
        of two ``score_width``-bit values exceeds it, so the clamp changes nothing).
    count : In(range(max_keep + 1))
        Keys kept by a non-dominant row, ``topk_count(k, keys)``, in ``[1, max_keep]``.
    result : Out(stream.Signature(StructLayout({"keep": max_keys, "dominant": 1})))
        One transfer per row; bit ``j`` of ``keep`` = key ``j`` kept. Valid from the second
        cycle after the transfer of the row's last key (the input register, then the list)
        until taken; ``scores.ready`` is low from the last key's transfer until then.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "predictor"

    def __init__(self, cfg: ExionConfig, max_keys: int = DEFAULT_MAX_KEYS,
                 max_keep: int | None = None, score_width: int | None = None):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self.max_keys = int(max_keys)
        self.max_keep = (spec_max_keep(cfg.ep_k, self.max_keys) if max_keep is None
                         else int(max_keep))
        if self.max_keep < 2 or self.max_keep > self.max_keys:
            raise ValueError(f"max_keep = {max_keep} is out of range [2, {self.max_keys}]")
        self.score_width = (shift_add_acc_width(DEFAULT_HEAD_DIM, cfg.data_width, cfg.lod_steps)
                            if score_width is None else int(score_width))
        super().__init__({
            "scores": In(stream.Signature(data.StructLayout(
                {"score": signed(self.score_width), "last": 1}))),
            "q_th": In(self.score_width),
            "count": In(range(self.max_keep + 1)),
            "result": Out(stream.Signature(data.StructLayout(
                {"keep": self.max_keys, "dominant": 1}))),
        })

    def elaborate(self, platform):
        m = Module()
        N, P, SW = self.max_keys, self.max_keep, self.score_width
        iw = max(1, clog2(N))
        val = [Signal(signed(SW), name=f"val{i}") for i in range(P)]
        idx = [Signal(iw, name=f"idx{i}") for i in range(P)]
        ok = [Signal(name=f"ok{i}") for i in range(P)]
        key = Signal(iw)        # index of the next key
        done = Signal()         # the row is complete; result valid

        # Input register: a beat is inserted in the cycle after its transfer, so the path
        # from whoever computes the score (the predictor's sum, in the core) ends here and the
        # comparators start from a register. ``closed``: the row's last key has been taken.
        closed = Signal()
        s = Signal(signed(SW))
        s_last = Signal()
        take = Signal()         # a registered beat is inserted this cycle
        m.d.comb += self.scores.ready.eq(~closed)
        accept = self.scores.valid & ~closed
        m.d.sync += [take.eq(accept), s.eq(self.scores.payload.score),
                     s_last.eq(self.scores.payload.last)]
        with m.If(accept & self.scores.payload.last):
            m.d.sync += closed.eq(1)
        # ge[i]: entry i stays ahead of the new score (>=: earlier key wins a tie)
        ge = [Signal(name=f"ge{i}") for i in range(P)]
        for i in range(P):
            m.d.comb += ge[i].eq(ok[i] & (val[i] >= s))
        with m.If(take):
            for i in range(P):
                prev_ge = ge[i - 1] if i else 1
                with m.If(~ge[i]):
                    with m.If(prev_ge):        # insertion point
                        m.d.sync += [val[i].eq(s), idx[i].eq(key), ok[i].eq(1)]
                    with m.Else():             # shift down
                        m.d.sync += [val[i].eq(val[i - 1]), idx[i].eq(idx[i - 1]),
                                     ok[i].eq(ok[i - 1])]
            m.d.sync += key.eq(key + 1)
            with m.If(s_last):
                m.d.sync += done.eq(1)

        # Result. ``dominant`` of the final list is registered: every insertion forms it for
        # the list it leaves (the new top two are the old ones or the new score and one of
        # them; which, the insertion's own ge[0] / ge[1] say), so the gap's subtraction and
        # its comparison with q_th are not on the path from the list to the keep-mask (the
        # FPGA build's timing, docs/fpga.md); cycle for cycle the value the final list gives.
        q = self.q_th.as_unsigned()
        dominant = Signal(init=1)       # of the list in the registers: empty, one key: 1
        with m.If(take):
            m.d.sync += dominant.eq(Mux(~ge[0], ~ok[0] | _gap_gt(m, s, val[0], q, "gs0"),
                                        Mux(~ge[1], _gap_gt(m, val[0], s, q, "g0s"),
                                            _gap_gt(m, val[0], val[1], q, "g01"))))
        n_keep = Signal(range(P + 1))
        m.d.comb += n_keep.eq(Mux(dominant, 1, self.count))
        keep = Signal(N)
        bits = []
        for i in range(P):
            hot = Signal(N, name=f"hot{i}")
            m.d.comb += hot.eq(Mux(ok[i] & (i < n_keep), (1 << idx[i])[:N], 0))
            bits.append(hot)
        acc = bits[0]
        for b in bits[1:]:
            acc = acc | b
        m.d.comb += keep.eq(acc)
        m.d.comb += [self.result.valid.eq(done), self.result.payload.keep.eq(keep),
                     self.result.payload.dominant.eq(dominant)]
        with m.If(done & self.result.ready):
            m.d.sync += [done.eq(0), closed.eq(0), key.eq(0), dominant.eq(1)] + \
                        [o.eq(0) for o in ok]
        return m


def _gap_gt(m, a, b, q, name):
    """``a - b > q`` (``a``, ``b`` signed, ``q`` unsigned): the sign of ``a + ~b + ~q + 1``
    (``= a - b - q - 1``), the three operands first reduced to two by one carry-save layer
    (one LUT level), the ``+ 1`` as the carry word's free low bit, then one carry chain."""
    k = max(len(a), len(b), len(q) + 1) + 2
    xs, ys = Signal(signed(k), name=f"{name}_x"), Signal(signed(k), name=f"{name}_y")
    zs = Signal(signed(k), name=f"{name}_z")
    m.d.comb += [xs.eq(a), ys.eq(~b), zs.eq(-1 - q.as_unsigned())]
    sm, cy = Signal(k, name=f"{name}_s"), Signal(k, name=f"{name}_c")
    m.d.comb += [sm.eq(xs ^ ys ^ zs), cy.eq((xs & ys) | (xs & zs) | (ys & zs))]
    r = Signal(k, name=f"{name}_r")
    m.d.comb += r.eq(sm + Cat(Const(1, 1), cy[:k - 1]))
    return ~r[k - 1]
