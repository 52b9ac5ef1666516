"""The CFSE commands as the runtime's non-linear operations (docs/runtime.md, "CFSE on chip").

:class:`CfseCommands` is a part of :class:`exion_tools.runtime.lower.Host`: ``gelu``,
``softmax``, ``layernorm`` and ``residual`` with the arguments and results of
``golden.cfse``'s functions (Q5.10 activations; softmax Q1.15), each run as the core's
``GELU`` / ``SOFTMAX`` / ``LAYERNORM`` / ``RESIDUAL`` command per row group.

The commands read OMEM and write IMEM, and the core has no command that loads OMEM or reads
IMEM back, so an operand the host holds reaches OMEM through an identity ``GEMM`` (``LOAD_IMEM``
of the codes, weights = the identity, shift 0: the codes unchanged) and a result leaves IMEM
through another one and ``READ_OMEM`` ("staging", counted in ``staging_cycles``). A schedule
that keeps the block on chip (``exion_tools/runtime/block.py``) needs none of them.

Formats: an operand enters as ``data_width``-bit codes with ``fo = data_width - 6`` fraction
bits (``requantize`` by ``10 - fo``: exact for GEMM outputs, a rounding of the residual
stream), ``in_shift = 10 - fo``; results leave with ``out_shift = 10 - fo`` (softmax: ``16 -
data_width``, the host path's requantization of P), and come back shifted to Q5.10 / Q1.15.
"""

from __future__ import annotations

import numpy as np

from golden import intsem
from golden.sdue import dense_wmem_image

__all__ = ["CfseCommands", "MAX_SOFTMAX_KEYS_CHIP"]

#: Keys one ``SOFTMAX`` row takes (``exion.limits.MAX_KEYS``: the unit's 64-entry row).
MAX_SOFTMAX_KEYS_CHIP = 64


