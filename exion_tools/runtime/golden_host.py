"""The core's operations computed directly with the golden functions (no commands), and a
recorder of the operations a run makes.

:class:`GoldenHost` has :class:`exion_tools.runtime.lower.Host`'s interface (``gemm``,
``sparse_gemm``, ``predict``, ``gelu``, ``softmax``, ``layernorm``, ``residual``, ``cfse_ok``,
``predict_ok``) and returns what the core must give: ``requantize(int_matmul(x, w), shift)``
for a GEMM, ``golden.eager.select`` for a ``PREDICT`` (per chunk of at most 64 keys, joined as
the host joins them), and for a CFSE operation the conversions of ``golden.core_cfse`` around
the ``golden.cfse`` function: the operand as ``data_width``-bit codes with ``data_width - 6``
fraction bits (``code_to_act``), the result back (``act_to_code``, then shifted to Q5.10 /
Q1.15). :class:`exion_tools.runtime.model.DiTRuntime` over a ``GoldenHost`` is the all-integer
DiT's reference: the workload's integer-non-linearity path (``workload/golden_ops.py``)
runs it, and the runtime's commands must equal it (tests/test_runtime.py,
tests/test_runtime_ref.py).

:class:`Recorder` wraps a host and keeps the arguments and results of the operations of
chosen (sample, iteration, block) places (``stats.where``), for reference tensors.
"""

from __future__ import annotations

import hashlib

import numpy as np

from exion.config import ExionConfig
from golden import cfse, eager, ffn_reuse, intsem
from golden.core_checks import Limits

from .counts import Stats
from .lower_cfse import CfseCommands

__all__ = ["GoldenHost", "Recorder", "OPS", "lod_product", "log_to_arrays", "log_from_arrays", "digest", "WEIGHT_LAYERS"]

#: The operations a host performs for :class:`DiTRuntime` (what :class:`Recorder` records).
OPS = ("gemm", "sparse_gemm", "predict", "gelu", "softmax", "layernorm", "residual")


def lod_product(a, b, steps: int) -> np.ndarray:
    """``golden.eager.shift_add_matmul(a, b, steps)`` as the integer product of the two
    ``lod_approx`` operands: equal by its definition and exact in int64 for ``data_width``-bit
    operands (terms below ``2**31``, sums below ``2**62`` for ``K < 2**31``), and much faster
    than the term-by-term shift-add sum."""
    return eager.lod_approx(a, steps) @ eager.lod_approx(b, steps)


