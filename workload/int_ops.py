"""The all-integer DiT of the accuracy table (``RunSpec(int_cfse=True)``): every GEMM at
``data_width`` bits and every non-linearity (GELU, softmax over the kept keys, LayerNorm +
adaLN modulation, residual add with saturation) by ``golden/cfse.py``'s integer functions at
the CFSE's formats, with FFN-Reuse and eager prediction as the core runs them.

One definition with the host runtime (docs/runtime.md, "Numbers"; docs/workload.md,
"All-integer path"): the forward pass is :class:`exion_tools.runtime.model.DiTRuntime`'s
(numpy), its core operations computed directly by the golden functions
(:class:`exion_tools.runtime.golden_host.GoldenHost`) on the ``exion`` preset's core with the
spec's algorithm fields, the DDIM step ``exion_tools.runtime.dit.ddim_step`` (float64), from
the workload's starting noise. So the runtime's commands must give these very numbers
(tests/test_runtime_ref.py holds it on recorded reference tensors).

Backends: ``golden`` computes ``PREDICT``'s scores with ``golden.eager.shift_add_matmul``
term by term; ``fast`` with the plain integer product of the ``lod_approx`` operands
(``lod_product``, the same integers, a few times faster). The eager Q' / K' projections are
the runtime's own (``DiTRuntime.shift_add``, that exact integer product) in both. Both
call the golden CFSE functions through numpy (fast enough: about 0.1 s per image and
iteration in mode ``all``). tests/test_workload.py checks one against the other.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from exion.config import ExionConfig, preset
from exion_tools.runtime import dit as D
from exion_tools.runtime.counts import Stats
from exion_tools.runtime.golden_host import GoldenHost, Recorder
from exion_tools.runtime.model import DiTRuntime

__all__ = ["runtime_config", "runtime_mode", "weights_of", "IntOps"]


def runtime_config(spec) -> ExionConfig:
    """The ``exion`` preset's core (its tiles decide K splits and row groups) with ``spec``'s
    algorithm fields."""
    kw = dict(iterations=spec.iterations, ep_q_th=spec.q_th, ep_k=spec.k,
              lod_steps=spec.lod_steps, data_width=spec.data_width)
    if spec.reuse:
        kw.update(ffn_reuse_n=spec.ffn_n, ffn_target_sparsity=spec.target_sparsity)
    return preset("exion", **kw)


def runtime_mode(spec) -> str:
    """The runtime's mode of ``spec``: base, ep, ffnr or all."""
    return {(False, False): "base", (False, True): "ep", (True, False): "ffnr",
            (True, True): "all"}[(spec.reuse, spec.ep)]


def weights_of(model) -> D.DiTWeights:
    """The torch DiT's weights as the runtime's (float64; the stored float16 values exactly)."""
    w = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    return D.DiTWeights(D.DiTSpec(**asdict(model.cfg), name="workload"), w)


class _Tally:
    """A host that also fills the accuracy table's :class:`RunStats` from the operations."""

    def __init__(self, host, stats, spec, shape):
        self._host, self._st, self._spec, self._shape = host, stats, spec, shape

    def __getattr__(self, name):
        return getattr(self._host, name)

    def _ffn(self, dense, kept, size):
        from .golden_ops import count_ffn       # golden_ops imports this module lazily
        n, d, f = self._shape
        count_ffn(self._st, self._spec, dense, kept, size, n, d, f, d)

    def gemm(self, x, w, shift, **kw):
        out = self._host.gemm(x, w, shift, **kw)
        if self._host.stats.layer == "fc1":
            self._ffn(True, 0, 0)
        return out

    def sparse_gemm(self, x, w, keep, shift, **kw):
        out = self._host.sparse_gemm(x, w, keep, shift, **kw)
        if self._host.stats.layer == "fc1":
            self._ffn(False, int(np.sum(keep)), int(np.size(keep)))
        return out

    def predict(self, qp, kp, q_th, topk):
        keep, dom = self._host.predict(qp, kp, q_th, topk)
        st = self._st
        st.ep_pairs += keep.size
        st.ep_kept += int(keep.sum())
        st.ep_queries += dom.size
        st.ep_dominant += int(dom.sum())
        st.ep_skip_q += int(dom.sum())
        st.ep_skip_k += int((~(keep & ~dom[:, None]).any(axis=0)).sum())
        st.ep_skip_v += int((~keep.any(axis=0)).sum())
        return keep, dom


class IntOps:
    """Samples a set with the all-integer DiT (see the module docstring).

    Parameters
    ----------
    spec : workload.golden_ops.RunSpec
        ``int_cfse`` set; ``quant`` implied.
    backend : str
        ``fast`` or ``golden``.
    record : set of (sample, iteration, block), optional
        Places whose core operations :attr:`recorder` keeps (reference tensors).

    Members
    -------
    spec, cfg, mode, stats (``RunStats``), recorder (None unless ``record``), images
    """

    def __init__(self, spec, backend: str = "fast", record=None, **_ignored):
        from .golden_ops import RunStats

        if backend not in ("fast", "golden"):
            raise ValueError(f"backend = {backend!r} is not one of fast, golden")
        self.spec, self.backend = spec, backend
        self.cfg = runtime_config(spec)
        self.mode = runtime_mode(spec)
        self.stats = RunStats()
        self.record = record
        self.recorder = None
        self.images = None

    def sample(self, model, y, noise, progress=None) -> torch.Tensor:
        """DDIM from ``noise`` (n, c, H, W) with labels ``y``; images as a float32 tensor."""
        w = weights_of(model)
        sp = w.spec
        host = GoldenHost(self.cfg, Stats(self.cfg), fast=self.backend == "fast")
        if self.record is not None:
            host = self.recorder = Recorder(host, self.record)
        host = _Tally(host, self.stats, self.spec, (sp.tokens, sp.hidden, sp.ffn_hidden))
        # the runtime's own eager projection (DiTRuntime.shift_add) is already the exact
        # integer product of the lod_approx operands: both backends use it
        rt = DiTRuntime(w, self.cfg, self.mode, host, cfse="chip")
        labels = [int(v) for v in torch.as_tensor(y).tolist()]
        x = rt.sample(labels, 0, progress=progress,
                      noise=torch.as_tensor(noise).double().numpy())
        self.images = x
        return torch.from_numpy(x).float()
