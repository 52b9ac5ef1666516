"""What a run did: per layer and iteration, the core's cycles, MACs done and skipped, bytes
moved, and the action counts ``golden/energy.py`` prices, all from the commands issued.

The counts follow ``golden/energy_counts.py`` (which derives them from the cycle model for
one GEMM, SCHEDULE or PREDICT), but per command actually issued, and count what the RTL does
(sim/tb_energy_activity.py holds them equal to activity counters of an RTL run): a ``GEMM``
counts its busy DPUs (``n_rows * n_ch`` dense; the set slots of its SMEM vectors sparse)
times ``kc * lanes`` multiplies (the MACs done are ``K`` per busy DPU), ``kc`` tree adds and
accumulates; per block one SMEM read and ``kc`` reads of every IMEM and WMEM bank; one OMEM
write per output. Loads count their memory writes and off-chip bytes, ``READ_OMEM`` its OMEM
reads and bytes, a CFSE command its units' operations, OMEM reads (three passes for
``SOFTMAX``, four for ``LAYERNORM``), IMEM writes, ``RESIDUAL``'s IMEM reads and a masked
``SOFTMAX``'s mask reads (``golden.energy_counts.cfse_command_counts``). Work the host does in place of the CFSE is counted as CFSE work
(``golden.energy_counts.cfse_counts``), and the shift-add Q / K projections of eager
prediction as predictor work (as ``golden.energy_counts.predict_counts`` with ``d_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exion.config import ExionConfig
from exion.limits import CAU_BEAT
from golden import cycle_model
from golden.energy import ActionCounts, dpu_ff_bits
from golden.energy_counts import cfse_command_counts

__all__ = ["LayerRow", "Stats", "COLUMNS"]

#: Columns of the per-layer report (docs/runtime.md).
COLUMNS = ("sample", "iteration", "block", "layer", "commands", "cycles", "schedule_cycles",
           "predict_cycles", "cfse_cycles", "staging_cycles", "imem_beats", "wmem_beats", "omem_beats", "stream_cycles",
           "macs_done", "macs_skipped", "bytes_in", "bytes_out", "bytes_window",
           "host_elements", "utilization")


@dataclass
class LayerRow:
    """Counters of one (sample, iteration, block, layer)."""

    sample: int
    iteration: int
    block: int
    layer: str
    commands: int = 0
    cycles: int = 0
    schedule_cycles: int = 0
    predict_cycles: int = 0
    cfse_cycles: int = 0
    staging_cycles: int = 0
    imem_beats: int = 0
    wmem_beats: int = 0
    omem_beats: int = 0
    macs_done: int = 0
    macs_skipped: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    bytes_window: int = 0
    host_elements: int = 0

    @property
    def stream_cycles(self) -> int:
        """Cycles the busiest data port needs (one beat per cycle each)."""
        return max(self.imem_beats, self.wmem_beats, self.omem_beats)

    def as_dict(self, peak: int) -> dict:
        d = {k: getattr(self, k) for k in COLUMNS if k != "utilization"}
        d["utilization"] = self.macs_done / (self.cycles * peak) if self.cycles else 0.0
        return d


@dataclass
class Stats:
    """Accumulates :class:`LayerRow` s and one :class:`golden.energy.ActionCounts`.

    Members
    -------
    cfg : ExionConfig
    rows : dict of tuple to LayerRow
    counts : ActionCounts
    where : tuple
        (sample, iteration, block) the next commands belong to; ``layer`` names the layer.
    """

    cfg: ExionConfig
    rows: dict = field(default_factory=dict)
    counts: ActionCounts = field(default_factory=ActionCounts)
    where: tuple = (0, 0, -1)
    layer: str = "-"

    def row(self) -> LayerRow:
        key = (*self.where, self.layer)
        r = self.rows.get(key)
        if r is None:
            r = self.rows[key] = LayerRow(*key)
        return r

    # -- per command -------------------------------------------------------------------------
    def command(self, op: str, f: dict, cycles: int = 0, *, busy: int = 0, k: int = 0,
                blocks: int = 0, busy_rows: int = 0, busy_cols: int = 0, staging: bool = False,
                cfse: tuple | None = None) -> None:
        """One command: ``busy`` DPUs (GEMM outputs computed) with reduction ``k`` (the MACs
        done), ``blocks`` blocks; ``busy_rows`` / ``busy_cols``: the busy IMEM / WMEM banks
        summed over its blocks (kept for the callers; the RTL reads every bank, so the counts
        use ``rows`` / ``cols`` per block); ``staging``: an identity GEMM that moves CFSE operands (its cycles also in
        ``staging_cycles``); ``cfse``: ``(op, elements)`` of a CFSE command (its cycles in
        ``cfse_cycles``, its elements as CFSE work for the energy)."""
        cfg, r, c = self.cfg, self.row(), self.counts
        lane = cycle_model.beat_bytes(cfg.lanes * cfg.data_width)
        word = cycle_model.beat_bytes(cfg.rows * cfg.data_width)
        r.commands += 1
        r.cycles += cycles
        c.cycles += cycles
        count = f.get("count", 0)
        if op == "LOAD_IMEM":
            n = cfg.rows * count
            r.imem_beats += n
            r.bytes_in += n * lane
            c.add("imem", "write", n)
            c.add("offchip", "byte", n * lane)
        elif op == "LOAD_WMEM":
            n = cfg.cols * (f.get("streams", 0) or cfg.merge_degree) * count
            r.wmem_beats += n
            r.bytes_in += n * lane
            c.add("wmem", "write", n)
            c.add("offchip", "byte", n * lane)
        elif op == "READ_OMEM":
            r.omem_beats += count
            r.bytes_out += count * word
            c.add("omem", "read", count * cfg.rows)
            c.add("offchip", "byte", count * word)
        if staging:
            r.staging_cycles += cycles
        if cfse is not None:
            # every row's unit runs, OMEM read in passes (softmax 3, LayerNorm 4), results
            # as whole IMEM words of the rows < n_rows (golden.energy_counts)
            r.cfse_cycles += cycles
            cc = cfse_command_counts(cfse[0], f["n_ch"], f["n_rows"], cfg,
                                     key_mask=bool(f.get("key_mask")),
                                     ffn_mask=bool(f.get("ffn_mask")))
            for (comp, act), n in cc.counts.items():
                c.add(comp, act, n)
        if op == "GEMM":
            # What the RTL does (sim/tb_energy_activity.py counts it): every chunk of a block
            # reads one word of every IMEM and WMEM bank (shared address, no read enable) and
            # multiplies every lane of a busy DPU (padding and identity staging included);
            # every block fetch reads SMEM, dense blocks too.
            kc = f["kc"]
            r.macs_done += busy * k
            c.add("dpu", "mult", busy * kc * cfg.lanes)
            c.add("dpu", "tree_add", busy * kc)
            c.add("dpu", "acc_add", busy * kc)
            c.add("dpu", "ff_bit", busy * kc * dpu_ff_bits(cfg))
            c.add("imem", "read", cfg.rows * kc * blocks)
            c.add("wmem", "read", cfg.cols * kc * blocks)
            c.add("omem", "write", busy)
            c.add("smem", "read", blocks)
            if "FFN_MASK" in f.get("flags", ()):
                c.add("ffn_mask", "compare", busy)
                c.add("mask", "write", f["n_ch"])
        elif op == "SCHEDULE":
            r.schedule_cycles += cycles
            c.add("mask", "read", -(-f["n_ch"] // CAU_BEAT) * CAU_BEAT)
            # ``busy`` is the CAU's cycles with a one-block flush; a CAU with cau_window > 1
            # flushes up to that many blocks, which the SCHEDULE's cycles hold: the CAU's are
            # those less the fixed overhead (golden.cycle_model.schedule_cycles; one less and
            # then below ``busy`` when no block is made, where the flush is one cycle)
            c.add("cau", "cycle", max(busy, cycles - cycle_model.SCHEDULE_OVERHEAD))
            c.add("smem", "write", blocks)
        elif op == "PREDICT":
            # every predictor and selector runs, whatever n_rows; every (key, chunk) cycle
            # reads one word of every IMEM and WMEM bank; the mask is written in whole words
            r.predict_cycles += cycles
            n, kc = f["n_keys"], f["kc"]
            rows = cfg.rows
            c.add("predictor", "lane_op", rows * n * kc * cfg.lanes)
            c.add("predictor", "acc_add", rows * n * kc)
            c.add("imem", "read", rows * n * kc)
            c.add("wmem", "read", cfg.cols * n * kc)
            c.add("selector", "key", rows * n)
            c.add("mask", "write", -(-n // CAU_BEAT) * CAU_BEAT)

    def window(self, nbytes: int) -> None:
        """Bytes through the AXI4-Lite windows (mask, SMEM)."""
        self.row().bytes_window += nbytes

    def skipped(self, macs: int) -> None:
        self.row().macs_skipped += int(macs)

    def host(self, op: str, elements: int) -> None:
        """``elements`` of CFSE operation ``op`` done on the host."""
        self.row().host_elements += int(elements)
        if elements:
            self.counts.add("cfse", op, int(elements))

    def eager_projection(self, lane_ops: int) -> None:
        """Shift-add Q / K projections of eager prediction (host today, predictor work)."""
        self.counts.add("predictor", "lane_op", lane_ops)
        self.counts.add("predictor", "acc_add", -(-lane_ops // self.cfg.lanes))

    # -- totals -----------------------------------------------------------------------------
    def table(self) -> list[dict]:
        peak = self.cfg.peak_macs_per_cycle
        return [r.as_dict(peak) for r in self.rows.values()]

    def totals(self) -> dict:
        rs = list(self.rows.values())
        keys = ("commands", "cycles", "schedule_cycles", "predict_cycles", "cfse_cycles",
                "staging_cycles", "stream_cycles", "macs_done", "macs_skipped",
                "bytes_in", "bytes_out", "bytes_window", "host_elements")
        t = {k: sum(getattr(r, k) for r in rs) for k in keys}
        peak = self.cfg.peak_macs_per_cycle
        t["utilization"] = t["macs_done"] / (t["cycles"] * peak) if t["cycles"] else 0.0
        # per layer the slower of the SDUE and the busiest data port (they overlap)
        t["bound_cycles"] = sum(max(r.cycles, r.stream_cycles) for r in rs)
        t["bound_utilization"] = (t["macs_done"] / (t["bound_cycles"] * peak)
                                  if t["bound_cycles"] else 0.0)
        return t

    def per_iteration(self) -> list[dict]:
        out: dict = {}
        for r in self.rows.values():
            d = out.setdefault((r.sample, r.iteration), {"sample": r.sample,
                                                          "iteration": r.iteration,
                                                          "cycles": 0, "macs_done": 0,
                                                          "macs_skipped": 0})
            d["cycles"] += r.cycles
            d["macs_done"] += r.macs_done
            d["macs_skipped"] += r.macs_skipped
        return list(out.values())