class GoldenHost(CfseCommands):
    """What :class:`Host` computes, without commands (``cfse_ok`` is :class:`Host`'s).

    Parameters
    ----------
    cfg : ExionConfig
    stats : Stats
    fast : bool
        ``PREDICT``'s scores by :func:`lod_product` instead of ``eager.shift_add_matmul``
        (the same integers).

    Members
    -------
    cfg, stats, limits, kc_max
    shift_add : callable
        The score product of ``PREDICT``.
    """

    def __init__(self, cfg: ExionConfig, stats: Stats, fast: bool = False):
        self.cfg, self.stats = cfg, stats
        self.limits = Limits.of(cfg)
        self.kc_max = self.limits.imem_words
        self.shift_add = lod_product if fast else eager.shift_add_matmul

    def _y(self, x, w, shift):
        acc = intsem.int_matmul(x, w, self.cfg.lanes, self.cfg.acc_width)
        return intsem.requantize(acc, shift, self.cfg.data_width)

    def gemm(self, x, w, shift, *, ffn_th=None, k_macs=None):
        y = self._y(x, w, shift)
        return y if ffn_th is None else (y, ffn_reuse.keep_mask_int(y, *ffn_th))

    def sparse_gemm(self, x, w, keep, shift, *, k_macs=None):
        return np.where(keep, self._y(x, w, shift), 0)

    def predict_ok(self, head_dim, keys):
        from exion.limits import MAX_HEAD_DIM
        kc = -(-head_dim // self.cfg.lanes)
        return kc * self.cfg.lanes <= MAX_HEAD_DIM and kc <= self.kc_max

    def predict(self, qp, kp, q_th, topk):
        m, n = qp.shape[0], kp.shape[0]
        per = min(64, self.limits.channels)
        chunks = [(c, min(c + per, n)) for c in range(0, n, per)]
        keep = np.zeros((m, n), bool)
        dom = np.zeros(m, bool)
        scores = self.shift_add(qp, np.asarray(kp).T, self.cfg.lod_steps)
        for c0, c1 in chunks:
            nk = c1 - c0
            k = min(topk, nk, self.limits.max_topk)
            kp_, dp = eager.select(scores[:, c0:c1], q_th, k / nk)
            keep[:, c0:c1] = kp_
            if len(chunks) == 1:
                dom = dp
        return keep, dom

    # The CFSE operations as golden.core_cfse defines their commands.
    def _act(self, x):
        s = 16 - self.cfg.data_width
        return cfse.code_to_act(intsem.requantize(np.asarray(x), s, self.cfg.data_width), s)

    def _back(self, y):
        s = 16 - self.cfg.data_width
        return cfse.act_to_code(y, s, self.cfg.data_width) << s

    def gelu(self, x):
        return self._back(cfse.gelu(self._act(x)))

    def softmax(self, x, keep=None):
        return self._back(cfse.softmax(self._act(x), keep))

    def layernorm(self, x, scale, shift):
        return self._back(cfse.layernorm_adaln(self._act(x), self._act(scale), self._act(shift)))

    def residual(self, x, f, gate=None):
        if gate is not None:
            raise ValueError("the RESIDUAL command takes no per-channel gate (the runtime "
                             "folds gates into the GEMM before it)")
        return self._back(cfse.residual_add(self._act(x), self._act(f)))


class Recorder:
    """``host`` with the operations of the places in ``where`` recorded.

    Parameters
    ----------
    host : Host or GoldenHost
    where : set of (sample, iteration, block)
        ``stats.where`` values whose operations are kept; None: every place.

    Members
    -------
    log : list of (where, layer, op, args, result)
        ``args``: the positional arguments and the keywords that change the result
        (``keep``, ``ffn_th``); ``result``: an array, or a tuple of arrays.
    """

    def __init__(self, host, where=None):
        self._host = host
        self._where = None if where is None else set(where)
        self.log: list = []

    def __getattr__(self, name):
        target = getattr(self._host, name)
        if name not in OPS:
            return target

        def call(*args, **kw):
            out = target(*args, **kw)
            where = tuple(self._host.stats.where)
            if self._where is None or where in self._where:
                kept = {k: v for k, v in kw.items() if k in ("keep", "ffn_th") and v is not None}
                self.log.append((where, self._host.stats.layer, name, args, kept, out))
            return out
        return call


def _arrays(v):
    return v if isinstance(v, tuple) else (v,)


#: Layers whose GEMMs take a weight tensor of the DiT (argument 1): stored as its digest
#: (:func:`digest`), the weights file holds it; ``qk`` and ``pv`` take activations (K, V).
WEIGHT_LAYERS = ("embed", "adaln", "qkv", "proj", "fc1", "fc2", "final")


def digest(a) -> str:
    """SHA-256 of an integer array's shape and int64 values."""
    a = np.ascontiguousarray(np.asarray(a, np.int64))
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def log_to_arrays(log, prefix: str) -> tuple[dict, list]:
    """A :attr:`Recorder.log` as ``npz`` arrays (``{prefix}{i}/a{j}``, ``/k_{name}``,
    ``/r{j}``; integers as int16 or int32 where they fit, masks as bool) and a JSON-able index
    of the entries. A None argument is only listed in the index; a weight operand (argument 1
    of a GEMM of :data:`WEIGHT_LAYERS`) is stored as its :func:`digest`; an array equal to an
    earlier one shifted left by ``s`` bits (an operation's result is often the next one's
    operand at another scale) as ``[key, s]`` in the index's ``alias`` (negative ``s``: shifted
    right, exactly)."""
    arrays, index, seen = {}, [], []

    def put(name, a, alias):
        a = np.asarray(a)
        if a.dtype != bool and a.size > 64:
            v = a.astype(np.int64)
            for k, old in seen:
                if old.shape != v.shape:
                    continue
                for sh in range(16):
                    if np.array_equal(old << sh, v):
                        alias[name] = [k, sh]
                        return
                    if sh and np.array_equal(v << sh, old):
                        alias[name] = [k, -sh]
                        return
            seen.append((name, v))
        arrays[name] = _small(a)

    for i, (where, layer, op, args, kw, out) in enumerate(log):
        key = f"{prefix}{i:04d}/"
        digests, alias = {}, {}
        for j, a in enumerate(args):
            if j == 1 and op in ("gemm", "sparse_gemm") and layer in WEIGHT_LAYERS:
                digests[str(j)] = digest(a)
            elif a is not None:
                put(f"{key}a{j}", a, alias)
        for name, v in kw.items():
            arrays[f"{key}k_{name}"] = _small(np.asarray(v))
        res = _arrays(out)
        for j, r in enumerate(res):
            put(f"{key}r{j}", r, alias)
        index.append({"where": list(where), "layer": layer, "op": op, "args": len(args),
                      "none": [j for j, a in enumerate(args) if a is None], "digests": digests,
                      "alias": alias, "kw": sorted(kw), "results": len(res),
                      "tuple": isinstance(out, tuple)})
    return arrays, index


def _small(a):
    a = np.asarray(a)
    if a.dtype == bool:
        return a
    a = a.astype(np.int64)
    for t in (np.int16, np.int32):
        if not a.size or (a.min() >= np.iinfo(t).min and a.max() <= np.iinfo(t).max):
            return a.astype(t)
    return a


def log_from_arrays(z, prefix: str, index: list) -> list:
    """The entries :func:`log_to_arrays` stored, as ``(where, layer, op, args, kw, result)``
    with int64 arrays (scalars as Python ints; ``ffn_th`` as a tuple; a weight operand as its
    digest string)."""
    alias = {k: v for e in index for k, v in e.get("alias", {}).items()}

    def get(k):
        if k in alias:
            src, sh = alias[k]
            a = get(src)
            return a << sh if sh >= 0 else a >> -sh
        a = z[k]
        return a if a.dtype == bool else (int(a) if a.ndim == 0 else a.astype(np.int64))
    out = []
    for i, e in enumerate(index):
        key = f"{prefix}{i:04d}/"
        args = tuple(None if j in e["none"] else e["digests"][str(j)] if str(j) in e["digests"]
                     else get(f"{key}a{j}") for j in range(e["args"]))
        kw = {n: get(f"{key}k_{n}") for n in e["kw"]}
        if "ffn_th" in kw:
            kw["ffn_th"] = tuple(int(v) for v in kw["ffn_th"])
        res = tuple(get(f"{key}r{j}") for j in range(e["results"]))
        out.append((tuple(e["where"]), e["layer"], e["op"], args, kw,
                    res if e["tuple"] else res[0]))
    return out
