"""Whole-model cycles and action counts of a DiT per mode, on ``cfg.cores`` cores.

Modes (the paper's bars): ``base`` (dense), ``ep`` (eager prediction), ``ffnr``
(FFN-Reuse), ``all`` (both). One block of one iteration is a list of jobs run one after
another (``golden/multicore.py``):

* attention: ``base``: QKV projection, ``Q K^T`` and ``P V`` per head, softmax over every
  score, output projection. ``ep``: ``PREDICT`` per head with its shift-and-add ``X Wq``,
  ``X Wk`` (``golden.energy_counts.predict_counts``); the Q, K, V projections only of the
  rows eager prediction does not skip (fractions ``skip_q``, ``skip_k``, ``skip_v``);
  ``Q K^T`` of the kept (query, key) pairs: ``SCHEDULE`` of the mask ``PREDICT`` wrote,
  then the ConMerged GEMM (measured keep-masks); softmax
  over the kept scores; ``P V`` reducing over the kept V rows only; output projection.
* FFN: ``base``: FC1, GELU, FC2 dense. ``ffnr``: iteration ``i`` is dense iff
  ``i % (N + 1) == 0``; a dense iteration runs FC1 with ``FFN_MASK`` (the keep-mask
  test), a sparse one ``SCHEDULE`` plus FC1 of the kept outputs (measured keep-masks),
  GELU of the kept outputs only, and FC2 dense on the merged ``H`` (the traces' FC2 mode).
* LayerNorm with adaLN twice and the two gated residual adds every block.

Left out, as in the GPU model: the patch embedding, the conditioning MLP, adaLN's
modulation GEMMs (one token), the final layer. Sparsity comes in as a :class:`Sparsity`
(the caller measures it; ``exion_tools/evaluate.py`` reads ``data/traces``).
"""

from __future__ import annotations

from dataclasses import dataclass

from exion.config import ConfigError, ExionConfig
from golden.energy import ActionCounts
from golden.energy_counts import cfse_counts, predict_counts
from golden.gpu_roofline import DIT_SHAPES
from golden.multicore import Job, JobReport, Other, run_job, run_other

__all__ = ["MODES", "Sparsity", "block_jobs", "iteration_kinds", "model_counts", "ModelReport"]

MODES = ("base", "ep", "ffnr", "all")


@dataclass(frozen=True)
class Sparsity:
    """Measured sparsity a mode uses.

    Members
    -------
    ffn_masks : tuple
        FC1 keep-masks (tokens x ffn) of sparse FFN-Reuse iterations (averaged over).
    eager_masks : tuple
        ``Q K^T`` keep-masks (tokens x tokens), ``heads`` per replica (averaged over).
    skip_q, skip_k, skip_v : float
        Fractions of Q, K, V projection rows eager prediction skips.
    """

    ffn_masks: tuple
    eager_masks: tuple
    skip_q: float
    skip_k: float
    skip_v: float


def _shape(shape):
    return DIT_SHAPES[shape] if isinstance(shape, str) else shape


def _rows(t: int, skip: float) -> int:
    return max(1, round(t * (1.0 - skip)))


