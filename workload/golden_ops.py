"""The DiT's FFN and attention run with EXION's algorithms from ``golden/``.

Two interchangeable backends implement the ``ops`` protocol of :class:`workload.model.Block`
(``begin_step(i, t)``, ``ffn(index, block, h)``, ``attention(index, block, h)``):

:class:`GoldenOps`
    The reference. For every sample of the batch it calls the golden model itself: one
    ``golden.ffn_reuse.FFNReuseLayer`` per (sample, block) and
    ``golden.eager.eager_predict_heads`` per (sample, block, iteration). Slow (numpy, one sample
    at a time); used for the exported traces and to check :class:`FastOps`.
:class:`FastOps`
    The same rules re-written in torch, vectorised over the batch, for the accuracy table
    (hundreds of samples x 100 iterations x a dozen configurations). Every rule is the golden
    one: the quantile keep-mask with stable tie-break, per-call per-tensor INT quantization of
    the FFN input / GELU output, the two-step leading-one shift-add score prediction with
    ``auto_shift`` requantization, the integer gap threshold ``floor(q_th / scale_s)`` and
    the top-k selection with lower-index tie-break. Integer GEMMs run as float64 matmuls of
    integer values, which is exact here (every partial sum is below 2**53 and no accumulator
    saturates). ``tests/test_workload.py`` checks FastOps against GoldenOps.

What a run does, per block and denoising iteration ``i`` (see ``docs/workload.md``):

* FFN-Reuse (``ffn_n`` given): iteration ``i`` is dense iff ``i % (ffn_n + 1) == 0``; a dense
  call computes FC1 fully and builds the keep-mask of each sample's GELU output (tokens x
  d_ff) with the quantile rule; a sparse call recomputes only kept elements and reuses the
  dense call's values elsewhere. FC2: ``fc2_mode`` as in the golden model.
* Eager prediction (``ep``): the keep-mask (queries x keys) of each (sample, head) is predicted
  from the block's modulated input before Q / K / V; the attention is a masked softmax over the
  kept keys only.
* INT quantization (``quant``): the FFN GEMMs follow ``FFNReuseLayer(cfg=...)`` exactly; the
  attention GEMMs (Q / K / V projections, ``Q K^T``, ``P V``, output projection) use the same
  symmetric per-tensor ``data_width``-bit quantization (inputs per sample, or per sample and
  head; weights per tensor). Softmax, GELU, layer norms and adaLN stay in float (the CFSE).
* All-integer (``int_cfse``): the whole forward pass as the core runs it, non-linearities by
  ``golden/cfse.py`` (``workload/int_ops.py``; ``make_ops`` returns its ``IntOps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from exion.config import ExionConfig
from golden import eager as g_eager
from golden import ffn_reuse as g_ffn

__all__ = ["RunSpec", "FastOps", "GoldenOps", "make_ops", "count_ffn", "quantize_t", "lod_approx_t",
           "keep_mask_t"]


@dataclass(frozen=True)
class RunSpec:
    """One configuration of the accuracy table."""

    name: str
    iterations: int = 100
    ffn_n: int | None = None            # None: no FFN-Reuse
    target_sparsity: float | None = None
    fc2_mode: str = "dense"
    ep: bool = False
    q_th: float = 0.15
    k: float = 0.05
    lod_steps: int = 2
    quant: bool = False
    data_width: int = 12
    #: the all-integer path (workload/int_ops.py): GELU, softmax, LayerNorm + adaLN and the
    #: residual adds by golden/cfse.py's integer functions, GEMMs as the core runs them
    int_cfse: bool = False

    def __post_init__(self):
        if self.int_cfse and not self.quant:
            raise ValueError(f"{self.name}: int_cfse = True needs quant = True (the integer "
                             f"non-linearities take integer GEMM outputs)")

    @property
    def reuse(self) -> bool:
        return self.ffn_n is not None

    def exion_config(self) -> ExionConfig:
        """The :class:`ExionConfig` handed to the golden model (its algorithm fields)."""
        kw = dict(iterations=self.iterations, ep_q_th=self.q_th, ep_k=self.k,
                  lod_steps=self.lod_steps, data_width=self.data_width, name="workload")
        if self.reuse:
            kw.update(ffn_reuse_n=self.ffn_n, ffn_target_sparsity=self.target_sparsity)
        return ExionConfig(**kw)

    def label(self) -> str:
        parts = []
        if self.reuse:
            parts.append(f"FFN-Reuse N={self.ffn_n} s={self.target_sparsity:g}"
                         + (" (delta FC2)" if self.fc2_mode == "delta" else ""))
        if self.ep:
            parts.append(f"EP q_th={self.q_th:g} k={self.k:g}"
                         + (" (1-step LOD)" if self.lod_steps == 1 else ""))
        if self.quant:
            parts.append(f"INT{self.data_width}")
        if self.int_cfse:
            parts.append("integer CFSE")
        return " + ".join(parts) if parts else "vanilla"


# -- integer helpers in torch (same rules as golden/intsem.py) ------------------------------

def quantize_t(x: torch.Tensor, width: int, dims) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization with one scale per slice over ``dims``: returns the integer codes
    (as float64) and the scales (broadcastable). ``round`` is half-to-even as ``np.rint``."""
    qm = (1 << (width - 1)) - 1
    m = x.abs().amax(dim=dims, keepdim=True)
    scale = torch.where(m > 0, m / qm, torch.ones_like(m))
    return torch.clamp(torch.round(x / scale), -qm, qm), scale


