"""Action counts of the core's work, derived from the cycle and traffic model.

Each function returns an :class:`golden.energy.ActionCounts` (counts per (component,
action) and the cycles the work takes) for one piece of work on one core, from
``golden/cycle_model.py`` (blocks, chunks, IMEM / WMEM / OMEM accesses, off-chip bytes, CAU
and ``PREDICT`` cycles) and ``golden/conmerge.py`` (the schedule):

* :func:`gemm_counts`: one scheduled GEMM (dense or ConMerged), with its loads;
* :func:`dense_gemm_counts`: a dense ``(m x k) @ (k x n)`` GEMM;
* :func:`schedule_counts`: the ``SCHEDULE`` (CAU) of a keep-mask;
* :func:`ffn_dense_iteration_counts` / :func:`ffn_sparse_iteration_counts`: FFN-Reuse's
  FC1 in a dense iteration (a dense GEMM building the keep-mask) and in a sparse one
  (``SCHEDULE`` then the sparse GEMM of the kept outputs);
* :func:`predict_counts`: eager prediction of one attention head (``PREDICT``);
* :func:`cfse_counts`: special functions per element;
* :func:`cfse_command_counts`: one CFSE command of the core (``GELU``, ``RESIDUAL``,
  ``SOFTMAX``, ``LAYERNORM``): its units' operations and memory accesses;
* :func:`dit_block_counts`: every GEMM and special function of one dense DiT block, in
  series on one core (a stand-in for the runtime's per-command counts).

Whole models: ``exion_tools/runtime/counts.py`` counts the same actions per command the host
runtime issues (docs/runtime.md).
"""

from __future__ import annotations

import numpy as np

from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from golden import conmerge, cycle_model
from golden.conmerge_rules import window_blocks, window_emits
from golden.energy import ActionCounts, EnergyError, dpu_ff_bits
from golden.gpu_roofline import DIT_SHAPES, dit_block_gemms
from golden.intsem import lane_chunks

__all__ = ["gemm_counts", "dense_gemm_counts", "schedule_counts", "ffn_dense_iteration_counts",
           "ffn_sparse_iteration_counts", "predict_counts", "cfse_counts", "cfse_command_counts",
           "dit_block_counts", "CFSE_OPS", "CFSE_OMEM_PASSES"]

CFSE_OPS = ("gelu", "softmax", "layernorm", "residual")