class CfseCommands:
    """The CFSE operations of a :class:`Host` (``cfg``, ``limits``, ``backend``, ``stats``,
    ``_cmd``, ``load_imem``, ``load_wmem``, ``read_omem``, ``_identity_images`` come from
    it)."""

    # -- which shapes the commands take --------------------------------------------------
    def cfse_ok(self, op: str, n: int) -> bool:
        """Whether rows of ``n`` channels (keys) fit one command (else the host runs ``op``).
        ``GELU`` / ``RESIDUAL`` split channels, ``LAYERNORM`` / ``SOFTMAX`` cannot."""
        if op == "gelu":
            return True
        if op == "residual":                  # x and the result: two IMEM buffers
            return self.cfg.imem_buffers >= 2
        if op == "softmax":
            return n <= min(MAX_SOFTMAX_KEYS_CHIP, self._chunk())
        # LAYERNORM: the scale and shift in a second OMEM buffer
        return (n <= self._chunk() and 2 * n <= self.limits.omem_words
                and self.cfg.omem_buffers >= 2)

    def _chunk(self) -> int:
        """Channels one command covers: one OMEM buffer, one IMEM buffer."""
        return min(self.limits.omem_words, self.limits.imem_words * self.cfg.lanes)

    def _fo(self) -> int:
        return self.cfg.data_width - 6

    # -- staging through identity GEMMs ------------------------------------------------------
    def _identity_gemm(self, ibuf, kc, rows_in, n_out, obuf, ch_base):
        """``GEMM`` of IMEM ``ibuf`` words ``0..kc-1`` with the identity on input channels
        ``0 .. n_out - 1`` into ``obuf`` channels ``ch_base ..``."""
        cfg, lim = self.cfg, self.limits
        per = lim.wmem_words // kc * cfg.cols
        cache = self._identity_images
        for c0 in range(0, n_out, per):
            nc = min(per, n_out - c0)
            img = cache.get((kc, nc, c0))
            if img is None:                   # the same few tiles again and again
                w = np.zeros((kc * cfg.lanes, nc), np.int64)
                w[c0 + np.arange(nc), np.arange(nc)] = 1
                img = cache[(kc, nc, c0)] = dense_wmem_image(w, cfg)
            wbuf = self.load_wmem(img, 1)
            blocks = -(-nc // cfg.cols)
            self._cmd("GEMM", kc=kc, shift=0, ch_base=ch_base + c0, n_ch=nc, ibuf=ibuf,
                      wbuf=wbuf, obuf=obuf, n_rows=rows_in, wbase=0,
                      acc=dict(busy=rows_in * nc, k=0, blocks=blocks, staging=True))

    def _to_omem(self, codes, obuf):
        """Codes ``(g, n)`` (``g <= rows``) into OMEM ``obuf``, channel ``c`` at address ``c``."""
        cfg = self.cfg
        g, n = codes.shape
        # the largest input chunk whose identity tile fits one WMEM buffer
        k = min(self.limits.imem_words, -(-n // cfg.lanes))
        while k > 1 and self.limits.wmem_words // k * cfg.cols < k * cfg.lanes:
            k -= 1
        cc = k * cfg.lanes
        for c0 in range(0, n, cc):
            part = codes[:, c0:c0 + cc]
            kc = -(-part.shape[1] // cfg.lanes)
            x = np.zeros((g, kc * cfg.lanes), np.int64)
            x[:, :part.shape[1]] = part
            ibuf = self.load_imem(x)
            self._identity_gemm(ibuf, kc, g, part.shape[1], obuf, c0)

    def _from_imem(self, ibuf, n, g, keep_obuf=None) -> np.ndarray:
        """Codes of IMEM ``ibuf`` words ``0..`` (``g`` rows, ``n`` channels) back to the host
        (through an OMEM buffer other than ``keep_obuf``)."""
        kc = -(-n // self.cfg.lanes)
        obuf = self._next("o", self.cfg.omem_buffers)
        if obuf == keep_obuf:
            obuf = self._next("o", self.cfg.omem_buffers)
        self._identity_gemm(ibuf, kc, g, n, obuf, 0)
        return self.read_omem(obuf, n)[:g]

    def _cfse(self, op, f, n, g):
        self._cmd(op, acc=dict(cfse=(op.lower(), n * g)), n_ch=n, n_rows=g, ch_base=0, **f)

    def _codes(self, x):
        return intsem.requantize(np.asarray(x, np.int64), 10 - self._fo(), self.cfg.data_width)

    def _groups(self, m):
        return [(g0, min(g0 + self.cfg.rows, m)) for g0 in range(0, m, self.cfg.rows)]

    def _elementwise(self, op, x, f=None, extra=None):
        """``GELU`` or ``RESIDUAL`` per row group and channel chunk; returns Q5.10."""
        cfg, fo = self.cfg, self._fo()
        m, n = x.shape
        out = np.zeros((m, n), np.int64)
        ch = self._chunk()
        for g0, g1 in self._groups(m):
            for c0 in range(0, n, ch):
                c1 = min(c0 + ch, n)
                src = x if f is None else f
                obuf = self._next("o", cfg.omem_buffers)
                self._to_omem(self._codes(src[g0:g1, c0:c1]), obuf)
                fields = dict(in_shift=10 - fo, out_shift=10 - fo, obuf=obuf, base=0)
                if f is not None:
                    xb = np.zeros((g1 - g0, -(-(c1 - c0) // cfg.lanes) * cfg.lanes), np.int64)
                    xb[:, :c1 - c0] = self._codes(x[g0:g1, c0:c1])
                    fields.update(xbuf=self.load_imem(xb), gate=extra)
                ibuf = self._next("i", cfg.imem_buffers)
                self._cfse(op, dict(fields, ibuf=ibuf), c1 - c0, g1 - g0)
                out[g0:g1, c0:c1] = self._from_imem(ibuf, c1 - c0, g1 - g0) << (10 - fo)
        return out

    # -- the operations (golden.cfse's signatures) -------------------------------------------
    def gelu(self, x):
        return self._elementwise("GELU", np.asarray(x, np.int64))

    def residual(self, x, f, gate=None):
        """``RESIDUAL``: its gate is one scalar; a per-channel gate must be folded into the
        GEMM that made ``f`` (``DiTRuntime`` does)."""
        g = 1024 if gate is None else np.unique(np.asarray(gate))
        if np.size(g) != 1:
            raise ValueError("RESIDUAL takes one scalar gate: fold a per-channel gate into "
                             "the GEMM that produces f")
        x, f = np.broadcast_arrays(np.asarray(x, np.int64), np.asarray(f, np.int64))
        return self._elementwise("RESIDUAL", x, f, int(np.reshape(g, -1)[0]))

    def layernorm(self, x, scale=None, shift=None):
        cfg, fo = self.cfg, self._fo()
        x = np.asarray(x, np.int64)
        m, n = x.shape
        mod = np.zeros((1, 2 * n), np.int64)
        mod[0, :n] = self._codes(np.broadcast_to(0 if scale is None else scale, (n,)))
        mod[0, n:] = self._codes(np.broadcast_to(0 if shift is None else shift, (n,)))
        mbuf = self._next("o", cfg.omem_buffers)
        self._to_omem(mod, mbuf)
        out = np.zeros((m, n), np.int64)
        for g0, g1 in self._groups(m):
            obuf = self._next("o", cfg.omem_buffers)
            if obuf == mbuf:                   # the scale and shift stay
                obuf = self._next("o", cfg.omem_buffers)
            self._to_omem(self._codes(x[g0:g1]), obuf)
            ibuf = self._next("i", cfg.imem_buffers)
            self._cfse("LAYERNORM", dict(in_shift=10 - fo, out_shift=10 - fo, obuf=obuf,
                                         mbuf=mbuf, sc_base=0, sh_base=n, ibuf=ibuf, base=0),
                       n, g1 - g0)
            out[g0:g1] = self._from_imem(ibuf, n, g1 - g0, mbuf) << (10 - fo)
        return out

    def softmax(self, s, keep=None):
        cfg, fo, w = self.cfg, self._fo(), self.cfg.data_width
        s = np.asarray(s, np.int64)
        m, n = s.shape
        out = np.zeros((m, n), np.int64)
        for g0, g1 in self._groups(m):
            obuf = self._next("o", cfg.omem_buffers)
            self._to_omem(self._codes(s[g0:g1]), obuf)
            f = dict(in_shift=10 - fo, out_shift=16 - w, obuf=obuf, base=0)
            if keep is not None:
                km = np.zeros((cfg.rows, n), bool)
                km[:g1 - g0] = np.asarray(keep, bool)[g0:g1]
                self.backend.write_mask(km)
                self.stats.window(4 * n * self.backend_mask_words())
                f["key_mask"] = 1
            ibuf = self._next("i", cfg.imem_buffers)
            self._cfse("SOFTMAX", dict(f, ibuf=ibuf), n, g1 - g0)
            out[g0:g1] = self._from_imem(ibuf, n, g1 - g0) << (16 - w)
        return out
