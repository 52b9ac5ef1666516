"""Cycle and traffic model of the SDUE for one GEMM ``(M x K) @ (K x N)`` run as a schedule.

Timing (the RTL is held to :func:`compute_cycles` exactly; see ``docs/cycle-model.md``)::

    kc      = ceil(K / lanes)                        # lane chunks of one dot product
    drain   = cols / drain_ports                     # shadow drain cycles of one block
    II      = max(kc, drain, pipeline_depth)         # block issue interval
    compute = 0                                       if no blocks
            = (blocks - 1) * II + kc + pipeline_depth + drain   otherwise

A block computes for ``kc`` cycles; its outputs drain to OMEM, ``drain_ports`` columns per
cycle, while the next block computes, so blocks issue every ``II`` cycles; the last block adds
the pipeline latency and its own drain.

Traffic (an analytic model, not held against RTL): off-chip bytes of weights, activations
and outputs; memory cycles = bytes / ``offchip_bytes_per_cycle``; with double buffering the
GEMM takes ``max(compute, memory)`` cycles and is memory-bound when memory > compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exion import cfse_format as F
from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from golden import dma
from golden.conmerge_rules import FITS, window_blocks, window_emits
from golden.intsem import lane_chunks
from golden.schedule import Schedule, check_schedule

__all__ = ["issue_interval", "compute_cycles", "gemm_sequence_cycles", "command_gap", "GemmReport", "evaluate",
           "compare_strategies", "format_table", "group_beats", "cau_cycles", "schedule_cycles", "predict_cycles",
           "SCHEDULE_OVERHEAD", "PREDICT_OVERHEAD", "PREDICT_PROJ_OVERHEAD", "predict_proj_cycles",
           "cfse_gelu_cycles", "cfse_residual_cycles", "cfse_softmax_cycles",
           "cfse_layernorm_cycles", "cfse_softmax_rows_cycles", "cfse_layernorm_rows_cycles",
           "cfse_command_cycles", "beat_bytes", "stream_bytes"]


def issue_interval(k: int, cfg: ExionConfig) -> int:
    """Cycles between the issue of two consecutive blocks:
    ``II = max(ceil(K / lanes), cols / drain_ports, pipeline_depth)``.

    ``kc``: the block's own chunk reads; ``cols / drain_ports``: the shadow register drains
    ``drain_ports`` columns per cycle and must be empty before the next capture;
    ``pipeline_depth``: the SDUE keeps the switch fields of one finished block while its last
    chunk is in flight (binds only where the drain is shorter than the pipeline, e.g. 4
    columns with 3 adder stages, or 16 columns with 8 drain ports).
    """
    return max(lane_chunks(k, cfg.lanes), cfg.drain_cycles, cfg.pipeline_depth)


def compute_cycles(n_blocks: int, k: int, cfg: ExionConfig) -> int:
    """SDUE cycles for ``n_blocks`` blocks of a GEMM with reduction length ``k``.

    The one timing definition of the project: ``0`` for no blocks, else
    ``(n_blocks - 1) * II + kc + pipeline_depth + cols / drain_ports`` with
    ``kc = ceil(k / lanes)`` and
    ``II`` from :func:`issue_interval`. The RTL's busy-cycle counter equals it exactly.
    """
    if n_blocks < 0 or k < 1:
        raise ValueError(f"n_blocks = {n_blocks} must be >= 0 and k = {k} >= 1")
    if n_blocks == 0:
        return 0
    kc = lane_chunks(k, cfg.lanes)
    return (n_blocks - 1) * issue_interval(k, cfg) + kc + cfg.pipeline_depth + cfg.drain_cycles


def gemm_sequence_cycles(gemms, cfg: ExionConfig) -> int:
    """SDUE busy cycles of GEMM commands run back to back: ``gemms`` is a sequence of
    ``(n_blocks, k)``, each queued before the one ahead of it has issued its last block.

    The core's execute engine prefetches the next command (its first block is fetched while
    the previous command's last block waits for the SDUE), so blocks issue back to back across
    commands too. Within a command blocks issue every ``II``; from a command's last block to
    the next command's first block :func:`command_gap` cycles. From the first block's
    acceptance to the last block's last drain cycle::

        sum((n_i - 1) * II_i + gap(k_i, k_next) for every command but the last)
            + compute_cycles(n_last, k_last)

    A command of no blocks (a sparse GEMM while ``BLOCKS`` = 0) takes no SDUE cycles but
    waits until the commands before it have drained (it finishes after them, in program
    order), so the SDUE goes idle there and the run after it starts afresh: busy cycles are
    the sum over the runs between such commands.
    """
    runs = [(int(n), int(k)) for n, k in gemms]
    for n, k in runs:
        if n < 0 or k < 1:
            raise ValueError(f"n_blocks = {n} must be >= 0 and k = {k} >= 1")
    if any(n == 0 for n, _ in runs):
        cut = next(i for i, (n, _) in enumerate(runs) if n == 0)
        return (gemm_sequence_cycles(runs[:cut], cfg)
                + gemm_sequence_cycles(runs[cut + 1:], cfg))
    if not runs:
        return 0
    head = sum((n - 1) * issue_interval(k, cfg) + command_gap(k, k2, cfg)
               for (n, k), (_, k2) in zip(runs[:-1], runs[1:]))
    return head + compute_cycles(*runs[-1], cfg)


def command_gap(k: int, k_next: int, cfg: ExionConfig) -> int:
    """Cycles from the acceptance of a block of reduction length ``k`` to that of the next
    block, of reduction length ``k_next`` (another command's):
    ``max(II(k), kc + max(pipeline_depth, drain) - kc_next)``.

    The next block's last chunk read must come at least ``pipeline_depth`` cycles after this
    block's (its switch fields and tag are kept from the last chunk read until the capture,
    ``pipeline_depth`` cycles later) and at least ``drain`` cycles after it (its capture must
    not overwrite the shadow register while this block drains). Within a command (``k_next =
    k``) that is ``II`` itself; a next block of fewer chunks than ``max(pipeline_depth,
    drain)`` after a longer one waits longer.
    """
    kc, kc_next = lane_chunks(k, cfg.lanes), lane_chunks(k_next, cfg.lanes)
    settle = max(cfg.pipeline_depth, cfg.drain_cycles)
    return max(issue_interval(k, cfg), kc + settle - kc_next)


def _bytes(bits: int) -> int:
    return -(-bits // 8)


@dataclass(frozen=True)
class GemmReport:
    """Cycles, utilization and traffic of one scheduled GEMM (see ``docs/cycle-model.md``)."""

    strategy: str
    token_sort: str
    m: int
    k: int
    n: int
    blocks: int
    kc: int
    ii: int
    compute_cycles: int
    required_macs: int
    ideal_cycles: float
    utilization: float
    weight_bytes: int
    weight_resident: bool
    act_bytes: int
    out_bytes: int
    memory_cycles: int
    total_cycles: int
    bound: str
    imem_reads: int
    wmem_reads: int
    omem_writes: int
    clock_mhz: float

    @property
    def offchip_bytes(self) -> int:
        return self.weight_bytes + self.act_bytes + self.out_bytes

    @property
    def time_us(self) -> float:
        return self.total_cycles / self.clock_mhz

    def summary(self) -> str:
        resident = "resident (fetched once)" if self.weight_resident else "re-fetched per row group"
        return "\n".join([
            f"GEMM {self.m} x {self.k} @ {self.k} x {self.n}, strategy {self.strategy}"
            f" (token sort {self.token_sort})",
            f"  blocks {self.blocks}, kc {self.kc}, issue interval {self.ii}",
            f"  compute {self.compute_cycles} cycles, ideal {self.ideal_cycles:.0f}, "
            f"utilization {self.utilization:.1%}",
            f"  off-chip {self.offchip_bytes} B: weights {self.weight_bytes} ({resident}), "
            f"activations {self.act_bytes}, outputs {self.out_bytes}",
            f"  memory {self.memory_cycles} cycles -> {self.bound}-bound, "
            f"total {self.total_cycles} cycles = {self.time_us:.1f} us",
            f"  on-chip: IMEM reads {self.imem_reads}, WMEM reads {self.wmem_reads}, "
            f"OMEM writes {self.omem_writes}",
        ])


def evaluate(sched: Schedule, mask, k: int, *, check: bool = True,
             token_sort: str | None = None) -> GemmReport:
    """Model the GEMM ``(tokens x k) @ (k x channels)`` that ``sched`` computes for ``mask``.

    With ``check`` the schedule is first proven correct by :func:`check_schedule`.
    ``token_sort`` only labels the report (a :class:`Schedule` does not record it).
    """
    cfg = sched.cfg
    mask = np.asarray(mask, dtype=bool)
    if check:
        check_schedule(sched, mask)
    nb = len(sched.blocks)
    kc = lane_chunks(k, cfg.lanes)
    compute = compute_cycles(nb, k, cfg)
    required = int(np.count_nonzero(mask)) * k
    peak = cfg.peak_macs_per_cycle
    ideal = required / peak
    util = required / (compute * peak) if compute else 1.0
    dw = cfg.data_width

    # Weights: per group, the channels some block of the group carries; everything once if
    # the whole W fits one WMEM buffer of all banks.
    per_group: dict[int, set[int]] = {}
    imem_reads = wmem_reads = 0
    for b in sched.blocks:
        chans = b.slots[b.slots >= 0]
        per_group.setdefault(b.group, set()).update(chans.tolist())
        busy = b.sel != 0
        imem_reads += int(busy.any(axis=1).sum()) * kc
        wmem_reads += int(busy.any(axis=0).sum()) * kc
    resident = k * sched.channels * dw <= cfg.wmem_bank_bytes * 8 * cfg.cols
    if resident:
        fetched = len(set().union(*per_group.values())) if per_group else 0
    else:
        fetched = sum(len(s) for s in per_group.values())
    weight_bytes = _bytes(fetched * k * dw)
    # Activations: the real tokens of every group that has a block, K values each.
    act_tokens = sum(int(np.count_nonzero(sched.group_tokens(g) >= 0)) for g in per_group)
    act_bytes = _bytes(act_tokens * k * dw)
    outputs = int(np.count_nonzero(mask))
    out_bytes = _bytes(outputs * dw)
    total_bytes = weight_bytes + act_bytes + out_bytes
    memory = math.ceil(total_bytes / cfg.offchip_bytes_per_cycle)
    return GemmReport(
        strategy=sched.strategy,
        token_sort=token_sort or getattr(sched, "token_sort", None) or "-",
        m=sched.tokens, k=k, n=sched.channels, blocks=nb, kc=kc, ii=issue_interval(k, cfg),
        compute_cycles=compute, required_macs=required, ideal_cycles=ideal, utilization=util,
        weight_bytes=weight_bytes, weight_resident=resident, act_bytes=act_bytes,
        out_bytes=out_bytes, memory_cycles=memory, total_cycles=max(compute, memory),
        bound="memory" if memory > compute else "compute", imem_reads=imem_reads,
        wmem_reads=wmem_reads, omem_writes=outputs, clock_mhz=cfg.clock_mhz)


def compare_strategies(mask, k: int, cfg: ExionConfig, strategies=None, *,
                       token_sort: str | None = None, check: bool = True) -> list[GemmReport]:
    """One :class:`GemmReport` per strategy (default: all of ``golden.conmerge.STRATEGIES``)."""
    from golden.conmerge import STRATEGIES, schedule

    sort = cfg.token_sort if token_sort is None else token_sort
    out = []
    for s in (STRATEGIES if strategies is None else strategies):
        sched = schedule(mask, cfg, s, token_sort=sort)
        out.append(evaluate(sched, mask, k, check=check, token_sort=sort))
    return out


def format_table(reports: list[GemmReport], baseline: str = "dense") -> str:
    """A text table: strategy, blocks, cycles, utilization, ideal, speedup vs ``baseline``
    (compute-only and with memory), off-chip bytes and the bound."""
    base = next((r for r in reports if r.strategy == baseline), None)
    head = (f"{'strategy':<16} {'sort':<9} {'blocks':>7} {'compute':>9} {'util':>6} "
            f"{'ideal':>8} {'x comp':>7} {'memory':>9} {'total':>9} {'x total':>7} "
            f"{'MB off':>7}  bound")
    lines = [head, "-" * len(head)]
    for r in reports:
        sc = base.compute_cycles / r.compute_cycles if base and r.compute_cycles else float("nan")
        st = base.total_cycles / r.total_cycles if base and r.total_cycles else float("nan")
        lines.append(
            f"{r.strategy:<16} {r.token_sort:<9} {r.blocks:>7} {r.compute_cycles:>9} "
            f"{r.utilization:>6.1%} {r.ideal_cycles:>8.0f} {sc:>7.2f} {r.memory_cycles:>9} "
            f"{r.total_cycles:>9} {st:>7.2f} {r.offchip_bytes / 1e6:>7.2f}  {r.bound}")
    return "\n".join(lines)


# -- the CAU and the core's other execute commands (hw/cau.py, hw/core.py) ----------------

#: Fixed cycles of a ``SCHEDULE`` besides the CAU's own: the dispatch and start cycles, the
#: first mask read and the SMEM write of the last block.
SCHEDULE_OVERHEAD = 4

#: Fixed cycles of a ``PREDICT`` besides one per (key, chunk) and one per mask word: the
#: memory read, the predictor's accumulate, the selector's input register and its result
#: (with ``operand_stages = 0``; each operand stage adds one).
PREDICT_OVERHEAD = 4


def group_beats(cvs, beat: int = CAU_BEAT, *, skip_empty: bool = False):
    """Split one group's conflict vectors (one int per channel, ascending) into beats.

    Returns ``[(base, [cv] * beat, last)]``; a group always has at least one beat (its
    ``last``). With ``skip_empty`` beats whose cvs are all zero are dropped (except a final
    one, which is kept so that the group ends).
    """
    cvs = [int(v) for v in cvs]
    out = []
    nb = max(1, -(-len(cvs) // beat))
    for i in range(nb):
        lanes = cvs[i * beat:(i + 1) * beat]
        lanes += [0] * (beat - len(lanes))
        last = i == nb - 1
        if skip_empty and not any(lanes) and not last:
            continue
        out.append((i * beat, lanes, last))
    return out


def cau_cycles(beats, *, window: int = 1, blocks: int = 0, rate: int = 1,
               emits=None) -> int:
    """Cycles the CAU spends on one group's ``beats`` (from :func:`group_beats`) when its
    output is never stalled: per beat ``max(1, placement cycles)`` plus the flush,
    ``max(1, min(window, blocks))`` cycles: one per block still open at the group's end
    (``window`` = ``cau_window``, ``blocks`` = the group's blocks; at most ``window`` are
    open), at least one. With ``window = 1`` the flush is one cycle whatever ``blocks``.

    Placement cycles: with ``rate = 1`` (``cau_rate``) one per nonzero lane. With ``rate > 1``
    the beat's nonzero lanes, in placement order, go ``rate`` to a cycle, except that a
    placement that emits the oldest block (``emits``: one flag per nonzero channel of the
    group in placement order, :func:`golden.conmerge_rules.window_emits`) starts a cycle of
    its own run (only the first placement stage of ``hw/cau.py`` can emit)."""
    flush = max(1, min(window, blocks))
    if rate == 1:
        return sum(max(1, sum(1 for v in lanes if v)) for _, lanes, _ in beats) + flush
    flags = iter(emits if emits is not None else ())
    total = 0
    for _, lanes, _ in beats:
        cycles = run = 0
        for _ in range(sum(1 for v in lanes if v)):
            emit = next(flags, False)
            if run == rate or (emit and run):
                cycles += 1
                run = 0
            run += 1
        total += max(1, cycles + (1 if run else 0))
    return total + flush


def schedule_cycles(cvs, beat: int = CAU_BEAT, cfg: ExionConfig | None = None, *,
                    resident: bool = False) -> int:
    """Cycles of a core ``SCHEDULE`` of one group's conflict vectors ``cvs`` (one int per
    channel): :func:`cau_cycles` of its beats (the core does not drop empty beats; the flush
    from the blocks the CAU rule of ``cfg`` makes, :func:`golden.conmerge_rules.window_blocks`,
    and with ``cfg.cau_rate > 1`` the rule's emissions, :func:`golden.conmerge_rules.
    window_emits`; without ``cfg`` the greedy CAU's one flush cycle) plus
    :data:`SCHEDULE_OVERHEAD`, one less when every conflict vector is zero: the CAU then emits
    no block, so the overhead's last SMEM write cycle does not happen (hw/cau.py: the flush of
    an empty group ends without an output; found by the random command streams). With
    ``resident`` (the ``RESIDENT`` flag) the blocks and emissions are the resident rule's
    (:func:`golden.conmerge_rules.resident_group`): the CAU's timing is the same function of
    them."""
    window, blocks, rate, emits = 1, 0, 1, None
    if cfg is not None:
        sort_window = beat if cfg.cau_sort else 1
        fit = FITS[cfg.cau_fit]
        if cfg.cau_window > 1:
            window = cfg.cau_window
            blocks = window_blocks(cvs, cfg.cols, cfg.merge_degree, window, sort_window, fit,
                                   resident)
        if cfg.cau_rate > 1:
            rate = cfg.cau_rate
            emits = window_emits(cvs, cfg.cols, cfg.merge_degree, cfg.cau_window, sort_window,
                                 fit, resident)
    cycles = cau_cycles(group_beats(cvs, beat), window=window, blocks=blocks, rate=rate,
                        emits=emits) + SCHEDULE_OVERHEAD
    return cycles - 1 if not any(cvs) else cycles


#: Cycles of a ``PREDICT_PROJ`` after the last (channel, chunk) of each lane chunk of output
#: channels and before its writes: the memory read, the predictor's accumulate and the
#: accumulator register (the requantizer then writes the output collector), with
#: ``operand_stages = 0``; each operand stage adds one.
PREDICT_PROJ_OVERHEAD = 3


def _operand_stages(v: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1:
        raise ValueError(f"operand_stages = {v!r} must be 0 or 1 (ExionConfig.operand_stages)")
    return v


def predict_proj_cycles(n_ch: int, kc: int, lanes: int, n_rows: int, keys: bool, *,
                        operand_stages: int = 0) -> int:
    """Cycles of a core ``PREDICT_PROJ`` (``CYCLES``) of ``n_ch`` output channels with ``kc``
    lane chunks: one per (channel, chunk), and per lane chunk of outputs (``ceil(n_ch /
    lanes)`` of them) :data:`PREDICT_PROJ_OVERHEAD` plus ``operand_stages``
    (``cfg.operand_stages``: the predictors' operand registers) plus its writes, one IMEM
    write of every row (Q') or one WMEM write per row, ``n_rows`` (K', ``keys``). The
    predictors wait while a chunk is written (the writes do not overlap the next chunk's
    reduction), so the operand stage's latency is paid per chunk."""
    for name, v in (("n_ch", n_ch), ("kc", kc), ("lanes", lanes), ("n_rows", n_rows)):
        if v < 1:
            raise ValueError(f"{name} = {v} must be >= 1")
    writes = n_rows if keys else 1
    stages = _operand_stages(operand_stages)
    return n_ch * kc + -(-n_ch // lanes) * (PREDICT_PROJ_OVERHEAD + stages + writes)


def predict_cycles(n_keys: int, kc: int, beat: int = CAU_BEAT, *,
                   operand_stages: int = 0) -> int:
    """Cycles of a core ``PREDICT`` of ``n_keys`` keys with ``kc`` lane chunks: one per
    (key, chunk), :data:`PREDICT_OVERHEAD` plus ``operand_stages`` (``cfg.operand_stages``:
    the predictors' operand registers), one per mask word of ``beat`` keys."""
    if n_keys < 1 or kc < 1:
        raise ValueError(f"n_keys = {n_keys} and kc = {kc} must be >= 1")
    stages = _operand_stages(operand_stages)
    return n_keys * kc + PREDICT_OVERHEAD + stages + -(-n_keys // beat)


# -- CFSE (hw/cfse.py): cycles of one operation, from its first input transfer to its last
# output transfer (both counted), with the input always valid and the output always ready.

def cfse_gelu_cycles(beats: int) -> int:
    """``beats`` beats of ``lanes`` elements through the GELU pipeline: one per cycle, the last
    result :data:`exion.cfse_format.GELU_LATENCY` cycles after its input."""
    return beats + F.GELU_LATENCY


def cfse_residual_cycles(beats: int) -> int:
    """As :func:`cfse_gelu_cycles` for the residual add (``RESIDUAL_LATENCY``)."""
    return beats + F.RESIDUAL_LATENCY


def cfse_softmax_cycles(n: int, any_kept: bool) -> int:
    """One softmax row of ``n`` keys: load (one key a cycle), exp (4 per key), the divider's
    set-up cycle, the restoring division (``RECIP_BITS + 1`` steps; none when no key is
    kept: the sum is 0), normalize (4 per key: read, multiply, round, output)."""
    return n + 4 * n + 1 + (F.RECIP_BITS + 1 if any_kept else 0) + 4 * n


def cfse_layernorm_cycles(c: int) -> int:
    """One LayerNorm + adaLN row of ``c`` channels: load (one a cycle), 5 statistics cycles
    (last square, products, radicand, bit length, normalization), the square root
    (``RSQRT_BITS / 2`` root bits), the division (``LN_RECIP_BITS + 1`` steps), output (7 per
    channel: read, u, two products with their shifts, round, output)."""
    return c + 5 + F.RSQRT_BITS // 2 + F.LN_RECIP_BITS + 1 + 7 * c


# -- the core's CFSE commands (hw/core_cfse.py): CYCLES from the command's dispatch to its
# last IMEM write, both counted.

#: Cycles of a CFSE command before its first input transfer into the unit: dispatch, the
#: first memory read (the sequencer's fetch).
CFSE_CMD_START = 2
#: RESIDUAL registers its IMEM read address (the x of a channel): the OMEM word waits a cycle.
RESIDUAL_X_WAIT = 1
#: The row units (hw/cfse_rows.py) of SOFTMAX and LAYERNORM take every row of a command at
#: once (row r = OMEM bank r): one OMEM address per cycle gives one channel (key) of every row.
#: Cycles from a read to the IMEM write of its result: the data, its register, then LayerNorm
#: u, u*r, the rounding shift, n*g, round + shift + saturate; softmax z, the table and
#: interpolation, the shift by q, e*R, round + clip.
LN_OUT_LATENCY = 7
SOFTMAX_OUT_LATENCY = 7
#: LayerNorm statistics from the last x read to the first output read: its data and register,
#: the last square into s2, the 5 statistics cycles, the square root (RSQRT_BITS / 2 root
#: bits) and the division (LN_RECIP_BITS + 1 steps).
LN_STATS = 3 + 5 + F.RSQRT_BITS // 2 + F.LN_RECIP_BITS + 1
#: Softmax: from the last exp read to the first normalize read: the 6 cycles of data, its
#: register, z, table, shift and the sum, then the division (RECIP_BITS + 1 steps), all rows
#: at once.
SOFTMAX_DIVIDE = 6 + F.RECIP_BITS + 1


def cfse_layernorm_rows_cycles(n: int) -> int:
    """A LayerNorm + adaLN command on rows of ``n`` channels in the row unit, from the first
    read to the last result (both counted): a pass of ``n`` x reads (the sums s1, s2 of every
    row), ``2 n`` reads of the adaLN scale and shift into the unit's channel buffer while the
    statistics, square root and division of every row run (:data:`LN_STATS` after the last x
    read, whichever is later), a second pass of ``n`` x reads through the output pipeline
    (:data:`LN_OUT_LATENCY`)."""
    return max(3 * n, n - 1 + LN_STATS) + n + LN_OUT_LATENCY


def cfse_softmax_rows_cycles(n: int) -> int:
    """A softmax command on rows of ``n`` keys in the row unit (every row at once), from the
    first read to the last result: a pass of ``n`` reads (the row maxima), a pass of ``n``
    reads through the exp pipeline into the sums, the row reciprocals
    (:data:`SOFTMAX_DIVIDE` after the last exp read), a pass of ``n`` reads recomputing each
    numerator and normalizing it (:data:`SOFTMAX_OUT_LATENCY`)."""
    return 2 * n - 1 + SOFTMAX_DIVIDE + n + SOFTMAX_OUT_LATENCY


def cfse_command_cycles(op: str, n: int, n_rows: int) -> int:
    """``CYCLES`` of a CFSE command (docs/cfse.md, "Core commands") on rows of ``n`` channels
    (keys): ``GELU`` / ``RESIDUAL`` stream all rows at once, one channel a cycle
    (:func:`cfse_gelu_cycles`, :func:`cfse_residual_cycles`; ``RESIDUAL`` :data:`RESIDUAL_X_WAIT`
    later); ``SOFTMAX`` and ``LAYERNORM``
    take all rows at once too, in passes over the channels (:func:`cfse_softmax_rows_cycles`,
    :func:`cfse_layernorm_rows_cycles`): the cycles do not depend on ``n_rows``."""
    if n < 1 or n_rows < 1:
        raise ValueError(f"n = {n} and n_rows = {n_rows} must be >= 1")
    if op == "GELU":
        return CFSE_CMD_START + cfse_gelu_cycles(n)
    if op == "RESIDUAL":
        return CFSE_CMD_START + RESIDUAL_X_WAIT + cfse_residual_cycles(n)
    if op == "SOFTMAX":
        return CFSE_CMD_START - 1 + cfse_softmax_rows_cycles(n)
    if op == "LAYERNORM":
        return CFSE_CMD_START - 1 + cfse_layernorm_rows_cycles(n)
    raise ValueError(f"op = {op!r} is not one of GELU, RESIDUAL, LAYERNORM, SOFTMAX")


# -- bytes through the core's data ports (the BYTES_IN / BYTES_OUT registers) ---------------

def beat_bytes(bits: int) -> int:
    """Bytes of one stream beat of ``bits`` data bits (whole bytes: AXI-Stream ``tdata`` is
    byte lanes)."""
    if bits < 1:
        raise ValueError(f"bits = {bits} must be >= 1")
    return -(-bits // 8)


def stream_bytes(commands, cfg: ExionConfig) -> tuple[int, int]:
    """Bytes the core's data ports move for ``commands``: ``(in, out)``.

    ``commands``: ``(opcode name, fields)`` pairs of the commands the core ran, ``fields`` a
    mapping of :data:`exion.fields.ARG_FIELDS` names to values (missing = 0). In:
    ``LOAD_IMEM`` brings ``rows * count`` beats of one lane vector, ``LOAD_WMEM``
    ``cols * streams * count`` (``streams`` 0 = ``merge_degree``); out: ``READ_OMEM`` sends
    ``count`` beats of one word of every OMEM bank. Other commands move nothing through
    the ports. A command whose ``fields`` has ``mem`` true ran with the ``MEM`` flag: it moved
    its descriptor's bytes through the master port instead (``golden.core_mem.mem_descriptor``;
    ``golden.dma.bytes_read``: whole bus words, ``bytes_written``: the rows' bytes).
    """
    from .core_checks import Limits      # (the checks import this module's neighbours)
    from .core_mem import mem_descriptor
    lane = beat_bytes(cfg.lanes * cfg.data_width)
    word = beat_bytes(cfg.rows * cfg.data_width)
    b_in = b_out = 0
    lim = None
    for op, f in commands:
        count = int(f.get("count", 0))
        if f.get("mem") and op in ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM"):
            lim = lim or Limits.of(cfg)
            desc = mem_descriptor(op, f, lim)
            if op == "READ_OMEM":
                b_out += dma.bytes_written(desc)
            else:
                b_in += dma.bytes_read(desc, cfg.bus_bytes)
        elif op == "LOAD_IMEM":
            b_in += cfg.rows * count * lane
        elif op == "LOAD_WMEM":
            streams = int(f.get("streams", 0)) or cfg.merge_degree
            b_in += cfg.cols * streams * count * lane
        elif op == "READ_OMEM":
            b_out += count * word
    return b_in, b_out