def _leading_one_t(mag: torch.Tensor) -> torch.Tensor:
    """floor(log2(mag)) of non-negative int64 below 2**53 (0 where mag == 0): the exponent of
    ``frexp`` (``mag = m * 2**e`` with ``m`` in [0.5, 1)) minus one, exact for such integers."""
    _, e = torch.frexp(mag.double())
    return torch.where(mag > 0, e.to(torch.int64) - 1, torch.zeros_like(mag))


def lod_approx_t(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``golden.eager.lod_approx`` for int64 tensors."""
    mag = x.abs()
    nz = mag != 0
    p1 = _leading_one_t(mag)
    one = torch.ones_like(mag)
    first = torch.where(nz, one << p1, torch.zeros_like(mag))
    out = first
    if steps == 2:
        rem = mag - first
        p2 = _leading_one_t(rem)
        out = out + torch.where(rem != 0, one << p2, torch.zeros_like(mag))
    return torch.where(x < 0, -out, out)


def _auto_shift_t(acc: torch.Tensor, width: int, dims) -> torch.Tensor:
    """``golden.eager.auto_shift`` per slice over ``dims`` (int64 result, keepdim)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    mn = acc.amin(dim=dims, keepdim=True)
    mx = acc.amax(dim=dims, keepdim=True)
    shift = torch.full_like(mn, -1)
    for s in range(0, 63):
        if s:
            rmn, rmx = (mn + (1 << (s - 1))) >> s, (mx + (1 << (s - 1))) >> s
        else:
            rmn, rmx = mn, mx
        ok = (rmn >= lo) & (rmx <= hi) & (shift < 0)
        shift = torch.where(ok, torch.full_like(shift, s), shift)
        if bool((shift >= 0).all()):
            break
    return shift


def _requantize_t(acc: torch.Tensor, shift: torch.Tensor, width: int) -> torch.Tensor:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    half = torch.where(shift > 0, torch.ones_like(shift) << (shift - 1).clamp(min=0),
                       torch.zeros_like(shift))
    return torch.clamp((acc + half) >> shift, lo, hi)


def keep_mask_t(h: torch.Tensor, target_sparsity: float) -> torch.Tensor:
    """``golden.ffn_reuse.build_keep_mask(h[i], target_sparsity=...)`` for every row ``i`` of
    ``h`` (b, size): the ``keep_count`` largest ``|h|``, ties broken by the lower index. Found
    with a k-th value search instead of a full sort."""
    b, size = h.shape
    n_keep = g_ffn.keep_count(size, target_sparsity)
    if n_keep == 0:
        return torch.zeros(b, size, dtype=torch.bool)
    if n_keep == size:
        return torch.ones(b, size, dtype=torch.bool)
    mag = h.abs()
    kth = torch.kthvalue(-mag, n_keep, dim=1).values.neg()[:, None]  # n_keep-th largest |h|
    gt = mag > kth
    eq = mag == kth
    room = n_keep - gt.sum(dim=1, keepdim=True)
    return gt | (eq & (torch.cumsum(eq, dim=1) <= room))


def _int_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact product of integer-valued tensors via float64 (partial sums stay below 2**53)."""
    return torch.round(a.double() @ b.double()).to(torch.int64)


def _ffn_weights(block):
    f = block.ffn
    return (f.fc1.weight.detach().double().T.contiguous(), f.fc1.bias.detach().double(),
            f.fc2.weight.detach().double().T.contiguous(), f.fc2.bias.detach().double())


# -- shared attention arithmetic -------------------------------------------------------------

class _AttentionMath:
    """Q / K / V, ``Q K^T``, softmax (masked when a keep-mask is given), ``P V``, projection;
    optionally with INT quantized GEMMs (see the module docstring)."""

    def __init__(self, spec: RunSpec):
        self.spec = spec
        self._wq: dict[int, tuple] = {}

    def _wquant(self, index, name, lin):
        key = (index, name)
        if key not in self._wq:
            w = lin.weight.detach().double().T.contiguous()
            self._wq[key] = quantize_t(w, self.spec.data_width, dims=(0, 1))
        return self._wq[key]

    def linear(self, index, name, lin, x):
        """``lin(x)`` for x (b, n, d): float, or INT quantized (x per sample, W per tensor)."""
        if not self.spec.quant:
            return lin(x)
        wq, sw = self._wquant(index, name, lin)
        xq, sx = quantize_t(x.double(), self.spec.data_width, dims=(1, 2))
        y = (xq @ wq) * (sx * sw)
        if lin.bias is not None:
            y = y + lin.bias.detach().double()
        return y.float()

    def run(self, index, block, h, keep=None):
        at = block.attn
        q = at.split(self.linear(index, "q", at.q, h))
        k = at.split(self.linear(index, "k", at.k, h))
        v = at.split(self.linear(index, "v", at.v, h))
        if not self.spec.quant:
            o = at.core(q, k, v, keep)
        else:
            w = self.spec.data_width
            qq, sq = quantize_t(q.double(), w, dims=(2, 3))
            kq, sk = quantize_t(k.double(), w, dims=(2, 3))
            s = (qq @ kq.transpose(-1, -2)) * (sq * sk) * (at.head_dim ** -0.5)
            if keep is not None:
                s = s.masked_fill(~keep, float("-inf"))
            p = torch.nan_to_num(torch.softmax(s, dim=-1), nan=0.0)
            pq, sp = quantize_t(p, w, dims=(2, 3))
            vq, sv = quantize_t(v.double(), w, dims=(2, 3))
            o = ((pq @ vq) * (sp * sv)).float()
            b, hh, n, d = o.shape
            o = o.transpose(1, 2).reshape(b, n, hh * d)
        return self.linear(index, "proj", at.proj, o)


# -- statistics ------------------------------------------------------------------------------

@dataclass
class RunStats:
    """What a run did, accumulated over blocks, iterations and samples."""

    ffn_dense_calls: int = 0
    ffn_sparse_calls: int = 0
    ffn_sparse_kept: int = 0          # recomputed H elements in sparse calls
    ffn_sparse_size: int = 0          # H elements in sparse calls
    ffn_macs: int = 0                 # FC1 + FC2 MACs spent (delta FC2 counted as in golden)
    ffn_macs_dense: int = 0           # the same calls run dense
    ffn_macs_delta: int = 0           # MACs had FC2 been run in "delta" mode
    ep_pairs: int = 0                 # (query, key) pairs predicted
    ep_kept: int = 0
    ep_dominant: int = 0
    ep_queries: int = 0
    ep_skip_q: int = 0
    ep_skip_k: int = 0
    ep_skip_v: int = 0
    ep_hits: int = 0                  # kept pairs that are in the exact top-n_i of their row
    ep_top1_hits: int = 0             # queries whose predicted top key is the exact top key
    gelu_cos: dict = field(default_factory=dict)   # block -> list of per-iteration mean cos

    @property
    def inter_sparsity(self) -> float:
        """Mean fraction of H reused in sparse iterations."""
        return 1 - self.ffn_sparse_kept / self.ffn_sparse_size if self.ffn_sparse_size else 0.0

    @property
    def ffn_mac_reduction(self) -> float:
        return 1 - self.ffn_macs / self.ffn_macs_dense if self.ffn_macs_dense else 0.0

    @property
    def ffn_mac_reduction_delta(self) -> float:
        return 1 - self.ffn_macs_delta / self.ffn_macs_dense if self.ffn_macs_dense else 0.0

    @property
    def intra_sparsity(self) -> float:
        return 1 - self.ep_kept / self.ep_pairs if self.ep_pairs else 0.0

    def as_dict(self) -> dict:
        return {
            "inter_sparsity": self.inter_sparsity,
            "ffn_mac_reduction": self.ffn_mac_reduction,
            "ffn_mac_reduction_delta_fc2": self.ffn_mac_reduction_delta,
            "intra_sparsity": self.intra_sparsity,
            "ep_dominant": self.ep_dominant / self.ep_queries if self.ep_queries else 0.0,
            "ep_skip_q": self.ep_skip_q / self.ep_queries if self.ep_queries else 0.0,
            "ep_skip_k": self.ep_skip_k / self.ep_queries if self.ep_queries else 0.0,
            "ep_skip_v": self.ep_skip_v / self.ep_queries if self.ep_queries else 0.0,
            "ep_hit_rate": self.ep_hits / self.ep_kept if self.ep_kept else 0.0,
            "ep_top1_hit_rate": self.ep_top1_hits / self.ep_queries if self.ep_queries else 0.0,
        }


class _OpsBase:
    def __init__(self, spec: RunSpec, record_gelu: bool = False, record_masks: bool = False):
        self.spec = spec
        self.cfg = spec.exion_config()
        self.attn_math = _AttentionMath(spec)
        self.stats = RunStats()
        self.step = -1
        self.t = None
        self.dense = True
        self.record_gelu = record_gelu
        self._prev_gelu: dict[int, torch.Tensor] = {}
        self.record_masks = record_masks
        self.ffn_masks: list[tuple[dict, np.ndarray]] = []    # (meta, (b, tokens, d_ff) bool)
        self.eager_masks: list[tuple[dict, np.ndarray]] = []  # (meta, (b, heads, q, k) bool)

    def begin_step(self, i: int, t: int) -> None:
        self.step, self.t = i, t
        self.dense = (not self.spec.reuse) or g_ffn.is_dense_iteration(i, self.spec.ffn_n)

    def _note_gelu(self, index: int, hgelu: torch.Tensor) -> None:
        if not self.record_gelu:
            return
        prev = self._prev_gelu.get(index)
        if prev is not None:
            a, b = hgelu.flatten(1), prev.flatten(1)
            cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
            self.stats.gelu_cos.setdefault(index, []).append(float(cos.mean()))
        self._prev_gelu[index] = hgelu.detach().clone()

    def _count_ffn(self, dense: bool, kept: int, size: int, tokens: int, d, f, o):
        count_ffn(self.stats, self.spec, dense, kept, size, tokens, d, f, o)

    def _count_ep(self, keep: np.ndarray, dominant: np.ndarray, skip_q, skip_k, skip_v,
                  hits: int = 0, top1_hits: int = 0):
        st = self.stats
        st.ep_hits += int(hits)
        st.ep_top1_hits += int(top1_hits)
        st.ep_pairs += keep.size
        st.ep_kept += int(keep.sum())
        st.ep_queries += dominant.size
        st.ep_dominant += int(dominant.sum())
        st.ep_skip_q += int(skip_q.sum())
        st.ep_skip_k += int(skip_k.sum())
        st.ep_skip_v += int(skip_v.sum())

    def _meta(self, index: int) -> dict:
        return {"iteration": self.step, "timestep": self.t, "block": index}

    def attention(self, index, block, h):
        keep = self.predict(index, block, h) if self.spec.ep else None
        return self.attn_math.run(index, block, h, keep)


# -- the vectorised backend -------------------------------------------------------------------

class FastOps(_OpsBase):
    """Torch implementation of the golden rules, vectorised over the batch."""

    def __init__(self, spec: RunSpec, **kw):
        super().__init__(spec, **kw)
        self._w: dict[int, tuple] = {}
        self._state: dict[int, dict] = {}

    def _weights(self, index, block):
        if index not in self._w:
            w1, b1, w2, b2 = _ffn_weights(block)
            entry = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
            if self.spec.quant:
                entry["w1q"], entry["s_w1"] = quantize_t(w1, self.spec.data_width, dims=(0, 1))
                entry["w2q"], entry["s_w2"] = quantize_t(w2, self.spec.data_width, dims=(0, 1))
            self._w[index] = entry
        return self._w[index]

    def _fc1(self, w, x):
        if not self.spec.quant:
            return x @ w["w1"] + w["b1"]
        xq, sx = quantize_t(x, self.spec.data_width, dims=(1, 2))
        return (xq @ w["w1q"]) * (sx * w["s_w1"]) + w["b1"]

    def _fc2(self, w, hh):
        if not self.spec.quant:
            return hh @ w["w2"] + w["b2"]
        hq, sh = quantize_t(hh, self.spec.data_width, dims=(1, 2))
        return (hq @ w["w2q"]) * (sh * w["s_w2"]) + w["b2"]

    def _fc2_delta(self, w, d):
        if not self.spec.quant:
            return d @ w["w2"]
        dq, sd = quantize_t(d, self.spec.data_width, dims=(1, 2))
        return (dq @ w["w2q"]) * (sd * w["s_w2"])

    def ffn(self, index, block, h):
        x = h.double()
        w = self._weights(index, block)
        b, n, d = x.shape
        f, o = w["w1"].shape[1], w["w2"].shape[1]
        hg = torch.nn.functional.gelu(self._fc1(w, x))
        if not self.spec.reuse:
            y = self._fc2(w, hg)
            self._count_ffn(True, n * f, n * f, n, d, f, o)
        elif self.dense:
            y = self._fc2(w, hg)
            size = n * f
            mask = keep_mask_t(hg.reshape(b, size), self.spec.target_sparsity).reshape(b, n, f)
            self._state[index] = {"mask": mask, "h": hg, "y": y}
            for _ in range(b):
                self._count_ffn(True, size, size, n, d, f, o)
            if self.record_masks:
                self.ffn_masks.append((self._meta(index), mask.numpy().copy()))
        else:
            st = self._state[index]
            hg = torch.where(st["mask"], hg, st["h"])
            if self.spec.fc2_mode == "dense":
                y = self._fc2(w, hg)
            else:
                y = st["y"] + self._fc2_delta(w, hg - st["h"])
            kept = st["mask"].reshape(b, -1).sum(1).tolist()
            for kk in kept:
                self._count_ffn(False, int(kk), n * f, n, d, f, o)
        self._note_gelu(index, hg)
        return y.float()

    def predict(self, index, block, h):
        """Eager-prediction keep-masks, (b, heads, queries, keys) bool."""
        sp, at = self.spec, block.attn
        width, steps = sp.data_width, sp.lod_steps
        x = h.double()
        b, n, d = x.shape
        heads, dh = at.heads, at.head_dim
        key = ("ep", index)
        if key not in self._w:
            wq = at.q.weight.detach().double().T.contiguous()
            wk = at.k.weight.detach().double().T.contiguous()
            wqq, s_wq = quantize_t(wq, width, dims=(0, 1))
            wkq, s_wk = quantize_t(wk, width, dims=(0, 1))
            self._w[key] = (lod_approx_t(wqq.to(torch.int64), steps).double(), float(s_wq),
                            lod_approx_t(wkq.to(torch.int64), steps).double(), float(s_wk))
        lwq, s_wq, lwk, s_wk = self._w[key]
        xq, s_x = quantize_t(x, width, dims=(1, 2))            # (b, n, d), (b, 1, 1)
        lx = lod_approx_t(xq.to(torch.int64), steps).double()
        q_acc = torch.round(lx @ lwq).to(torch.int64).view(b, n, heads, dh).transpose(1, 2)
        k_acc = torch.round(lx @ lwk).to(torch.int64).view(b, n, heads, dh).transpose(1, 2)
        sq = _auto_shift_t(q_acc, width, dims=(2, 3))         # (b, heads, 1, 1)
        sk = _auto_shift_t(k_acc, width, dims=(2, 3))
        qp = _requantize_t(q_acc, sq, width)
        kp = _requantize_t(k_acc, sk, width)
        s = _int_mm(lod_approx_t(qp, steps), lod_approx_t(kp, steps).transpose(-1, -2))
        # integer gap threshold per (sample, head): floor(q_th / scale_s)
        sx = s_x.reshape(b, 1).double()
        scale_s = sx * sx * s_wq * s_wk * torch.pow(2.0, (sq + sk).reshape(b, heads).double()) \
            / math.sqrt(dh)
        q_th_int = torch.floor(sp.q_th / scale_s).clamp(max=float(1 << 62)).to(torch.int64)
        count = g_eager.topk_count(sp.k, n)
        # Unique sort keys: score first, then the lower key index (golden's tie-break).
        key_ = s * n + (n - 1 - torch.arange(n))
        top = torch.topk(key_, min(n, max(count, 2)), dim=-1).values  # descending
        if n > 1:
            gap = torch.div(top[..., 0], n, rounding_mode="floor") \
                - torch.div(top[..., 1], n, rounding_mode="floor")
            dominant = gap > q_th_int[:, :, None]
        else:
            dominant = torch.ones(s.shape[:-1], dtype=torch.bool)
        thr = torch.where(dominant, top[..., 0], top[..., count - 1])
        keep = key_ >= thr[..., None]
        # hit rate against the exact float scores (as EagerResult.hit_rate / top1_hit_rate)
        wqf = at.q.weight.detach().double().T
        wkf = at.k.weight.detach().double().T
        qf = (x @ wqf).view(b, n, heads, dh).transpose(1, 2)
        kf = (x @ wkf).view(b, n, heads, dh).transpose(1, 2)
        exact = qf @ kf.transpose(-1, -2) / math.sqrt(dh)
        eidx = torch.topk(exact, count, dim=-1).indices
        etop = torch.zeros_like(keep).scatter_(-1, eidx, True)
        etop1 = torch.zeros_like(keep).scatter_(-1, eidx[..., :1], True)
        etop = torch.where(dominant[..., None], etop1, etop)
        hits = int((keep & etop).sum())
        pred_top = (n - 1) - torch.remainder(top[..., 0], n)
        top1_hits = int((pred_top == eidx[..., 0]).sum())
        kn, dn = keep.numpy(), dominant.numpy()
        skip_q = dn
        skip_k = ~(kn & ~dn[..., None]).any(axis=-2)
        skip_v = ~kn.any(axis=-2)
        self._count_ep(kn, dn, skip_q, skip_k, skip_v, hits, top1_hits)
        if self.record_masks:
            self.eager_masks.append((self._meta(index), kn.copy()))
        return keep


# -- the reference backend --------------------------------------------------------------------

class GoldenOps(_OpsBase):
    """Calls ``golden.ffn_reuse`` and ``golden.eager`` sample by sample (the reference)."""

    def __init__(self, spec: RunSpec, **kw):
        super().__init__(spec, **kw)
        self._layers: dict[tuple[int, int], g_ffn.FFNReuseLayer] = {}

    def _layer(self, index, sample, block):
        key = (index, sample)
        if key not in self._layers:
            w1, b1, w2, b2 = (t.numpy() for t in _ffn_weights(block))
            sp = self.spec
            if sp.reuse:
                self._layers[key] = g_ffn.FFNReuseLayer(
                    w1, b1, w2, b2, target_sparsity=sp.target_sparsity, fc2_mode=sp.fc2_mode,
                    cfg=self.cfg if sp.quant else None)
            else:  # a layer that is dense every call: N = infinity is not needed, mask unused
                self._layers[key] = g_ffn.FFNReuseLayer(
                    w1, b1, w2, b2, target_sparsity=0.0, cfg=self.cfg if sp.quant else None)
        return self._layers[key]

    def ffn(self, index, block, h):
        x = h.double().numpy()
        ys, masks, hs = [], [], []
        dense = self.dense
        for bi in range(x.shape[0]):
            layer = self._layer(index, bi, block)
            ys.append(layer.forward(x[bi], dense=dense))
            st = layer.stats[-1]
            n, d = x[bi].shape
            self._count_ffn(st.dense, st.kept, st.h_size, n, d, layer.d_ff, layer.d_out)
            masks.append(layer.mask)
            hs.append(layer.last_h)
        if self.record_masks and self.spec.reuse and dense:
            self.ffn_masks.append((self._meta(index), np.stack(masks)))
        if self.record_gelu:
            self._note_gelu(index, torch.from_numpy(np.stack(hs)))
        return torch.from_numpy(np.stack(ys)).float()

    def predict(self, index, block, h):
        at = block.attn
        x = h.double().numpy()
        wq = at.q.weight.detach().double().T.numpy()
        wk = at.k.weight.detach().double().T.numpy()
        keeps = []
        for bi in range(x.shape[0]):
            res = g_eager.eager_predict_heads(x[bi], wq, wk, at.heads, self.cfg,
                                              steps=self.spec.lod_steps, q_th=self.spec.q_th,
                                              k=self.spec.k)
            keeps.append(np.stack([r.keep for r in res]))
            for r in res:
                self._count_ep(r.keep, r.dominant, r.skip_q, r.skip_k, r.skip_v,
                               int((r.keep & r.exact_topk).sum()),
                               int(round(r.top1_hit_rate * r.keep.shape[0])))
        keep = np.stack(keeps)
        if self.record_masks:
            self.eager_masks.append((self._meta(index), keep.copy()))
        return torch.from_numpy(keep)


def count_ffn(st, spec: RunSpec, dense: bool, kept: int, size: int, tokens: int, d, f, o):
    """Add one FFN call to the run statistics ``st``: its MACs dense, as run (``spec.fc2_mode``)
    and in ``delta`` mode, and for a sparse call the kept GELU outputs of ``size``."""
    full = g_ffn.dense_macs(tokens, d, f, o)
    st.ffn_macs_dense += full
    if dense:
        st.ffn_dense_calls += 1
        st.ffn_macs += full
        st.ffn_macs_delta += full
    else:
        st.ffn_sparse_calls += 1
        st.ffn_sparse_kept += kept
        st.ffn_sparse_size += size
        st.ffn_macs += sum(g_ffn.sparse_macs(kept, tokens, d, f, o, spec.fc2_mode))
        st.ffn_macs_delta += sum(g_ffn.sparse_macs(kept, tokens, d, f, o, "delta"))


def make_ops(spec: RunSpec, backend: str = "fast", **kw):
    if spec.int_cfse:                 # the whole forward pass and sampler: workload/int_ops.py
        from .int_ops import IntOps
        return IntOps(spec, backend, **kw)
    if backend == "fast":
        return FastOps(spec, **kw)
    if backend == "golden":
        return GoldenOps(spec, **kw)
    raise ValueError(f"backend = {backend!r} is not one of fast, golden")
