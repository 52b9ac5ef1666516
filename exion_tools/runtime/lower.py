"""GEMMs as command streams: the host side of one core (docs/runtime.md, "Commands").

:class:`Host` turns an integer GEMM ``x (M, K) @ w (K, N)`` into ``LOAD_WMEM`` / ``LOAD_IMEM``
/ ``GEMM`` / ``READ_OMEM`` commands on a backend (weight stationary: one weight tile per WMEM
buffer, every row group of ``rows`` tokens through it; buffers rotate), a sparse GEMM into
``SCHEDULE`` + SMEM read + ``LOAD_WMEM`` of the ConMerge weight image + ``GEMM SPARSE``, and
an eager prediction into ``PREDICT`` per row group, and the CFSE operations into their
commands (:class:`exion_tools.runtime.lower_cfse.CfseCommands`). Every command is accounted in a
:class:`exion_tools.runtime.counts.Stats`.

The results are the golden ones by construction of the backend (``golden.core_model`` is
bit-exact with the RTL): a dense GEMM gives ``requantize(int_matmul(x, w), shift)``.
"""

from __future__ import annotations

import numpy as np

from exion.config import ExionConfig
from exion.limits import MAX_HEAD_DIM
from exion.regmap import smem_half
from golden import cycle_model
from golden.conmerge import cau_fit, cau_sort_window
from golden.conmerge_rules import window_emits
from golden.core_checks import Limits
from golden.core_state import bits_of_rows
from golden.schedule import unpack_block
from golden.sdue import dense_wmem_image, wmem_image

from .counts import Stats
from .lower_cfse import CfseCommands

__all__ = ["Host"]


#: Commands whose ``CYCLES`` the host reads (the execute and CFSE commands).
_TIMED = ("GEMM", "SCHEDULE", "PREDICT", "GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX")


def _beats(x: np.ndarray, lanes: int) -> np.ndarray:
    return np.asarray(x, np.int64).reshape(-1, lanes)


