"""The CFSE commands of the command-level core model (:mod:`golden.core_model`): ``GELU``,
``RESIDUAL``, ``LAYERNORM`` and ``SOFTMAX`` on the model's memories, what ``hw/core_cfse.py``
does, bit for bit, with the same ``CYCLES``.

Every command reads OMEM words (requantized SDUE outputs) as rows: row ``r`` (token or query
``r``) is OMEM bank ``r``, channel ``c`` of the row is OMEM address ``ch_base + c`` of buffer
``obuf``. Codes become the CFSE's Q5.10 activations with :func:`golden.cfse.code_to_act`
(``in_shift``), results become IMEM codes with :func:`golden.cfse.act_to_code`
(``out_shift``), written where the next ``GEMM`` reads its operand: row ``r`` to IMEM bank
``r``, channel ``c`` to word ``base + c // lanes``, lane ``c % lanes`` of buffer ``ibuf``; the
lanes of the last word past ``n_ch`` are written 0 (a zero-padded reduction). Only rows
``< n_rows`` are written. docs/cfse.md, "Core commands".
"""

from __future__ import annotations

import numpy as np

from exion.regmap import mask_half

from . import cfse, cycle_model, ffn_reuse

__all__ = ["gelu", "residual", "layernorm", "softmax", "imem_words"]


def imem_words(codes, lanes: int):
    """``(rows, n)`` codes as IMEM words ``(rows, ceil(n / lanes), lanes)``, zero-padded."""
    codes = np.asarray(codes, np.int64)
    rows, n = codes.shape
    words = -(-n // lanes)
    out = np.zeros((rows, words * lanes), np.int64)
    out[:, :n] = codes
    return out.reshape(rows, words, lanes)


def _rows(model, c):
    """The command's OMEM rows as Q5.10: ``(rows, n_ch)``."""
    q = model.state.omem[c.obuf, :, c.ch_base:c.ch_base + c.n_ch]
    return cfse.code_to_act(q, c.in_shift)


def _mask_first(model, c):
    """First mask channel of the part ``c.mhalf`` names (``exion.regmap.mask_half``)."""
    return mask_half(model.limits.channels, c.mhalf)[0]


def _write(model, c, y):
    """Results ``y`` (rows < n_rows, n_ch) to IMEM buffer ``ibuf`` from word ``base``."""
    cfg = model.cfg
    codes = cfse.act_to_code(y, c.out_shift, cfg.data_width)
    w = imem_words(codes, cfg.lanes)
    model.state.imem[c.ibuf, :c.n_rows, c.base:c.base + w.shape[1], :] = w


def gelu(model, c, beats):
    """``GELU``: every OMEM row through :func:`golden.cfse.gelu`. With ``ffn_mask``, the
    FFN-Reuse keep-mask of the GELU output by :func:`golden.ffn_reuse.build_keep_mask`'s
    absolute rule on the Q5.10 codes (keep iff ``|h| > ffn_th``) into channels
    ``ch_base .. ch_base + n_ch - 1`` of the mask-memory part ``mhalf`` names (rows
    ``>= n_rows``: not kept)."""
    st, k = model.state, model.limits
    h = cfse.gelu(_rows(model, c))[:c.n_rows]
    _write(model, c, h)
    if c.ffn_mask:
        keep = np.zeros((k.rows, c.n_ch), bool)
        keep[:c.n_rows] = ffn_reuse.build_keep_mask(h, threshold=c.ffn_th)
        m0 = _mask_first(model, c) + c.ch_base
        st.mask[m0:m0 + c.n_ch] = keep.T
    st.regs.cycles = cycle_model.cfse_command_cycles("GELU", c.n_ch, c.n_rows)


def residual(model, c, beats):
    """``RESIDUAL``: ``x`` = IMEM buffer ``xbuf`` from word ``base`` (channel ``c`` at word
    ``base + c // lanes``, lane ``c % lanes``), ``f`` = the OMEM rows, both through
    ``in_shift``; :func:`golden.cfse.residual_add` with the scalar ``gate`` (1024 = 1.0)."""
    st, cfg = model.state, model.cfg
    words = -(-c.n_ch // cfg.lanes)
    x = st.imem[c.xbuf, :, c.base:c.base + words, :].reshape(cfg.rows, -1)[:, :c.n_ch]
    x = cfse.code_to_act(x, c.in_shift)
    gate = np.clip(c.gate, cfse.F.ACT_MIN, cfse.F.ACT_MAX)
    y = cfse.residual_add(x, _rows(model, c), np.full(x.shape, gate))[:c.n_rows]
    _write(model, c, y)
    st.regs.cycles = cycle_model.cfse_command_cycles("RESIDUAL", c.n_ch, c.n_rows)


def layernorm(model, c, beats):
    """``LAYERNORM``: :func:`golden.cfse.layernorm_adaln` of each row, the adaLN ``scale`` and
    ``shift`` of channel ``c`` from OMEM buffer ``mbuf``, bank 0, addresses ``sc_base + c`` and
    ``sh_base + c`` (an adaLN modulation ``GEMM``'s one output row), through ``in_shift``."""
    st = model.state
    mod = st.omem[c.mbuf, 0]
    scale = cfse.code_to_act(mod[c.sc_base:c.sc_base + c.n_ch], c.in_shift)
    shift = cfse.code_to_act(mod[c.sh_base:c.sh_base + c.n_ch], c.in_shift)
    y = cfse.layernorm_adaln(_rows(model, c)[:c.n_rows], scale, shift)
    _write(model, c, y)
    st.regs.cycles = cycle_model.cfse_command_cycles("LAYERNORM", c.n_ch, c.n_rows)


def softmax(model, c, beats):
    """``SOFTMAX``: :func:`golden.cfse.softmax` of each row (Q1.15 probabilities, then
    ``out_shift``); with ``key_mask`` key ``j`` of row ``r`` counts only where the mask memory
    keeps channel ``ch_base + j`` of the part ``mhalf`` names for row ``r`` (a ``PREDICT``'s
    keep-mask)."""
    st = model.state
    x = _rows(model, c)[:c.n_rows]
    keep = None
    if c.key_mask:
        m0 = _mask_first(model, c) + c.ch_base
        keep = st.mask[m0:m0 + c.n_ch, :c.n_rows].T
    p = cfse.softmax(x, keep)
    _write(model, c, p)
    st.regs.cycles = cycle_model.cfse_command_cycles("SOFTMAX", c.n_ch, c.n_rows)
