"""A DiT on the core: the forward pass and the DDIM sampler of ``workload/`` with every GEMM
issued as commands (:class:`exion_tools.runtime.lower.Host`) and the rest on the host.

Number formats (docs/runtime.md, "Numbers"): activations between layers are Q5.10 codes in
signed 16 bits (the CFSE format, ``exion/cfse_format.py``); a GEMM's input is that shifted to
``data_width`` bits by a per-call power-of-two shift (``golden.eager.auto_shift``), weights are
``data_width``-bit codes with a power-of-two scale per tensor, biases ride along as extra
``K`` columns, and the core's requantization shift puts every GEMM output in a fixed
format with ``data_width - 6`` fraction bits. The non-linear functions are
``golden.cfse``'s integer ones; :data:`PLACEMENT` says where each runs.
"""

from __future__ import annotations

import math

import numpy as np

from exion.config import ExionConfig
from exion.formats import topk_count
from golden import cfse, eager, ffn_reuse, intsem

from . import dit as D
from .counts import Stats
from . import lower_eager
from .lower import Host

__all__ = ["MODES", "PLACEMENT", "CFSE_PLACES", "QLinear", "DiTRuntime"]

MODES = ("base", "ep", "ffnr", "all")

#: Where each non-GEMM operation runs with ``cfse="chip"`` (the default): "chip" = the
#: :class:`Host` method of that name, which issues the core's CFSE command
#: (:mod:`exion_tools.runtime.lower_cfse`); "host" = ``golden.cfse`` / ``golden.eager`` on the
#: host (counted as CFSE / predictor work for energy). With ``cfse="host"`` every operation
#: runs on the host. A shape a command cannot take (``Host.cfse_ok``) runs on the host.
PLACEMENT = {"gelu": "chip", "softmax": "chip", "layernorm": "chip", "residual": "chip",
             "eager_projection": "host"}

#: Values of the ``cfse`` option (``exion run --cfse``).
CFSE_PLACES = ("chip", "host")

_HOST_FUNCS = {"gelu": cfse.gelu, "softmax": cfse.softmax, "layernorm": cfse.layernorm_adaln,
               "residual": cfse.residual_add}


def q510(x) -> np.ndarray:
    """Float to Q5.10 codes (saturating)."""
    return np.clip(np.rint(np.asarray(x, np.float64) * 1024), -32768, 32767).astype(np.int64)


class QLinear:
    """A ``Linear`` as ``width``-bit codes ``w`` (K, N) with scale ``2**-fw``, float bias."""

    def __init__(self, w: np.ndarray, b: np.ndarray, width: int, fw: int | None = None):
        qm = intsem.qmax(width)
        m = float(np.max(np.abs(w))) if w.size else 0.0
        self.fw = int(math.floor(math.log2(qm / m))) if fw is None and m > 0 else (fw or 0)
        self.w = np.clip(np.rint(w * 2.0 ** self.fw), -qm, qm).astype(np.int64)
        self.b = np.asarray(b, np.float64)

    def cols(self, sl) -> "QLinear":
        out = QLinear.__new__(QLinear)
        out.fw, out.w, out.b = self.fw, self.w[:, sl], self.b[sl]
        return out


