"""A system of ``cfg.cores`` EXION cores sharing one off-chip bandwidth.

A piece of work is a :class:`Job`: ``count`` independent GEMMs ``(m x k) @ (k x n)`` (the
heads of an attention GEMM, or 1), each dense or with an output keep-mask (ConMerged, with
its ``SCHEDULE`` if asked). :func:`run_job` splits it over the cores with one of
:data:`PARTITIONS`:

* ``tokens``: each GEMM's row groups (``cfg.rows`` tokens) are dealt out in contiguous
  ranges; every core fetches all the weights its rows need.
* ``channels``: each GEMM's column tiles (``cfg.cols`` output channels) are dealt out;
  every core fetches all the activations and its share of the weights.
* ``heads``: whole GEMMs of a ``count > 1`` job go to the cores, ``cores`` at a time; a
  ``count == 1`` job (projections, FFN) falls back to ``channels``.

Each core's piece is priced by the single-core models (``golden/cycle_model.py`` through
``golden/energy_counts.py``). A *round* is work the cores do at the same time (one GEMM
split over them, or up to ``cores`` heads); the cores meet at its end::

    round cycles = max( max over cores of its compute cycles,
                        ceil(sum over cores of its off-chip bytes / offchip_bytes_per_cycle),
                        max over cores of ceil(its bytes / bus_bytes) )   # its own port

so the shared memory, not the array, sets the time when the bytes are many. Two choices
of the model, each with a switch of :func:`run_job`: ``tile`` (a core runs its share as
WMEM-sized column chunks where that moves fewer bytes than the cycle model's per-row-group
weight re-fetch) and ``broadcast`` (the operand all cores of a split GEMM read crosses the
shared interface once per round); ``ports`` (the last term, a core's own AXI4 port). With
one core, ``tile=False`` and ``bus_bytes >= offchip_bytes_per_cycle`` a round is the
single-core model's ``total_cycles`` exactly (a test). ``docs/evaluation.md`` measures both.

Other work (``PREDICT``, the CFSE) is an :class:`ActionCounts` with ``units`` independent
parts (row groups, heads): its cycles are divided by ``min(cores, units)`` (rounded up).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from exion.config import ConfigError, ExionConfig
from golden import conmerge
from golden.energy import ActionCounts
from golden.energy_counts import gemm_counts, schedule_counts

__all__ = ["PARTITIONS", "Job", "Other", "JobReport", "run_job", "run_other", "split_ranges"]

PARTITIONS = ("tokens", "channels", "heads")


@dataclass(frozen=True)
class Job:
    """``count`` GEMMs ``(m x k) @ (k x n)`` run at the same point of a model.

    Members
    -------
    name : str
    m, k, n, count : int
    masks : tuple of numpy arrays or None
        None: dense. Else ``replicas * count`` keep-masks of ``m x n`` (one per GEMM of
        each replica): the job's figures are the mean over the replicas (measured masks
        of several iterations or samples standing for one).
    ffn_mask : bool
        The GEMM builds FFN-Reuse's keep-mask from its outputs (``FFN_MASK``).
    schedule : bool
        A ``SCHEDULE`` (CAU) of the mask runs before the GEMM on the same core.
    """

    name: str
    m: int
    k: int
    n: int
    count: int = 1
    masks: tuple | None = None
    ffn_mask: bool = False
    schedule: bool = False

    def __post_init__(self):
        for a in ("m", "k", "n", "count"):
            v = getattr(self, a)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{a} = {v!r} is out of range [1, inf) (job {self.name})")
        if self.masks is not None:
            if len(self.masks) == 0 or len(self.masks) % self.count:
                raise ConfigError(f"masks = {len(self.masks)} is not a positive multiple of "
                                  f"count = {self.count} (job {self.name})")
            for mk in self.masks:
                if np.shape(mk) != (self.m, self.n):
                    raise ConfigError(f"mask shape {np.shape(mk)} is not ({self.m}, {self.n}) "
                                      f"(job {self.name})")

    @property
    def replicas(self) -> list[list]:
        if self.masks is None:
            return [[None] * self.count]
        c = self.count
        return [list(self.masks[i:i + c]) for i in range(0, len(self.masks), c)]


@dataclass(frozen=True)
class Other:
    """Non-GEMM work: its single-core ``counts`` and the independent ``units`` it splits
    into (row groups, heads)."""

    name: str
    counts: ActionCounts
    units: int = 1


@dataclass
class JobReport:
    """A job on the system: total ``counts`` (``counts.cycles`` = the system's cycles),
    the slowest core's compute cycles and the shared memory's cycles summed over rounds."""

    name: str
    counts: ActionCounts
    compute_cycles: float = 0.0
    memory_cycles: float = 0.0
    offchip_bytes: float = 0.0
    core_compute: list = field(default_factory=list)

    @property
    def cycles(self) -> float:
        return self.counts.cycles

    @property
    def bound(self) -> str:
        return "memory" if self.memory_cycles > self.compute_cycles else "compute"


def split_ranges(units: int, parts: int) -> list[tuple[int, int]]:
    """``units`` split into ``parts`` contiguous ranges, sizes differing by at most one
    (the first ones larger); ranges beyond ``units`` are empty."""
    base, extra = divmod(units, parts)
    out, lo = [], 0
    for i in range(parts):
        hi = lo + base + (i < extra)
        out.append((lo, hi))
        lo = hi
    return out


_CACHE: dict = {}


def _key(cfg: ExionConfig, mask, k, ffn_mask, sched):
    fields = tuple(v for n, v in sorted(cfg.to_dict().items())
                   if n not in ("cores", "offchip_bytes_per_cycle", "name"))
    digest = hashlib.sha1(np.packbits(mask).tobytes()).hexdigest()
    return fields, mask.shape, digest, k, ffn_mask, sched


def _piece(cfg: ExionConfig, mask: np.ndarray, k: int, ffn_mask: bool, sched: bool):
    """(counts, compute cycles, off-chip bytes) of one core's GEMM of ``mask`` (all ones:
    dense), memoised: identical pieces recur over blocks, iterations and partitions."""
    key = _key(cfg, mask, k, ffn_mask, sched)
    if key in _CACHE:
        return _CACHE[key]
    dense = bool(mask.all())
    # sparse: the blocks the core's CAU makes (greedy unless cfg.cau_window / cau_sort)
    s = conmerge.schedule(mask, cfg, "dense") if dense else conmerge.cau_schedule(mask, cfg)
    c, rep = gemm_counts(s, mask, k, ffn_mask=ffn_mask, check=False)
    compute = rep.compute_cycles
    if sched and not dense:
        sc = schedule_counts(s, mask)
        compute += sc.cycles
        c = c + sc
    c.cycles = 0
    c.counts.pop(("offchip", "byte"), None)  # added per round (broadcast may merge some)
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = (c, compute, np.array([rep.weight_bytes, rep.act_bytes, rep.out_bytes], float))
    return _CACHE[key]


def _core_piece(cfg: ExionConfig, mask: np.ndarray, k: int, ffn_mask: bool, sched: bool,
                tile: bool, price=(1.0, 1.0, 1.0)):
    """One core's share ``mask`` as the cheaper (in off-chip bytes) of: one GEMM (the cycle
    model re-fetches weights per row group when they do not fit WMEM), or, with ``tile``,
    column chunks whose weights fit WMEM, each over all its tokens (weights fetched once,
    activations once per chunk); ``price`` weighs (weight, activation, output) bytes (a
    broadcast operand costs a share). Returns (counts, compute cycles, bytes as
    [weights, activations, outputs])."""
    one = _piece(cfg, mask, k, ffn_mask, sched)
    fit = (cfg.wmem_bank_bytes * 8 * cfg.cols) // (k * cfg.data_width) // cfg.cols * cfg.cols
    n = mask.shape[1]
    if not tile or fit < 1 or n <= fit:
        return one
    parts = [_piece(cfg, mask[:, i:i + fit], k, ffn_mask, sched) for i in range(0, n, fit)]
    b = sum(p[2] for p in parts)
    price = np.asarray(price, float)
    if b @ price >= one[2] @ price:
        return one
    c = ActionCounts()
    for p in parts:
        c = c + p[0]
    return c, sum(p[1] for p in parts), b


def _cut(mask: np.ndarray, partition: str, cfg: ExionConfig, cores: int) -> list[np.ndarray]:
    """One GEMM's mask cut into the cores' pieces (empty pieces dropped)."""
    m, n = mask.shape
    if partition == "tokens":
        step, total, axis = cfg.rows, m, 0
    else:
        step, total, axis = cfg.cols, n, 1
    tiles = -(-total // step)
    out = []
    for lo, hi in split_ranges(tiles, min(cores, tiles)):
        sl = slice(lo * step, min(hi * step, total))
        out.append(mask[sl] if axis == 0 else mask[:, sl])
    return out


def run_job(job: Job, cfg: ExionConfig, partition: str = "channels", *,
            tile: bool = True, broadcast: bool = True, ports: bool = True) -> JobReport:
    """``job`` on ``cfg.cores`` cores split by ``partition`` (one of :data:`PARTITIONS`);
    ``tile``: a core may run its share as WMEM-sized column chunks where that moves fewer
    bytes (see :func:`_core_piece`); without it, exactly the cycle model's traffic.
    ``broadcast``: where the cores split one GEMM, the operand they all read (the weights
    when split by tokens, the activations when split by channels) crosses the shared
    memory interface once per round (the largest core's bytes of it), not once per core.
    ``ports``: a core also receives at most ``cfg.bus_bytes`` per cycle through its own AXI4
    port (one beat per cycle), whatever the shared bandwidth; without it only the shared
    memory limits."""
    if partition not in PARTITIONS:
        raise ConfigError(f"partition = {partition!r} is not one of {', '.join(PARTITIONS)}")
    cores, bw = cfg.cores, cfg.offchip_bytes_per_cycle
    reps = job.replicas
    total = ActionCounts()
    comp = mem = nbytes = 0.0
    core_compute = [0.0] * cores
    for rep in reps:
        masks = [np.ones((job.m, job.n), bool) if mk is None else np.asarray(mk, bool)
                 for mk in rep]
        if partition == "heads" and job.count > 1:
            rounds = [[[mk] for mk in masks[i:i + cores]] for i in range(0, len(masks), cores)]
        else:
            rounds = [[[p] for p in _cut(mk, partition, cfg, cores)] for mk in masks]
        split = not (partition == "heads" and job.count > 1)
        shared = 0 if partition == "tokens" else 1
        for rnd in rounds:  # rnd: per core, its pieces
            per_core, rb = [], np.zeros((len(rnd), 3))
            cast = broadcast and split and len(rnd) > 1
            price = [1.0, 1.0, 1.0]
            if cast:
                price[shared] = 1.0 / len(rnd)
            for ci, pieces in enumerate(rnd):
                cc = 0.0
                for p in pieces:
                    c, compute, b = _core_piece(cfg, p, job.k, job.ffn_mask, job.schedule,
                                                 tile, price)
                    total = total + c
                    cc += compute
                    rb[ci] += b
                per_core.append(cc)
                core_compute[ci] += cc / len(reps)
            if cast:
                rbytes = float(rb.sum() - rb[:, shared].sum() + rb[:, shared].max())
            else:
                rbytes = float(rb.sum())
            total.add("offchip", "byte", rbytes)
            rm = math.ceil(rbytes / bw)
            if ports:  # every core receives its whole operands, broadcast or not
                rm = max(rm, math.ceil(float(rb.sum(axis=1).max()) / cfg.bus_bytes))
            rc = max(per_core)
            total.cycles += max(rc, rm)
            comp, mem, nbytes = comp + rc, mem + rm, nbytes + rbytes
    r = len(reps)
    out = total * (1.0 / r)
    return JobReport(job.name, out, comp / r, mem / r, nbytes / r, core_compute)


def run_other(other: Other, cfg: ExionConfig) -> JobReport:
    """Non-GEMM work on the system: its cycles divided over ``min(cores, units)`` cores."""
    par = max(1, min(cfg.cores, other.units))
    c = other.counts * 1.0
    c.cycles = math.ceil(other.counts.cycles / par)
    return JobReport(other.name, c, c.cycles, 0.0, 0.0, [c.cycles] * par)