class Host(CfseCommands):
    """Issues GEMMs, sparse GEMMs and predictions on ``backend``.

    Parameters
    ----------
    cfg : ExionConfig
    backend : exion_tools.runtime.backend.ModelBackend (or one with the same methods)
    stats : Stats

    Members
    -------
    cfg, backend, stats, limits
    kc_max : int
        Largest ``kc`` one GEMM takes (IMEM words per bank).
    """

    def __init__(self, cfg: ExionConfig, backend, stats: Stats, *, overlap: bool = False):
        self.cfg, self.backend, self.stats = cfg, backend, stats
        # the SMEM halves need two IMEM and two WMEM buffers and a vector in each half
        self.overlap = bool(overlap and cfg.schedule_depth >= 2 and cfg.imem_buffers >= 2
                            and cfg.wmem_buffers >= 2)
        self._last_cycles = 0
        self.limits = Limits.of(cfg)
        self.kc_max = self.limits.imem_words
        self._buf = {"i": 0, "w": 0, "o": 0}
        self._identity_images: dict = {}        # (kc, channels, first) -> WMEM image

    def _next(self, kind: str, count: int) -> int:
        b = self._buf[kind]
        self._buf[kind] = (b + 1) % count
        return b

    # -- command helpers -------------------------------------------------------------------
    def issue(self, op, *, imem=None, wmem=None, acc=None, **f):
        """One command with fields ``f`` (``exion.regmap.encode``), accounted with ``acc``
        (:meth:`Stats.command`'s keywords); returns its frame or None."""
        return self._cmd(op, imem=imem, wmem=wmem, acc=acc, **f)

    def _cmd(self, op, *, imem=None, wmem=None, acc=None, **f):
        frame = self.backend.command(op, imem=imem, wmem=wmem, **f)
        cycles = self.backend.reg("CYCLES") if op in _TIMED else 0
        self._last_cycles = cycles
        self.stats.command(op, f, cycles, **(acc or {}))
        return frame

    def load_imem(self, x: np.ndarray, buf: int | None = None, base: int = 0) -> int:
        """Rows ``x`` (<= rows, kc * lanes) into IMEM buffer ``buf`` (default: the next one)
        from word ``base``; returns the buffer."""
        cfg = self.cfg
        kc = x.shape[1] // cfg.lanes
        pad = np.zeros((cfg.rows, kc * cfg.lanes), np.int64)
        pad[:x.shape[0]] = x
        buf = self._next("i", cfg.imem_buffers) if buf is None else buf
        self._cmd("LOAD_IMEM", imem=_beats(pad, cfg.lanes), buf=buf, base=base, count=kc)
        return buf

    def load_wmem(self, img: np.ndarray, streams: int) -> int:
        """WMEM image ``(cols, words, merge_degree, lanes)``: its first ``streams``."""
        buf = self._next("w", self.cfg.wmem_buffers)
        beats = img[:, :, :streams, :].transpose(0, 2, 1, 3)
        self._cmd("LOAD_WMEM", wmem=_beats(beats, self.cfg.lanes), buf=buf, base=0,
                  count=img.shape[1], streams=0 if streams >= self.cfg.merge_degree else streams)
        return buf

    def read_omem(self, obuf: int, n: int) -> np.ndarray:
        return self._cmd("READ_OMEM", buf=obuf, base=0, count=n).T     # (rows, n)

    def _pad_k(self, x: np.ndarray, w: np.ndarray):
        k = x.shape[1]
        kp = -(-k // self.cfg.lanes) * self.cfg.lanes
        xp = np.zeros((x.shape[0], kp), np.int64)
        xp[:, :k] = x
        return xp, kp // self.cfg.lanes

    # -- dense GEMM ------------------------------------------------------------------------
    def gemm(self, x, w, shift: int, *, ffn_th=None, k_macs=None):
        """Dense ``requantize(x @ w, shift)`` (``x`` (M, K), ``w`` (K, N), ``kc <= kc_max``).
        ``ffn_th = (th_hi, th_lo)``: with ``FFN_MASK``; returns ``(y, keep)`` then (the
        keep-mask read back through the mask window), else ``y``. ``k_macs``: the part of
        ``K`` counted as MACs (default all; bias columns are not)."""
        cfg, lim = self.cfg, self.limits
        x = np.asarray(x, np.int64)
        w = np.asarray(w, np.int64)
        m, k = x.shape
        k = k if k_macs is None else k_macs
        n = w.shape[1]
        xp, kc = self._pad_k(x, w)
        assert kc <= self.kc_max, f"kc {kc} > IMEM words {self.kc_max}: split K first"
        # channels per weight tile: whole blocks that fit one WMEM buffer and OMEM
        per_tile = min(lim.wmem_words // kc * cfg.cols, lim.omem_words, n)
        if ffn_th is not None:
            per_tile = min(per_tile, lim.channels)
        y = np.zeros((m, n), np.int64)
        keep = np.zeros((m, n), bool) if ffn_th is not None else None
        groups = [(g, min(g + cfg.rows, m)) for g in range(0, m, cfg.rows)]
        for c0 in range(0, n, per_tile):
            nc = min(per_tile, n - c0)
            wbuf = self.load_wmem(dense_wmem_image(w[:, c0:c0 + nc], cfg), 1)
            for g0, g1 in groups:
                ibuf = self.load_imem(xp[g0:g1])
                obuf = self._next("o", cfg.omem_buffers)
                f = dict(kc=kc, shift=shift, ch_base=0, n_ch=nc, ibuf=ibuf, wbuf=wbuf,
                         obuf=obuf, n_rows=g1 - g0, wbase=0)
                if ffn_th is not None:
                    f.update(flags=("FFN_MASK",), th_hi=ffn_th[0], th_lo=ffn_th[1])
                blocks = -(-nc // cfg.cols)
                self._cmd("GEMM", acc=dict(busy=(g1 - g0) * nc, k=k, blocks=blocks,
                                           busy_rows=(g1 - g0) * blocks, busy_cols=nc), **f)
                y[g0:g1, c0:c0 + nc] = self.read_omem(obuf, nc)[:g1 - g0]
                if ffn_th is not None:
                    keep[g0:g1, c0:c0 + nc] = self.backend.read_mask(nc)[:g1 - g0]
                    self.stats.window(4 * nc * self.backend_mask_words())
        return y if ffn_th is None else (y, keep)

    def backend_mask_words(self) -> int:
        return -(-self.cfg.rows // 32)

    # -- sparse GEMM -----------------------------------------------------------------------
    def sparse_gemm(self, x, w, keep, shift: int, *, k_macs=None) -> np.ndarray:
        """``requantize(x @ w, shift)`` where ``keep`` (M, N), 0 elsewhere: per row group and
        channel chunk (a unit), the host writes the keep-mask into the mask window,
        ``SCHEDULE``, reads the ConMerge vectors, streams the weights they name, ``GEMM
        SPARSE``. With :attr:`overlap` the units alternate between the SMEM halves and the
        ``SCHEDULE`` of unit ``u + 1`` is issued before the ``GEMM`` of unit ``u``, which it
        runs beside (docs/core.md, "ConMerge overlapped with compute")."""
        cfg, lim = self.cfg, self.limits
        x = np.asarray(x, np.int64)
        keep = np.asarray(keep, bool)
        m, k = x.shape
        k = k if k_macs is None else k_macs
        n = w.shape[1]
        xp, kc = self._pad_k(x, w)
        assert kc <= self.kc_max, f"kc {kc} > IMEM words {self.kc_max}: split K first"
        split = self.overlap
        # a chunk whose every channel needs its own column still fits SMEM (its half) and WMEM
        depth = cfg.schedule_depth // 2 if split else cfg.schedule_depth
        chunk = min(cfg.cols * min(depth, lim.wmem_words // kc), lim.channels, lim.omem_words)
        y = np.zeros((m, n), np.int64)
        units = [(g0, min(g0 + cfg.rows, m), c0, min(c0 + chunk, n))
                 for g0 in range(0, m, cfg.rows) for c0 in range(0, n, chunk)]
        ibufs: dict = {}
        nxt = self._sparse_prepare(units[0], 1 if split else 0, w, xp, keep, k, ibufs)
        for u in range(len(units)):
            cur = nxt
            if split and u + 1 < len(units):    # its SCHEDULE runs beside this unit's GEMM
                nxt = self._sparse_prepare(units[u + 1], 1 + (u + 1) % 2, w, xp, keep, k,
                                           ibufs)
            gemm = 0
            if cur["nb"]:
                (g0, g1, c0, c1), obuf = units[u], self._next("o", cfg.omem_buffers)
                self._cmd("GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=ibufs[g0],
                          wbuf=cur["wbuf"], obuf=obuf, n_rows=cfg.rows, wbase=0,
                          **({"half": cur["half"]} if cur["half"] else {}),
                          acc=dict(busy=cur["kept"], k=k, blocks=cur["nb"],
                                   busy_rows=cur["busy"][0], busy_cols=cur["busy"][1]))
                gemm = self._last_cycles
                out = self.read_omem(obuf, c1 - c0)[:g1 - g0]
                y[g0:g1, c0:c1] = np.where(keep[g0:g1, c0:c1], out, 0)
            if u == 0:
                self._first_sched = cur.get("sched", 0)
                if cur["half"]:
                    self._sched_account(cur, 0)     # nothing ran beside the first
            if u + 1 < len(units) and split:
                self._sched_account(nxt, gemm)
            elif u + 1 < len(units):            # one SMEM: after this unit's GEMM
                nxt = self._sparse_prepare(units[u + 1], 0, w, xp, keep, k, ibufs)
        # the first split SCHEDULE's cycles and the last GEMM's (count_only.CountHost
        # chains row groups it ran one by one)
        self._sparse_edges = (self._first_sched, gemm)
        return y

    def _sparse_prepare(self, unit, half: int, w, xp, keep, k: int, ibufs: dict) -> dict:
        """Mask window, ``SCHEDULE`` into SMEM ``half``, vectors, weight image and the row
        group's IMEM load of one sparse unit; a split ``SCHEDULE``'s cycles are accounted by
        :meth:`_sched_account` once the ``GEMM`` beside it is known."""
        cfg = self.cfg
        g0, g1, c0, c1 = unit
        km = np.zeros((cfg.rows, c1 - c0), bool)
        km[:g1 - g0] = keep[g0:g1, c0:c1]
        self.backend.write_mask(km)
        self.stats.window(4 * (c1 - c0) * self.backend_mask_words())
        cvs = bits_of_rows(km.T)
        emits = window_emits(cvs, cfg.cols, cfg.merge_degree, cfg.cau_window,
                             cau_sort_window(cfg), cau_fit(cfg))
        busy = cycle_model.cau_cycles(cycle_model.group_beats(cvs), rate=cfg.cau_rate,
                                      emits=emits)
        p = {"half": half, "kept": int(km.sum()), "n_ch": c1 - c0, "cau": busy}
        if half == 0:
            self._cmd("SCHEDULE", n_ch=c1 - c0, acc=dict(busy=busy))
            p["nb"] = self.backend.reg("BLOCKS")
        else:
            self.backend.command("SCHEDULE", n_ch=c1 - c0, half=half)
            p["sched"] = self.backend.reg("SCHED_CYCLES")
            p["nb"] = self.backend.reg(f"BLOCKS_H{half}")
        nb = p["nb"]
        self.stats.counts.add("smem", "write", nb)
        self.stats.skipped(((g1 - g0) * (c1 - c0) - p["kept"]) * k)
        if nb:
            first, _ = smem_half(cfg.schedule_depth, half)
            words = self.backend.read_smem(nb, first)
            self.stats.window(4 * nb * -(-_block_bits(cfg) // 32))
            img, *p["busy"] = self._sparse_image(w[:, c0:c1], words)
            p["wbuf"] = self.load_wmem(img, cfg.merge_degree)
            if g0 not in ibufs:
                ibufs[g0] = self.load_imem(xp[g0:g1])
        return p

    def _sched_account(self, p: dict, beside: int) -> None:
        """A split ``SCHEDULE`` (``SCHED_CYCLES`` = ``S``) that ran beside a ``GEMM`` of
        ``beside`` cycles: its energy counts in full, its cycles only where they exceed the
        ``GEMM``'s (``max(0, S - beside)``: the pair takes ``max(S, beside)``; the next
        ``GEMM`` may start no earlier than the ``SCHEDULE``'s end)."""
        s, st = p["sched"], self.stats
        st.command("SCHEDULE", {"n_ch": p["n_ch"], "half": p["half"]}, s, busy=p["cau"])
        hidden = min(s, beside)
        r = st.row()
        r.cycles -= hidden
        r.schedule_cycles -= hidden
        st.counts.cycles -= hidden

    def _sparse_image(self, w, words):
        """The WMEM image of the ConMerge vectors ``words`` over weights ``w`` (K, chunk), and
        the busy IMEM / WMEM banks summed over the blocks."""
        blks = [unpack_block(wd, self.cfg) for wd in words]
        img = wmem_image(w, None, self.cfg, blocks=blks)
        busy_rows = sum(int((b.sel != 0).any(axis=1).sum()) for b in blks)
        busy_cols = sum(int((b.sel != 0).any(axis=0).sum()) for b in blks)
        return img, busy_rows, busy_cols

    # -- eager prediction ------------------------------------------------------------------
    def predict_ok(self, head_dim: int, keys: int) -> bool:
        """Whether ``PREDICT`` takes this head (``kc * lanes <= 72``; keys in chunks)."""
        kc = -(-head_dim // self.cfg.lanes)
        return kc * self.cfg.lanes <= MAX_HEAD_DIM and kc <= self.kc_max

    def predict(self, qp, kp, q_th: int, topk: int):
        """``PREDICT`` of queries ``qp`` (M, dh) against keys ``kp`` (n, dh), per row group
        and chunk of at most ``min(64, mask channels)`` keys. Returns ``(keep (M, n),
        dominant (M,))``; with more than one key chunk no query is dominant (each chunk
        selects on its own, the kept sets are joined)."""
        cfg, lim = self.cfg, self.limits
        m, n = qp.shape[0], kp.shape[0]
        xp, kc = self._pad_k(qp, kp.T)
        per = min(64, lim.channels)
        keep = np.zeros((m, n), bool)
        dom = np.zeros(m, bool)
        chunks = [(c, min(c + per, n)) for c in range(0, n, per)]
        for c0, c1 in chunks:
            wbuf = self.load_wmem(dense_wmem_image(np.asarray(kp[c0:c1]).T, cfg), 1)
            for g0 in range(0, m, cfg.rows):
                g1 = min(g0 + cfg.rows, m)
                ibuf = self.load_imem(xp[g0:g1])
                nk = c1 - c0
                self._cmd("PREDICT", kc=kc, topk=min(topk, nk, lim.max_topk), ch_base=0,
                          n_keys=nk, ibuf=ibuf, wbuf=wbuf, n_rows=g1 - g0, wbase=0, q_th=q_th)
                keep[g0:g1, c0:c1] = self.backend.read_mask(nk)[:g1 - g0]
                self.stats.window(4 * nk * self.backend_mask_words())
                d = self.backend.reg("DOMINANT")
                for name in ("SKIP_K", "SKIP_V"):
                    self.backend.reg(name)
                if len(chunks) == 1:
                    dom[g0:g1] = [(d >> r) & 1 for r in range(g1 - g0)]
        return keep, dom


def _block_bits(cfg: ExionConfig) -> int:
    from golden.schedule import word_bits
    return word_bits(cfg)