class DiTRuntime:
    """Runs ``weights`` on the core behind ``host``.

    Parameters
    ----------
    weights : exion_tools.runtime.dit.DiTWeights
    cfg : ExionConfig
        The core and the algorithm settings (``iterations``, ``ffn_reuse_n``,
        ``ffn_target_sparsity``, ``ep_q_th``, ``ep_k``, ``lod_steps``).
    mode : str
        One of :data:`MODES`.
    host : Host
    cfse : str
        ``"chip"`` (default): the operations :data:`PLACEMENT` puts on chip run as CFSE
        commands; ``"host"``: all on the host.
    """

    def __init__(self, weights: D.DiTWeights, cfg: ExionConfig, mode: str, host: Host,
                 cfse: str = "chip"):
        if mode not in MODES:
            raise ValueError(f"mode = {mode!r} is not one of {', '.join(MODES)}")
        if cfse not in CFSE_PLACES:
            raise ValueError(f"cfse = {cfse!r} is not one of {', '.join(CFSE_PLACES)}")
        self.placement = {k: (v if cfse == "chip" else "host") for k, v in PLACEMENT.items()}
        # the RESIDUAL command has one scalar gate: per-channel gates and biases go into
        # the GEMM before it (gate folded into the weights, biases as K columns)
        self.gemm_epilogue = self.placement["residual"] != "host"
        self.weights = weights
        self.spec, self.cfg, self.mode, self.host = weights.spec, cfg, mode, host
        self.stats: Stats = host.stats
        self.ep = mode in ("ep", "all")
        self.ffnr = mode in ("ffnr", "all")
        W = cfg.data_width
        self.fo = W - 6                                # fraction bits of GEMM outputs (W >= 8)
        sp, wt = self.spec, weights
        self.lin = {n: QLinear(*wt.linear(n), W) for n in
                    ("patch_embed", "t_mlp.0", "t_mlp.2", "ada_f", "out")}
        for i in range(sp.depth):
            b = f"blocks.{i}."
            wq, _ = wt.linear(b + "attn.q")
            wk, _ = wt.linear(b + "attn.k")
            wv, _ = wt.linear(b + "attn.v")
            # 1 / sqrt(head_dim) folded into Wq: Q K^T are the softmax logits
            wqkv = np.concatenate([wq * sp.head_dim ** -0.5, wk, wv], axis=1)
            self.lin[b + "qkv"] = QLinear(wqkv, np.zeros(3 * sp.hidden), W)
            for n in ("attn.proj", "ffn.fc1", "ffn.fc2", "ada"):
                self.lin[b + n] = QLinear(*wt.linear(b + n), W)
        self.y_embed = q510(wt.w["y_embed.weight"])
        grid = sp.image_size // sp.patch
        self.pos = q510(D.sincos_pos_embed(sp.hidden, grid))
        self.ffn_state: dict = {}                      # (sample, block) -> FFN-Reuse state
        self._lod_cache: dict = {}                     # weights' lod_approx (eager projection)
        g = ffn_reuse.gelu
        lo, hi = 0.0, 2.0                              # GELU^-1(0.17) by bisection
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if g(mid) < 0.17 else (lo, mid)
        self.th_min = int(math.floor(hi * 2 ** self.fo))

    # -- placement ---------------------------------------------------------------------------
    def nonlinear(self, op: str, *args, elements: int, cfse_op: str | None = None, **kw):
        if self.placement[op] != "host" and self.host.cfse_ok(op, np.shape(args[0])[-1]):
            return getattr(self.host, op)(*args, **kw)
        self.stats.host(cfse_op or op, elements)
        return _HOST_FUNCS[op](*args, **kw)

    # -- GEMM layers -------------------------------------------------------------------------
    def linear(self, x, ql: QLinear, *, ffn_th=None, keep=None):
        """``x`` (M, K) Q5.10 through ``ql``: ``(codes with fo fraction bits, Q5.10)``; with
        ``ffn_th`` also the keep-mask; with ``keep`` a sparse GEMM (0 where not kept)."""
        cfg, W, fo = self.cfg, self.cfg.data_width, self.fo
        x = np.asarray(x, np.int64)
        sx = eager.auto_shift(x, W)
        xc = intsem.requantize(x, sx, W)
        w, fw = ql.w, ql.fw
        s = fw + 10 - sx - fo
        if s < 0:                                      # inputs too large: coarser weights
            w, fw, s = intsem.requantize(w, -s, W), fw + s, 0
        # The bias rides in the GEMM only where the keep-mask must see it (FFN-Reuse's FC1);
        # elsewhere the host adds it (one more K column would cost a lane chunk per block).
        on_chip = ffn_th is not None or keep is not None or self.gemm_epilogue
        bacc = ql.b * 2.0 ** (10 + fw - sx)           # bias in accumulator units
        if on_chip and np.any(bacc):
            big = 1 << (W - 2)
            n_extra = max(1, math.ceil(float(np.max(np.abs(bacc))) / (intsem.qmax(W) * big)))
            wb = np.rint(bacc / (big * n_extra)).astype(np.int64)
            xc = np.hstack([xc, np.full((x.shape[0], n_extra), big, np.int64)])
            w = np.vstack([w, np.tile(wb, (n_extra, 1))])
        kmax = self.host.kc_max * cfg.lanes
        parts = [(k0, min(k0 + kmax, w.shape[0])) for k0 in range(0, w.shape[0], kmax)]
        y, mask = 0, None
        for k0, k1 in parts:
            km = max(0, min(k1, ql.w.shape[0]) - k0)          # bias columns are no MACs
            if keep is not None:
                p = self.host.sparse_gemm(xc[:, k0:k1], w[k0:k1], keep, s, k_macs=km)
            elif ffn_th is not None and len(parts) == 1:
                p, mask = self.host.gemm(xc[:, k0:k1], w[k0:k1], s, ffn_th=ffn_th, k_macs=km)
            else:
                p = self.host.gemm(xc[:, k0:k1], w[k0:k1], s, k_macs=km)
            y = y + p                                  # K split: partial outputs added here
        y = intsem.saturate(y, W)
        if ffn_th is not None and mask is None:
            mask = ffn_reuse.keep_mask_int(y, *ffn_th)
        y510 = y << (10 - fo)
        if not on_chip and np.any(ql.b):
            y510 = self.nonlinear("residual", y510, np.broadcast_to(q510(ql.b), y510.shape),
                                  elements=y510.size)
        return (y, y510) if ffn_th is None else (y, y510, mask)

    def gated(self, name: str, gate) -> QLinear:
        """``Linear`` ``name`` with the adaLN-Zero ``gate`` (Q5.10, per output channel) folded
        into its weights and bias, requantized (what the scalar-gate ``RESIDUAL`` needs)."""
        w, b = self.weights.linear(name)
        g = np.asarray(gate, np.float64) / 1024
        return QLinear(w * g, b * g, self.cfg.data_width)

    def attention(self, h, i: int, gate=None):
        sp, W, fo, host = self.spec, self.cfg.data_width, self.fo, self.host
        d, dh = sp.hidden, sp.head_dim
        qkv = self.lin[f"blocks.{i}.qkv"]
        outs = []
        if not self.ep:
            self.stats.layer = "qkv"
            yc, _ = self.linear(h, qkv)
        for hd in range(sp.heads):
            cq, ck, cv = (slice(o + hd * dh, o + (hd + 1) * dh) for o in (0, d, 2 * d))
            if self.ep:
                outs.append(self._eager_head(h, qkv, cq, ck, cv))
                continue
            q, k, v = yc[:, cq], yc[:, ck], yc[:, cv]
            self.stats.layer = "qk"
            s = host.gemm(q, k.T, fo)
            p = self.nonlinear("softmax", s << (10 - fo), elements=s.size)
            self.stats.layer = "pv"
            outs.append(host.gemm(intsem.requantize(p, 16 - W, W), v, W - 1))
        o = np.concatenate(outs, axis=1)
        self.stats.layer = "proj"
        name = f"blocks.{i}.attn.proj"
        ql = self.lin[name] if gate is None else self.gated(name, gate)
        return self.linear(o << (10 - fo), ql)[1]

    def _eager_head(self, h, qkv: QLinear, cq, ck, cv):
        cfg, W, host, st = self.cfg, self.cfg.data_width, self.host, self.stats
        n, d = h.shape
        dh = cq.stop - cq.start
        st.layer = "predict"
        sx = eager.auto_shift(h, W)
        xc = intsem.requantize(h, sx, W)
        topk = topk_count(cfg.ep_k, n)

        def q_th_of(sq, sk):
            scale_s = 2.0 ** (2 * (sx - 10) - 2 * qkv.fw + sq + sk)
            return eager.logit_threshold_to_int(cfg.ep_q_th, scale_s)

        if self.placement["eager_projection"] != "host" and lower_eager.chip_ok(host, n, d, dh):
            # PREDICT_PROJ + PREDICT: Q' / K' never leave the core (lower_eager.py)
            keep, dom, _, _ = lower_eager.predict_head(host, xc, qkv.w[:, cq], qkv.w[:, ck],
                                                       q_th_of, topk)
        else:
            keep, dom = self._eager_host(xc, qkv, cq, ck, q_th_of, topk)
        return self._eager_rest(h, qkv, cq, ck, cv, keep, dom)

    def _eager_host(self, xc, qkv: QLinear, cq, ck, q_th_of, topk):
        """Q' / K' on the host (golden.eager), then PREDICT (or the host's select)."""
        cfg, W, host, st = self.cfg, self.cfg.data_width, self.host, self.stats
        n, d = xc.shape
        dh = cq.stop - cq.start
        q_acc = self.shift_add(xc, qkv.w[:, cq], ("w", id(qkv), cq.start))
        k_acc = self.shift_add(xc, qkv.w[:, ck], ("w", id(qkv), ck.start))
        st.eager_projection(2 * n * dh * d)
        sq, sk = eager.auto_shift(q_acc, W), eager.auto_shift(k_acc, W)
        qp, kp = intsem.requantize(q_acc, sq, W), intsem.requantize(k_acc, sk, W)
        q_th = q_th_of(sq, sk)
        if host.predict_ok(dh, n):
            keep, dom = host.predict(qp, kp, q_th, topk)
        else:                                          # PREDICT cannot take this head
            keep, dom = eager.select(self.shift_add(qp, kp.T), q_th, cfg.ep_k)
            st.eager_projection(n * n * dh)
        return keep, dom

    def _eager_rest(self, h, qkv: QLinear, cq, ck, cv, keep, dom):
        """The QKV rows and attention of a head after its prediction."""
        cfg, W, fo, host, st = self.cfg, self.cfg.data_width, self.fo, self.host, self.stats
        n, d = h.shape
        dh = cq.stop - cq.start
        skip_k = ~keep[~dom].any(axis=0)
        skip_v = ~keep.any(axis=0)
        nd = np.flatnonzero(~dom)
        st.layer = "qkv"
        q = np.zeros((n, dh), np.int64)
        k = np.zeros((n, dh), np.int64)
        v = np.zeros((n, dh), np.int64)
        for rows, sl, dst in ((nd, cq, q), (np.flatnonzero(~skip_k), ck, k),
                              (np.flatnonzero(~skip_v), cv, v)):
            if len(rows):
                dst[rows] = self.linear(h[rows], qkv.cols(sl))[0]
            st.skipped((n - len(rows)) * d * dh)
        o = np.zeros((n, dh), np.int64)
        o[dom] = v[np.argmax(keep[dom], axis=1)]       # one kept key: P = 1, O = its V row
        if len(nd):
            st.layer = "qk"
            s = host.sparse_gemm(q[nd], k.T, keep[nd], fo)
            p = self.nonlinear("softmax", s << (10 - fo), keep[nd], elements=int(keep[nd].sum()))
            pc = intsem.requantize(p, 16 - W, W)
            st.layer = "pv"
            for g0 in range(0, len(nd), cfg.rows):
                rows = nd[g0:g0 + cfg.rows]
                used = np.flatnonzero(keep[rows].any(axis=0))
                o[rows] = host.gemm(pc[g0:g0 + cfg.rows][:, used], v[used], W - 1)
                st.skipped(len(rows) * (n - len(used)) * dh)
        st.skipped(int(dom.sum()) * n * dh * 2)        # Q K^T and P V of dominant queries
        return o

    def shift_add(self, a, b, key=None):
        """``golden.eager.shift_add_matmul(a, b, lod_steps)``: the sum of the terms' products
        is ``lod_approx(a) @ lod_approx(b)``, an exact integer matmul (``intsem.int_matmul``
        where no partial sum can reach ``2**47``, its exact fast path; else the term-by-term
        function itself); ``key``: ``b`` is a weight, its approximation kept."""
        steps = self.cfg.lod_steps
        lb = self._lod_cache.get(key) if key is not None else None
        if lb is None:
            lb = eager.lod_approx(b, steps)
            if key is not None:
                self._lod_cache[key] = lb
        la = eager.lod_approx(a, steps)
        bound = a.shape[1] * int(np.max(np.abs(la), initial=0)) * int(np.max(np.abs(lb), initial=0))
        if bound < 1 << 47:
            return intsem.int_matmul(la, lb, self.cfg.lanes, 48)
        return eager.shift_add_matmul(a, b, steps)

    def ffn(self, h, i: int, sample: int, dense_iter: bool, gate=None):
        cfg, st = self.cfg, self.stats
        b = f"blocks.{i}."
        st.layer = "fc1"
        if not self.ffnr:
            _, y1 = self.linear(h, self.lin[b + "ffn.fc1"])
        else:
            key = (sample, i)
            state = self.ffn_state.get(key)
            if dense_iter or state is None:
                lo = -(1 << (cfg.data_width - 1)) - 1             # below the code range
                th = (state["th"] if state else self.th_min, lo)
                yc, y1, keep = self.linear(h, self.lin[b + "ffn.fc1"], ffn_th=th)
                srt = np.sort(yc, axis=None)[::-1]
                n_keep = ffn_reuse.keep_count(yc.size, cfg.ffn_target_sparsity)
                th_new = int(srt[n_keep]) if n_keep < yc.size else lo
                th_new = max(th_new, self.th_min)
                if state is None:       # first dense call: no threshold yet, the host's mask
                    keep = ffn_reuse.keep_mask_int(yc, th_new, lo)
                self.ffn_state[key] = {"th": th_new, "keep": keep, "cache": yc}
            else:
                new, _ = self.linear(h, self.lin[b + "ffn.fc1"], keep=state["keep"])
                yc = np.where(state["keep"], new, state["cache"])
                y1 = yc << (10 - self.fo)
        g = self.nonlinear("gelu", y1, elements=y1.size)
        st.layer = "fc2"
        ql = self.lin[b + "ffn.fc2"] if gate is None else self.gated(b + "ffn.fc2", gate)
        return self.linear(g, ql)[1]

    # -- the model ---------------------------------------------------------------------------
    def forward(self, img: np.ndarray, t: int, label: int, sample: int, it: int) -> np.ndarray:
        """Predicted noise for one image ``img`` (c, H, W) at timestep ``t``."""
        sp, st = self.spec, self.stats
        dense_iter = ffn_reuse.is_dense_iteration(it, self.cfg.ffn_reuse_n)
        st.where, st.layer = (sample, it, -1), "embed"
        temb = q510(D.timestep_embedding(t, sp.freq_dim))[None]
        c = self.linear(temb, self.lin["t_mlp.0"])[1]
        c = self.linear(q510(_silu(c / 1024)), self.lin["t_mlp.2"])[1]
        c = np.clip(c + self.y_embed[label], -32768, 32767)
        c_act = q510(_silu(c / 1024))
        x = self.linear(q510(D.patchify(img, sp.patch)), self.lin["patch_embed"])[1]
        x = np.clip(x + self.pos, -32768, 32767)
        n, d = x.shape
        for i in range(sp.depth):
            st.where, st.layer = (sample, it, i), "adaln"
            x = self.block(x, c_act, i, sample, dense_iter)
        st.where, st.layer = (sample, it, sp.depth), "final"
        mod = self.linear(c_act, self.lin["ada_f"])[1][0].reshape(2, d)
        h = self.nonlinear("layernorm", x, mod[1], mod[0], elements=n * d)
        out = self.linear(h, self.lin["out"])[1] / 1024.0
        return D.unpatchify(out, sp.patch, sp.channels)

    def block(self, x, c_act, i: int, sample: int, dense_iter: bool) -> np.ndarray:
        """Transformer block ``i`` on the residual stream ``x`` (Q5.10, tokens x hidden)."""
        n, d = x.shape
        mod = self.linear(c_act, self.lin[f"blocks.{i}.ada"])[1][0].reshape(6, d)
        b1, s1, g1, b2, s2, g2 = (np.clip(m, -32768, 32767) for m in mod)
        fold = self.gemm_epilogue
        h = self.nonlinear("layernorm", x, s1, b1, elements=n * d)
        a = self.attention(h, i, gate=g1 if fold else None)
        x = self.nonlinear("residual", x, a, None if fold else g1, elements=n * d)
        h = self.nonlinear("layernorm", x, s2, b2, elements=n * d)
        f = self.ffn(h, i, sample, dense_iter, gate=g2 if fold else None)
        return self.nonlinear("residual", x, f, None if fold else g2, elements=n * d)

    def sample(self, labels, seed: int, progress=None, noise=None) -> np.ndarray:
        """DDIM over ``cfg.iterations`` steps for each label; images ``(n, c, H, W)``. The
        starting noise is ``noise`` (e.g. the workload's) or ``D.initial_noise``'s of ``seed``."""
        ts = D.timesteps(self.cfg.iterations)
        x = D.initial_noise(self.spec, seed, len(labels)) if noise is None else \
            np.array(noise, np.float64)
        total, done = len(labels) * len(ts), 0
        for s, label in enumerate(labels):
            for i, t in enumerate(ts):
                eps = self.forward(x[s], t, int(label), s, i)
                x[s] = D.ddim_step(x[s], eps, i, ts)
                done += 1
                if progress:
                    progress(done, total)
        return x


def _silu(x):
    return x / (1.0 + np.exp(-x))