def block_jobs(shape, mode: str, dense_iter: bool, sp: Sparsity | None, cfg: ExionConfig):
    """Jobs (:class:`Job` / :class:`Other`) of one block in one iteration, in order."""
    if mode not in MODES:
        raise ConfigError(f"mode = {mode!r} is not one of {', '.join(MODES)}")
    sh = _shape(shape)
    t, h, heads, f = sh["tokens"], sh["hidden"], sh["heads"], sh["ffn"]
    dh = h // heads
    groups = -(-t // cfg.rows)
    ep = mode in ("ep", "all")
    reuse = mode in ("ffnr", "all") and not dense_iter
    mark = mode in ("ffnr", "all") and dense_iter
    # Element-wise CFSE work splits over any number of cores; a softmax row stays on one.
    jobs: list = [Other("layernorm", cfse_counts("layernorm", 2 * t * h, cfg), t * h)]
    if ep:
        pred = predict_counts(t, t, dh, cfg, d_model=h) * heads
        jobs.append(Other("predict", pred, heads * groups))
        jobs += [Job("q", _rows(t, sp.skip_q), h, h), Job("k", _rows(t, sp.skip_k), h, h),
                 Job("v", _rows(t, sp.skip_v), h, h),
                 Job("qk", t, dh, t, heads, masks=tuple(sp.eager_masks),
                     schedule=True)]
        kept = sum(int(m.sum()) for m in sp.eager_masks) / (len(sp.eager_masks) / heads)
        jobs.append(Other("softmax", cfse_counts("softmax", round(kept), cfg), heads * t))
        jobs.append(Job("av", t, _rows(t, sp.skip_v), dh, heads))
    else:
        jobs += [Job("qkv", t, h, 3 * h), Job("qk", t, dh, t, heads)]
        jobs.append(Other("softmax", cfse_counts("softmax", heads * t * t, cfg), heads * t))
        jobs.append(Job("av", t, t, dh, heads))
    jobs.append(Job("proj", t, h, h))
    if reuse:
        jobs.append(Job("fc1", t, h, f, masks=tuple(sp.ffn_masks), schedule=True))
        kept = sum(int(m.sum()) for m in sp.ffn_masks) / len(sp.ffn_masks)
        jobs.append(Other("gelu", cfse_counts("gelu", round(kept), cfg), t * f))
    else:
        jobs.append(Job("fc1", t, h, f, ffn_mask=mark))
        jobs.append(Other("gelu", cfse_counts("gelu", t * f, cfg), t * f))
    jobs.append(Job("fc2", t, f, h))
    jobs.append(Other("residual", cfse_counts("residual", 2 * t * h, cfg), t * h))
    return jobs


def iteration_kinds(mode: str, iterations: int, n: int) -> dict[bool, int]:
    """How many iterations are dense (``True``) and sparse: FFN-Reuse's dense iterations
    are ``i % (n + 1) == 0``; other modes are the same every iteration."""
    if mode in ("ffnr", "all") and n > 0:
        dense = -(-iterations // (n + 1))
        return {True: dense, False: iterations - dense}
    return {True: iterations, False: 0}


@dataclass
class ModelReport:
    """One image: total counts (``counts.cycles`` = the system's cycles) and, per job name,
    the system cycles and the bound cycles summed over blocks and iterations."""

    counts: ActionCounts
    parts: dict

    @property
    def cycles(self) -> float:
        return self.counts.cycles


def model_counts(shape, mode: str, iterations: int, cfg: ExionConfig, sp: Sparsity | None,
                 partition: str = "channels", *, blocks: int | None = None,
                 tile: bool = True, broadcast: bool = True, ports: bool = True) -> ModelReport:
    """Cycles and action counts of one image: ``blocks`` (default: the shape's) blocks for
    ``iterations`` iterations, FFN-Reuse with ``cfg.ffn_reuse_n``; ``tile``, ``broadcast``,
    ``ports``:
    see :func:`golden.multicore.run_job`."""
    sh = _shape(shape)
    nb = sh["blocks"] if blocks is None else blocks
    total = ActionCounts()
    parts: dict[str, list] = {}
    for dense, times in iteration_kinds(mode, iterations, cfg.ffn_reuse_n).items():
        if not times:
            continue
        for j in block_jobs(sh, mode, dense, sp, cfg):
            if isinstance(j, Job):
                r: JobReport = run_job(j, cfg, partition, tile=tile, broadcast=broadcast,
                                       ports=ports)
            else:
                r = run_other(j, cfg)
            w = times * nb
            total = total + r.counts * w
            p = parts.setdefault(j.name, [0.0, 0.0, 0.0])
            p[0] += r.cycles * w
            p[1] += r.compute_cycles * w
            p[2] += r.memory_cycles * w
    return ModelReport(total, parts)