def _positive(name: str, value, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise EnergyError(f"{name} = {value!r} is out of range [{lo}, inf) (an integer)")
    return int(value)


def gemm_counts(sched, mask, k: int, *, ffn_mask: bool = False, loads: bool = True,
                check: bool = False) -> tuple[ActionCounts, cycle_model.GemmReport]:
    """Counts of the GEMM that ``sched`` computes for ``mask`` with reduction length ``k``.

    SDUE: per busy DPU (``sel != 0``) of every block and lane chunk, ``lanes`` multiplies
    (``K`` padded to whole chunks), one adder-tree reduction, one accumulate and
    :func:`golden.energy.dpu_ff_bits` flip-flop bits; memories: per block and chunk one read
    of every IMEM and WMEM bank, the OMEM writes of :func:`golden.cycle_model.evaluate`, one
    SMEM read per block (dense blocks too: the RTL fetches every block through SMEM's port);
    ``ffn_mask``: the keep-mask test of every output and one mask write per (row group,
    channel). ``loads``: the off-chip bytes of the traffic model and the on-chip writes and
    reads they cause (IMEM / WMEM words written, outputs read out of OMEM). Cycles: the
    model's ``total_cycles`` (compute and memory overlapped).
    """
    cfg = sched.cfg
    rep = cycle_model.evaluate(sched, mask, k, check=check)
    kc = lane_chunks(k, cfg.lanes)
    busy = sum(b.active for b in sched.blocks)
    blocks = len(sched.blocks)
    c = ActionCounts(cycles=rep.total_cycles)
    # What the RTL does (sim/tb_energy_activity.py checks it): every lane of a busy DPU
    # multiplies (K padded to whole chunks); every chunk reads one word of every IMEM and
    # WMEM bank (one address, no read enable); every block fetch reads SMEM, dense too.
    c.add("dpu", "mult", busy * kc * cfg.lanes)
    c.add("dpu", "tree_add", busy * kc)
    c.add("dpu", "acc_add", busy * kc)
    c.add("dpu", "ff_bit", busy * kc * dpu_ff_bits(cfg))
    c.add("imem", "read", cfg.rows * kc * blocks)
    c.add("wmem", "read", cfg.cols * kc * blocks)
    c.add("omem", "write", rep.omem_writes)
    c.add("smem", "read", blocks)
    if ffn_mask:
        c.add("ffn_mask", "compare", rep.omem_writes)
        c.add("mask", "write", sched.groups * sched.channels)
    if loads:
        word_bytes = cfg.lanes * cfg.data_width / 8
        c.add("imem", "write", rep.act_bytes / word_bytes)
        c.add("wmem", "write", rep.weight_bytes / word_bytes)
        c.add("omem", "read", rep.omem_writes)
        c.add("offchip", "byte", rep.offchip_bytes)
    return c, rep


def dense_gemm_counts(m: int, k: int, n: int, cfg: ExionConfig, **kw):
    """:func:`gemm_counts` of a dense ``(m x k) @ (k x n)`` GEMM (every output computed)."""
    m, k, n = (_positive(a, v) for a, v in (("m", m), ("k", k), ("n", n)))
    mask = np.ones((m, n), dtype=bool)
    return gemm_counts(conmerge.schedule(mask, cfg, "dense"), mask, k, **kw)


def schedule_counts(sched, mask) -> ActionCounts:
    """Counts of the core's ``SCHEDULE`` of every row group of ``mask`` as ``sched`` groups
    it: per group, one mask read per channel (beats of :data:`exion.limits.CAU_BEAT`), the
    CAU's cycles (:func:`golden.cycle_model.cau_cycles`; its flush from the blocks the CAU
    rule of the configuration makes, ``cau_window``; its placement cycles from ``cau_rate``), one SMEM write per block; cycles:
    :func:`golden.cycle_model.schedule_cycles` per group."""
    cfg = sched.cfg
    gm = conmerge.group_masks(mask, sched.token_order, cfg.rows)
    c = ActionCounts()
    for g in range(gm.shape[0]):
        cvs = conmerge.conflict_vectors(gm[g])
        beats = cycle_model.group_beats(cvs, CAU_BEAT)
        c.add("mask", "read", len(beats) * CAU_BEAT)
        w = cfg.cau_window
        nb = window_blocks(cvs.tolist(), cfg.cols, cfg.merge_degree, w,
                           conmerge.cau_sort_window(cfg), conmerge.cau_fit(cfg)) if w > 1 else 0
        emits = window_emits(cvs.tolist(), cfg.cols, cfg.merge_degree, w,
                             conmerge.cau_sort_window(cfg),
                             conmerge.cau_fit(cfg)) if cfg.cau_rate > 1 else None
        c.add("cau", "cycle", cycle_model.cau_cycles(beats, window=w, blocks=nb,
                                                     rate=cfg.cau_rate, emits=emits))
        c.cycles += cycle_model.schedule_cycles(cvs, CAU_BEAT, cfg)
    c.add("smem", "write", len(sched.blocks))
    return c


def ffn_dense_iteration_counts(tokens: int, d_model: int, d_ff: int, cfg: ExionConfig):
    """FC1 of a dense FFN-Reuse iteration: the dense GEMM with the keep-mask built from its
    outputs (``GEMM`` with ``FFN_MASK``)."""
    return dense_gemm_counts(tokens, d_model, d_ff, cfg, ffn_mask=True)


def ffn_sparse_iteration_counts(mask, d_model: int, cfg: ExionConfig, strategy: str = "greedy",
                                *, token_sort: str | None = None):
    """FC1 of a sparse FFN-Reuse iteration for keep-mask ``mask`` (tokens x d_ff): the
    ``SCHEDULE`` of the mask and the sparse GEMM of the kept outputs (serial: the GEMM
    needs the schedule). Returns the counts and the GEMM's report."""
    mask = np.asarray(mask, dtype=bool)
    sched = conmerge.schedule(mask, cfg, strategy, token_sort=token_sort)
    g, rep = gemm_counts(sched, mask, d_model)
    return schedule_counts(sched, mask) + g, rep


def predict_counts(queries: int, keys: int, head_dim: int, cfg: ExionConfig, *,
                   d_model: int | None = None) -> ActionCounts:
    """Eager prediction of one head: the core's ``PREDICT`` per row group of ``cfg.rows``
    queries (one predictor per row, all of them running: per (key, chunk) one word of every
    IMEM bank (the queries) and of every WMEM bank (the key's bank among them); every (row,
    key) enters the selector; the mask written in words of ``CAU_BEAT`` keys; cycles
    :func:`golden.cycle_model.predict_cycles`).

    With ``d_model`` the shift-and-add projections ``X Wq`` and ``X Wk`` of the head
    (``2 * queries * head_dim * d_model`` lane operations on the same predictors) are
    counted too: ``PREDICT`` takes Q' and K' as operands, and no core command makes them yet.
    """
    q = _positive("queries", queries)
    kk = _positive("keys", keys)
    dh = _positive("head_dim", head_dim)
    kc = lane_chunks(dh, cfg.lanes)
    groups = -(-q // cfg.rows)
    c = ActionCounts(cycles=groups * cycle_model.predict_cycles(
        kk, kc, operand_stages=cfg.operand_stages))
    # What the RTL does: all rows' predictors and selectors run (a partial group too), every
    # (key, chunk) cycle reads one word of every IMEM and WMEM bank, the keep-mask is
    # written in whole mask words of CAU_BEAT keys.
    rows = groups * cfg.rows
    c.add("predictor", "lane_op", rows * kk * kc * cfg.lanes)
    c.add("predictor", "acc_add", rows * kk * kc)
    c.add("imem", "read", rows * kk * kc)
    c.add("wmem", "read", groups * cfg.cols * kk * kc)
    c.add("selector", "key", rows * kk)
    c.add("mask", "write", groups * -(-kk // CAU_BEAT) * CAU_BEAT)
    if d_model is not None:
        d = _positive("d_model", d_model)
        ops = 2 * q * dh * d
        c.add("predictor", "lane_op", ops)
        c.add("predictor", "acc_add", -(-ops // cfg.lanes))
        c.cycles += -(-ops // (cfg.rows * cfg.lanes))
    return c


def cfse_counts(op: str, elements: int, cfg: ExionConfig) -> ActionCounts:
    """``elements`` special-function operations ``op`` (one of :data:`CFSE_OPS`), one per
    cycle per row (the CFSE units stream one element per cycle; ``cfg.rows`` of them)."""
    if op not in CFSE_OPS:
        raise EnergyError(f"op = {op!r} is not one of {', '.join(CFSE_OPS)}")
    n = _positive("elements", elements, 0)
    return ActionCounts(cycles=-(-n // cfg.rows)).add("cfse", op, n)


#: Reads of each channel's OMEM word per CFSE command (hw/core_cfse.py, hw/cfse_rows.py):
#: ``GELU`` / ``RESIDUAL`` stream it once through the sequencer; the softmax row unit reads
#: every key three times (the row maxima, the exp into the sums, the normalization, which
#: computes the numerators again instead of buffering them); the LayerNorm row unit four
#: times (x for the sums, the adaLN scale and shift from ``mbuf``, x for the output).
CFSE_OMEM_PASSES = {"gelu": 1, "residual": 1, "softmax": 3, "layernorm": 4}


def cfse_command_counts(op: str, n_ch: int, n_rows: int, cfg: ExionConfig, *,
                        key_mask: bool = False, ffn_mask: bool = False) -> ActionCounts:
    """Counts of one CFSE command of the core on ``n_rows`` rows of ``n_ch`` channels
    (keys), as the RTL does it (sim/tb_energy_activity.py counts it):

    * every row's datapath runs (``cfg.rows`` of them, rows ``>= n_rows`` too): ``rows *
      n_ch`` operations ``cfse.<op>``;
    * every OMEM read gives one word of every bank (one address, no read enable):
      ``rows * n_ch`` reads per pass of :data:`CFSE_OMEM_PASSES` (the LayerNorm's scale and
      shift reads too, though only bank 0's word is used);
    * the results are written as whole IMEM words into the rows ``< n_rows``: ``n_rows *
      ceil(n_ch / lanes)`` writes;
    * ``RESIDUAL`` reads its ``x`` from IMEM, one word of every bank per channel;
    * ``SOFTMAX`` with ``key_mask`` reads the keep bits with every OMEM read, one mask word
      (``CAU_BEAT`` channel vectors) each; ``GELU`` with ``ffn_mask`` writes one mask channel
      vector per channel.

    Cycles: :func:`golden.cycle_model.cfse_command_cycles`."""
    if op not in CFSE_OPS:
        raise EnergyError(f"op = {op!r} is not one of {', '.join(CFSE_OPS)}")
    n = _positive("n_ch", n_ch)
    g = _positive("n_rows", n_rows)
    if g > cfg.rows:
        raise EnergyError(f"n_rows = {g} is out of range [1, {cfg.rows}] (rows)")
    R = cfg.rows
    c = ActionCounts(cycles=cycle_model.cfse_command_cycles(op.upper(), n, g))
    c.add("cfse", op, R * n)
    c.add("omem", "read", CFSE_OMEM_PASSES[op] * R * n)
    c.add("imem", "write", g * -(-n // cfg.lanes))
    if op == "residual":
        c.add("imem", "read", R * n)
    if op == "softmax" and key_mask:
        c.add("mask", "read", CFSE_OMEM_PASSES[op] * n * CAU_BEAT)
    if op == "gelu" and ffn_mask:
        c.add("mask", "write", n)
    return c


def dit_block_counts(shape, cfg: ExionConfig) -> dict[str, ActionCounts]:
    """Counts of one dense DiT block (``shape``: a key of ``exion.energy_table.DIT_SHAPES``
    or a dict with ``tokens, hidden, heads, ffn``) on one core, per part: every GEMM of
    :func:`golden.gpu_roofline.dit_block_gemms` (``Q K^T`` and ``P V`` once per head) as a
    dense GEMM with its loads, and the special functions (two LayerNorms with adaLN, softmax
    over ``heads * tokens^2`` scores, GELU over ``tokens * ffn``, two gated residual adds).
    Parts run one after another; nothing overlaps across parts."""
    sh = DIT_SHAPES[shape] if isinstance(shape, str) and shape in DIT_SHAPES else shape
    out: dict[str, ActionCounts] = {}
    for g in dit_block_gemms(shape):
        c, _ = dense_gemm_counts(g.m, g.k, g.n, cfg)
        out[g.name] = c * g.count
    t, h = sh["tokens"], sh["hidden"]
    out["cfse"] = (cfse_counts("layernorm", 2 * t * h, cfg)
                   + cfse_counts("softmax", sh["heads"] * t * t, cfg)
                   + cfse_counts("gelu", t * sh["ffn"], cfg)
                   + cfse_counts("residual", 2 * t * h, cfg))
    return out
