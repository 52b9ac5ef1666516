"""Activity counters of an RTL run against the energy model's action counts.

A runtime command stream (``exion_tools.runtime``: dense ``GEMM``, ``GEMM FFN_MASK``,
``SCHEDULE`` + sparse ``GEMM``, ``PREDICT``, ``GELU``, ``SOFTMAX`` with and without key mask,
``LAYERNORM`` and ``RESIDUAL`` with their staging ``GEMM`` s, the ``READ_OMEM`` s of all of
them), recorded on the command-level model together with the
runtime's :class:`golden.energy.ActionCounts` (``exion_tools.runtime.counts.Stats``), is
replayed on the core (``sim.tb_runtime_replay.replay_log``: every frame, register, mask and
SMEM read compared) while a monitor samples RTL signals by hierarchical name once per cycle
(on the falling clock edge, when the cycle's values have settled) and counts what each
component did:

* SRAM writes: IMEM / WMEM / OMEM bank write enables (one per written word; WMEM one per
  stream written), SMEM's write port, the mask memory's write lanes (one per channel vector).
* SRAM reads: every chunk the SDUE reads (``rd_valid``) reads one word of every IMEM bank and
  every WMEM bank (the banks share one address and have no read enable), as does every
  (key, chunk) cycle of ``PREDICT`` (the predictors' ``valid``), and every ``RESIDUAL`` beat
  (the residual unit's ``i.valid``: its x from IMEM); the read engine's and the CFSE's
  sequencer fetches (``r_en``) and the row units' reads (``rd_en`` of the softmax and
  LayerNorm units: three and four passes over the channels) read one word of every OMEM bank;
  SMEM's and the mask memory's engine read ports (``en``; one mask word holds ``CAU_BEAT``
  channel vectors), and a ``SOFTMAX`` with ``key_mask`` one mask word per read of its row
  unit (the keep bits).
* Compute: per SDUE chunk read the DPUs whose switch field is set (``sel != 0``, from the
  block the SDUE took): one tree reduction, one accumulate, ``lanes`` multiplies each; the predictors' valid cycles
  (``lanes`` lane operations and one accumulate each); the selectors' score inputs; the CAU's
  cycles with a beat or a flush (not the output register's last cycle); the ``FFN_MASK``
  keep-mask tests (outputs drained with the flag); GELU and RESIDUAL beats and the row units'
  results (``o_valid``), ``rows`` elements each.
* Off-chip bytes: stream handshakes times the beat's bytes.

Host-window accesses (mask writes and reads, SMEM reads through AXI4-Lite) are counted apart
(``window.*``): the runtime accounts them as window bytes, not as actions.

The signals are public in every Verilator build of the core (``sim.runner.MONITORED``).
Every count of :data:`COMPARED` must equal the runtime's; the measured and expected counts
go to ``EXION_ACTIVITY_RESULT`` (JSON) for tests/test_energy_activity.py and
bench/bench_energy_activity.py. Environment: ``EXION_RUNTIME_LOG`` (the pickled log),
``EXION_ACTIVITY_EXPECT`` (JSON ``{"component.action": count}``), ``EXION_ACTIVITY_RESULT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge

from exion.limits import CAU_BEAT
from exion.util import atomic_write
from exion_tools.runtime.backend import StreamLog
from golden import cycle_model
from hw.sdue import block_layout
from sim.core_driver import CoreTB
from sim.tb_runtime_replay import replay_log

#: Counts checked for equality with the runtime's (``component.action``).
COMPARED = ("imem.write", "imem.read", "wmem.write", "wmem.read", "omem.write", "omem.read",
            "smem.write", "smem.read", "mask.write", "mask.read", "dpu.mult", "dpu.tree_add",
            "dpu.acc_add", "predictor.lane_op", "predictor.acc_add", "selector.key",
            "cau.cycle", "ffn_mask.compare", "cfse.gelu", "cfse.residual", "cfse.softmax",
            "cfse.layernorm", "offchip.byte")


def _ones(v) -> int:
    return bin(int(v)).count("1")


def _bit(sig) -> int:
    """A combinational enable: 0 while undriven (Icarus evaluates such a block only once an
    input changes, so a row unit's ``rd_en`` is X until its first command)."""
    v = sig.value
    return int(v) if v.is_resolvable else 0


class ActivityMonitor:
    """Counts per-cycle activity of a core (see the module docstring) into ``counts``."""

    def __init__(self, dut, cfg):
        self.dut, self.cfg = dut, cfg
        self.counts: dict[str, int] = {}
        self.cycles = 0
        d = dut
        self.imem = [getattr(d, f"imem{i}") for i in range(cfg.rows)]
        # one WMEM RAM per bank and stream (hw/core.py)
        self.wmem = [getattr(d, f"wmem{i}") for i in range(cfg.cols * cfg.merge_degree)]
        self.omem = [getattr(d, f"omem{i}") for i in range(cfg.rows)]
        self.omem_en = [[b.w_en] + [getattr(b, f"wp{j}_en") for j in range(1, cfg.drain_ports)]
                        for b in self.omem]
        self.sdue = d.exec.sdue
        # the switch fields of a block, as the SDUE takes it (hw/sdue.py, block_layout)
        sel = block_layout(cfg)["sel"]
        self.sel_at = [sel.offset + i * cfg.sel_width for i in range(cfg.rows * cfg.cols)]
        self.sel_mask = (1 << cfg.sel_width) - 1
        self.pred = [getattr(d.predict, f"pred{r}").valid for r in range(cfg.rows)]
        self.sel = [getattr(d.predict, f"sel{r}").scores__valid for r in range(cfg.rows)]
        self.in_lane = cycle_model.beat_bytes(cfg.lanes * cfg.data_width)
        self.out_word = cycle_model.beat_bytes(cfg.rows * cfg.data_width)

    def add(self, key: str, n: int):
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    async def run(self):
        d, cfg, add = self.dut, self.cfg, self.add
        R, C, L = cfg.rows, cfg.cols, cfg.lanes
        prev_omem = 0
        engine_mask = 0     # an engine issued last cycle's mask write (not the host window)
        busy = 0            # DPUs with a set switch field in the block being read
        while True:
            await FallingEdge(d.clk)
            self.cycles += 1
            add("imem.write", sum(int(b.w_en.value) for b in self.imem))
            add("wmem.write", sum(_ones(b.w_en.value) for b in self.wmem))
            omem_w = sum(int(e.value) for ens in self.omem_en for e in ens)
            add("omem.write", omem_w)
            sdue = self.sdue
            if int(sdue.blocks__valid.value) and int(sdue.blocks__ready.value):
                blk = int(sdue.blocks__payload.value)
                busy = sum(1 for o in self.sel_at if (blk >> o) & self.sel_mask)
            sdue_rd = int(sdue.rd_valid.value)
            pred_rd = int(self.pred[0].value)       # all predictors run in step
            cf = d.cfse
            res_v = int(cf.res.i__valid.value)      # a RESIDUAL beat: x from IMEM
            add("imem.read", R * (sdue_rd + pred_rd + res_v))
            add("wmem.read", C * (sdue_rd + pred_rd))
            sm_rd, ln_rd = _bit(cf.softmax.rd_en), _bit(cf.layernorm.rd_en)
            add("omem.read", R * (int(d.read.seq.r_en.value) + int(cf.seq.r_en.value)
                                  + sm_rd + ln_rd))
            # the keep bits of a SOFTMAX with key_mask: a mask word with every key read
            add("mask.read", CAU_BEAT * sm_rd * int(cf.c_key_mask.value))
            add("smem.write", int(d.smem_wp__en.value))
            add("smem.read", int(d.smem_rp__en.value))
            add("mask.read", CAU_BEAT * int(d.mask_rp__en.value))
            # the mask memory's write port is registered (hw/core.py): its lanes this cycle
            # are the write an engine or the host window issued in the cycle before
            lanes = _ones(d.mask_wp__en.value)
            add("mask.write" if engine_mask else "window.mask_write", lanes)
            engine_mask = (int(d.predict.mask_we.value) | int(d.exec.mask_we.value)
                           | int(d.cfse.mask_we.value))
            if sdue_rd:         # one chunk of the block: its busy DPUs work on it
                add("dpu.mult", busy * L)
                add("dpu.tree_add", busy)
                add("dpu.acc_add", busy)
            preds = sum(int(p.value) for p in self.pred)
            add("predictor.lane_op", preds * L)
            add("predictor.acc_add", preds)
            add("selector.key", sum(int(s.value) for s in self.sel))
            cau = d.schedule.cau
            add("cau.cycle", int(cau.masks__valid.value) | int(cau.flush.value))
            # an FFN_MASK drain cycle's outputs are tested one cycle later (exec.ffn)
            if int(d.exec.ffn.value):
                add("ffn_mask.compare", prev_omem)
            prev_omem = omem_w
            if int(cf.gelu.i__valid.value) and int(cf.gelu.advance.value):
                add("cfse.gelu", R)
            add("cfse.residual", R * res_v)
            add("cfse.softmax", R * int(cf.softmax.o_valid.value))
            add("cfse.layernorm", R * int(cf.layernorm.o_valid.value))
            beats_in = (int(d.s_axis_imem_tvalid.value) & int(d.s_axis_imem_tready.value)) \
                + (int(d.s_axis_wmem_tvalid.value) & int(d.s_axis_wmem_tready.value))
            beats_out = int(d.m_axis_tvalid.value) & int(d.m_axis_tready.value)
            add("offchip.byte", beats_in * self.in_lane + beats_out * self.out_word)


@cocotb.test()
async def activity(dut):
    """The RTL's activity counts equal the runtime's action counts for the same commands."""
    tb = await CoreTB.started(dut)
    mon = ActivityMonitor(dut, tb.cfg)
    cocotb.start_soon(mon.run())
    log = StreamLog.loads(Path(os.environ["EXION_RUNTIME_LOG"]).read_bytes())
    res = await replay_log(tb, log)
    await ClockCycles(dut.clk, 4)
    want = json.loads(Path(os.environ["EXION_ACTIVITY_EXPECT"]).read_text())
    got = dict(mon.counts)
    out = os.environ.get("EXION_ACTIVITY_RESULT")
    if out:
        atomic_write(out, json.dumps({"rtl": got, "model": want, "cycles": mon.cycles,
                                      "commands": res["commands"], "pause": tb.pause}))
    bad = [f"{k}: RTL {got.get(k, 0)}, model {want.get(k, 0)}" for k in COMPARED
           if got.get(k, 0) != want.get(k, 0)]
    assert not bad, "activity differs from the model's action counts:\n  " + "\n  ".join(bad)
