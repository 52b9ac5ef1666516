"""One DiT block kept on chip: adaLN LayerNorm, QKV, softmax attention, projection, gated
residual, LayerNorm, FC1, GELU, FC2, gated residual, all as core commands between the block's
input load and its output read (docs/runtime.md, "A block on chip").

Every activation stays a ``data_width``-bit code with ``fo = data_width - 6`` fraction bits:
a GEMM's input codes have ``fo`` fraction bits, so its requantization shift is the weights'
``fw``; the CFSE commands take them with ``in_shift = 10 - fo`` and give them back with
``out_shift = 10 - fo`` (softmax: ``16 - data_width``, Q1.11 for ``P V``, whose shift is
``data_width - 1``). Biases are extra K columns against an IMEM word of ``2**(data_width -
2)`` the host loads once per buffer (the CFSE commands write only the words before it); the
adaLN-Zero gates are folded into the projection's and FC2's weights (``RESIDUAL`` takes one
scalar gate).

What the commands cannot do yet, done by plain data movement (no arithmetic on activations):
K and V reach WMEM through the host (``READ_OMEM`` of the QKV outputs, ``LOAD_WMEM``: no
command moves OMEM to WMEM), Q reaches IMEM the same way; an IMEM operand reaches OMEM (the
block input and the residual stream before each ``LAYERNORM``, the output) through an
identity ``GEMM`` (no command moves IMEM to OMEM or reads IMEM); an OMEM result reaches IMEM
as a ``RESIDUAL`` with a zero ``x`` (the heads' concatenated attention output). The
modulation (``adaLN``: one row per sample) is a GEMM the host reads before the block, for
the gates; its scale and shift are recomputed into OMEM by the same GEMM inside the block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from golden import intsem
from golden.sdue import dense_wmem_image

__all__ = ["Operand", "BlockPlan", "plan_block", "run_block"]


@dataclass
class Operand:
    """A GEMM's integer weights ``w`` (K rounded up to whole lane chunks, plus one word of
    bias rows where there is a bias) and its requantization ``shift``.

    Members
    -------
    w : numpy.ndarray
    shift, k, kc : int
        ``k``: the MAC columns (no bias); ``kc``: lane chunks the GEMM reads (bias word too).
    """

    w: np.ndarray
    shift: int
    k: int
    kc: int


def operand(wf: np.ndarray, bf: np.ndarray, cfg) -> Operand:
    """Float ``W (K, N)`` and bias to the codes of a GEMM whose inputs have ``fo`` fraction
    bits: weights ``fw`` fraction bits (``model.QLinear``'s rule), shift ``fw``, the bias in
    accumulator units over ``n_extra`` rows against inputs of ``2**(W - 2)``."""
    from .model import QLinear
    W, lanes, fo = cfg.data_width, cfg.lanes, cfg.data_width - 6
    ql = QLinear(wf, bf, W)
    if ql.fw < 0:
        raise ValueError(f"weights of magnitude >= 2**{W - 1}: fw = {ql.fw} (shift < 0)")
    k = ql.w.shape[0]
    kc = -(-k // lanes)
    bias = bool(np.any(ql.b))
    w = np.zeros(((kc + bias) * lanes, ql.w.shape[1]), np.int64)
    w[:k] = ql.w
    if bias:
        big, qm = 1 << (W - 2), intsem.qmax(W)
        bacc = ql.b * 2.0 ** (ql.fw + fo)
        n_extra = max(1, math.ceil(float(np.max(np.abs(bacc))) / (qm * big)))
        if n_extra > lanes:
            raise ValueError(f"bias needs {n_extra} columns, more than lanes = {lanes}")
        w[kc * lanes:kc * lanes + n_extra] = np.rint(bacc / (big * n_extra)).astype(np.int64)
    return Operand(w, ql.fw, k, kc + bias)


@dataclass
class BlockPlan:
    """What :func:`run_block` issues for block ``i`` of one sample.

    Members
    -------
    qkv, proj, fc1, fc2, mod1, mod2 : Operand
        ``mod1`` / ``mod2``: the adaLN GEMM's ``[scale | shift]`` columns of each LayerNorm.
    c : numpy.ndarray
        The conditioning row, codes with ``fo`` fraction bits.
    heads : int
    """

    qkv: Operand
    proj: Operand
    fc1: Operand
    fc2: Operand
    mod1: Operand
    mod2: Operand
    c: np.ndarray
    heads: int


def plan_block(weights, i: int, c_act, cfg, host) -> BlockPlan:
    """Operands of block ``i`` for the conditioning ``c_act`` (Q5.10, ``(1, hidden)``); the
    adaLN GEMM runs on ``host`` (commands) and its gates are folded into ``proj`` / ``fc2``."""
    sp = weights.spec
    d, fo, W = sp.hidden, cfg.data_width - 6, cfg.data_width
    b = f"blocks.{i}."
    c = intsem.requantize(np.asarray(c_act, np.int64), 10 - fo, W)
    wa, ba = weights.linear(b + "ada")
    ada = operand(wa, ba, cfg)
    mod = host.gemm(_with_bias_word(c, ada, cfg), ada.w, ada.shift, k_macs=ada.k)[0]
    gate = [(mod[j * d:(j + 1) * d] << (10 - fo)) / 1024.0 for j in (2, 5)]

    def cols(j0, j1):        # [scale | shift] of a LayerNorm: ada chunks j0 (shift), j1 (scale)
        idx = np.r_[j1 * d:(j1 + 1) * d, j0 * d:(j0 + 1) * d]
        return operand(wa[:, idx], ba[idx], cfg)
    wq, wk, wv = (weights.linear(b + "attn." + n)[0] for n in "qkv")
    wqkv = np.concatenate([wq * sp.head_dim ** -0.5, wk, wv], axis=1)
    wp, bp = weights.linear(b + "attn.proj")
    w2, b2 = weights.linear(b + "ffn.fc2")
    return BlockPlan(qkv=operand(wqkv, np.zeros(3 * d), cfg),
                     proj=operand(wp * gate[0], bp * gate[0], cfg),
                     fc1=operand(*weights.linear(b + "ffn.fc1"), cfg),
                     fc2=operand(w2 * gate[1], b2 * gate[1], cfg),
                     mod1=cols(0, 1), mod2=cols(3, 4), c=c, heads=sp.heads)


def _with_bias_word(x, op: Operand, cfg):
    """``x`` padded to ``op.kc`` lane chunks, the bias word (if any) all ``2**(W - 2)``."""
    out = np.zeros((x.shape[0], op.kc * cfg.lanes), np.int64)
    out[:, :x.shape[1]] = x
    if op.w.shape[0] > -(-op.k // cfg.lanes) * cfg.lanes:
        out[:, (op.kc - 1) * cfg.lanes:] = 1 << (cfg.data_width - 2)
    return out


class _Chip:
    """Explicit buffers: the schedule of :func:`run_block` names every IMEM / OMEM buffer."""

    def __init__(self, host):
        self.h, self.cfg = host, host.cfg
        self.fo = self.cfg.data_width - 6

    def load(self, x, ibuf, base=0):
        self.h.load_imem(np.asarray(x, np.int64), buf=ibuf, base=base)

    def bias_word(self, ibuf, word):
        self.load(np.full((self.cfg.rows, self.cfg.lanes), 1 << (self.cfg.data_width - 2)),
                  ibuf, word)

    def gemm(self, ibuf, w, kc, shift, obuf, g, *, ch_base=0, k=None, staging=False):
        """Weight tiles of whole column blocks that fit one WMEM buffer, side by side in
        ``obuf`` from ``ch_base``."""
        cfg = self.cfg
        per = self.h.limits.wmem_words // kc * cfg.cols
        k = w.shape[0] if k is None else k
        for c0 in range(0, w.shape[1], per):
            n = min(per, w.shape[1] - c0)
            wbuf = self.h.load_wmem(dense_wmem_image(w[:, c0:c0 + n], cfg), 1)
            blocks = -(-n // cfg.cols)
            self.h.issue("GEMM", kc=kc, shift=shift, ch_base=ch_base + c0, n_ch=n, ibuf=ibuf,
                         wbuf=wbuf, obuf=obuf, n_rows=g, wbase=0,
                         acc=dict(busy=g * n, k=0 if staging else k, blocks=blocks,
                                  busy_rows=g * blocks, busy_cols=n, staging=staging))

    def op(self, op: Operand, ibuf, obuf, g):
        self.gemm(ibuf, op.w, op.kc, op.shift, obuf, g, k=op.k)

    def identity(self, ibuf, n, obuf, g):
        """IMEM ``ibuf`` channels ``0..n-1`` to OMEM ``obuf`` unchanged."""
        self.gemm(ibuf, np.eye(-(-n // self.cfg.lanes) * self.cfg.lanes, n, dtype=np.int64),
                  -(-n // self.cfg.lanes), 0, obuf, g, staging=True)

    def cfse(self, opn, n, g, **f):
        self.h.issue(opn, acc=dict(cfse=(opn.lower(), n * g)), n_ch=n, n_rows=g, ch_base=0,
                     in_shift=10 - self.fo, base=0, **f)

    def read(self, obuf, n, g):
        return self.h.read_omem(obuf, n)[:g]


def run_block(host, plan: BlockPlan, x) -> np.ndarray:
    """The block on ``x`` (codes with ``fo`` fraction bits, ``(tokens, hidden)``); returns
    its output codes. Needs 2 IMEM and 2 OMEM buffers, ``tokens <= 64``, every GEMM's input in
    one IMEM buffer and its outputs in one OMEM buffer."""
    cfg = host.cfg
    ch = _Chip(host)
    fo, W, lanes = ch.fo, cfg.data_width, cfg.lanes
    x = np.asarray(x, np.int64)
    n, d = x.shape
    hd = d // plan.heads
    so = 10 - fo
    groups = [(g0, min(g0 + cfg.rows, n)) for g0 in range(0, n, cfg.rows)]
    kd = -(-d // lanes)

    def modulation(op: Operand):        # [scale | shift] into OMEM 1, bank 0
        ch.load(_with_bias_word(plan.c, op, cfg), 0)
        ch.op(op, 0, 1, 1)

    # phase 1: LayerNorm 1 and QKV of every row group (K and V of all tokens are weights)
    modulation(plan.mod1)
    qkv = np.zeros((n, 3 * d), np.int64)
    for g0, g1 in groups:
        g = g1 - g0
        ch.load(_pad(x[g0:g1], kd * lanes), 0)
        ch.identity(0, d, 0, g)
        ch.cfse("LAYERNORM", d, g, out_shift=so, obuf=0, mbuf=1, sc_base=0, sh_base=d, ibuf=1)
        if plan.qkv.kc > kd:
            ch.bias_word(1, kd)
        ch.op(plan.qkv, 1, 0, g)
        qkv[g0:g1] = ch.read(0, 3 * d, g)
    # phase 2 per row group: attention, projection, residual, LayerNorm 2, FFN, residual
    out = np.zeros((n, d), np.int64)
    kq = -(-hd // lanes)
    for g0, g1 in groups:
        g = g1 - g0
        for h in range(plan.heads):
            q = qkv[g0:g1, h * hd:(h + 1) * hd]
            kt = qkv[:, d + h * hd:d + (h + 1) * hd].T
            v = qkv[:, 2 * d + h * hd:2 * d + (h + 1) * hd]
            ch.load(_pad(q, kq * lanes), 0)
            ch.gemm(0, _pad_rows(kt, kq * lanes), kq, fo, 0, g, k=hd)
            ch.cfse("SOFTMAX", n, g, out_shift=16 - W, obuf=0, ibuf=1)
            kn = -(-n // lanes)
            ch.gemm(1, _pad_rows(v, kn * lanes), kn, W - 1, 1, g, ch_base=h * hd, k=n)
        ch.load(np.zeros((g, kd * lanes), np.int64), 0)             # x = 0: a copy
        ch.cfse("RESIDUAL", d, g, out_shift=so, obuf=1, xbuf=0, gate=1024, ibuf=1)
        if plan.proj.kc > kd:
            ch.bias_word(1, kd)
        ch.op(plan.proj, 1, 0, g)
        ch.load(_pad(x[g0:g1], kd * lanes), 0)
        ch.cfse("RESIDUAL", d, g, out_shift=so, obuf=0, xbuf=0, gate=1024, ibuf=1)
        modulation(plan.mod2)
        ch.identity(1, d, 0, g)
        ch.cfse("LAYERNORM", d, g, out_shift=so, obuf=0, mbuf=1, sc_base=0, sh_base=d, ibuf=0)
        if plan.fc1.kc > kd:
            ch.bias_word(0, kd)
        ch.op(plan.fc1, 0, 0, g)
        nf = plan.fc1.w.shape[1]
        ch.cfse("GELU", nf, g, out_shift=so, obuf=0, ibuf=0)
        if plan.fc2.kc > -(-nf // lanes):
            ch.bias_word(0, -(-nf // lanes))
        ch.op(plan.fc2, 0, 1, g)
        ch.cfse("RESIDUAL", d, g, out_shift=so, obuf=1, xbuf=1, gate=1024, ibuf=0)
        ch.identity(0, d, 0, g)
        out[g0:g1] = ch.read(0, d, g)
    return out


def _pad(x, k):
    out = np.zeros((x.shape[0], k), np.int64)
    out[:, :x.shape[1]] = x
    return out


def _pad_rows(w, k):
    out = np.zeros((k, w.shape[1]), np.int64)
    out[:w.shape[0]] = w
    return out
