"""A loadable, runnable top around the SDUE: IMEM / WMEM / OMEM, a schedule memory (SMEM) of
ConMerge vectors and a sequencer that streams them into the SDUE back to back.

The host (a testbench, later the EXION core's controller) fills IMEM with the row group's
tokens, WMEM with the blocks' weight streams and SMEM with the blocks, swaps the input buffers
to the array side, pulses ``start`` with ``n_blocks``, ``kc`` and ``shift``, waits for ``done``,
swaps OMEM and reads the outputs. ``cycles`` is the SDUE's busy-cycle count of the run.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig

from .dpu import lane_vector
from .mem import ReadBanks, WriteBanks
from .sdue import Sdue, block_layout
from .sequencer import Sequencer

__all__ = ["SdueTop"]


class SdueTop(wiring.Component):
    """SDUE with its memories and a schedule sequencer.

    Members
    -------
    imem_w_en, imem_w_bank, imem_w_buf, imem_w_addr, imem_w_data, imem_swap : In
        Host write into IMEM's host-side buffer ``imem_w_buf``; ``imem_swap`` rotates buffers.
    wmem_w_en, wmem_w_bank, wmem_w_lane, wmem_w_buf, wmem_w_addr, wmem_w_data, wmem_swap : In
        Same for WMEM; ``wmem_w_lane`` is the weight stream (merge slot position).
    omem_r_buf, omem_r_addr : In ; omem_r_data : Out(ArrayLayout(data_width, rows))
        Host read of one address of every OMEM bank of a host-side buffer (data one cycle
        later); ``omem_swap`` rotates.
    smem_w_en, smem_w_addr, smem_w_data : In
        Host write of one ConMerge vector (``golden.schedule.pack_block``).
    start, n_blocks, kc, shift : In
        Run ``n_blocks`` blocks from SMEM address 0.
    busy, done : Out(1)
        ``done`` rises when the run's last output is in OMEM and stays until the next start.
    cycles : Out(32)
        Busy cycles of the last run (``golden.cycle_model``).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "smem"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        lv = lane_vector(cfg)
        self._imem = ReadBanks(banks=cfg.rows, depth=cfg.words("imem"), buffers=cfg.imem_buffers,
                               word=lv, unit="imem")
        self._wmem = ReadBanks(banks=cfg.cols, depth=cfg.words("wmem"), buffers=cfg.wmem_buffers,
                               word=data.ArrayLayout(lv, cfg.merge_degree),
                               write_lanes=cfg.merge_degree, unit="wmem")
        self._omem = WriteBanks(banks=cfg.rows, depth=cfg.words("omem"),
                                buffers=cfg.omem_buffers, width=cfg.data_width,
                                ports=cfg.drain_ports, unit="omem")
        self._sdue = Sdue(cfg)
        sig = {}
        for prefix, mem in (("imem", self._imem), ("wmem", self._wmem)):
            for name in ("w_en", "w_bank", "w_lane", "w_buf", "w_addr", "w_data", "swap"):
                if name == "w_lane" and prefix == "imem":
                    continue
                sig[f"{prefix}_{name}"] = In(mem.signature.members[name].shape)
        for name in ("r_buf", "r_addr", "swap"):
            sig[f"omem_{name}"] = In(self._omem.signature.members[name].shape)
        sig["omem_r_data"] = Out(self._omem.signature.members["r_data"].shape)
        sig.update({
            "smem_w_en": In(1),
            "smem_w_addr": In(range(cfg.schedule_depth)),
            "smem_w_data": In(block_layout(cfg)),
            "start": In(1),
            "n_blocks": In(range(cfg.schedule_depth + 1)),
            "kc": In(16),
            "shift": In(range(cfg.acc_width)),
            "busy": Out(1),
            "done": Out(1),
            "cycles": Out(32),
        })
        super().__init__(sig)

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.imem = imem = self._imem
        m.submodules.wmem = wmem = self._wmem
        m.submodules.omem = omem = self._omem
        m.submodules.sdue = sdue = self._sdue

        for prefix, mem in (("imem", imem), ("wmem", wmem)):
            for name in ("w_en", "w_bank", "w_lane", "w_buf", "w_addr", "w_data", "swap"):
                if name == "w_lane" and prefix == "imem":
                    continue
                m.d.comb += getattr(mem, name).eq(getattr(self, f"{prefix}_{name}"))
        for name in ("r_buf", "r_addr", "swap"):
            m.d.comb += getattr(omem, name).eq(getattr(self, f"omem_{name}"))
        m.d.comb += [
            self.omem_r_data.eq(omem.r_data),
            imem.r_addr.eq(sdue.imem_addr), sdue.imem_data.eq(imem.r_data),
            wmem.r_addr.eq(sdue.wmem_addr), sdue.wmem_data.eq(wmem.r_data),
            omem.a_en.eq(sdue.omem_en), omem.a_addr.eq(sdue.omem_addr),
            omem.a_data.eq(sdue.omem_data),
        ]

        # Schedule memory and a one-entry prefetch that keeps the SDUE fed back to back.
        m.submodules.smem = smem = Memory(shape=block_layout(cfg), depth=cfg.schedule_depth,
                                          init=[])
        wp = smem.write_port()
        rp = smem.read_port()
        m.d.comb += [wp.en.eq(self.smem_w_en), wp.addr.eq(self.smem_w_addr),
                     wp.data.eq(self.smem_w_data)]

        # The shared memory-to-stream sequencer (hw/sequencer.py) keeps the SDUE fed back
        # to back from SMEM.
        m.submodules.seq = seq = Sequencer(addr_width=max(1, (cfg.schedule_depth - 1).bit_length()),
                                           count_width=cfg.schedule_depth.bit_length())
        kc = Signal(16)
        shift = Signal.like(self.shift)
        running = Signal()
        m.d.comb += [
            seq.start.eq(self.start), seq.base.eq(0), seq.count.eq(self.n_blocks),
            rp.addr.eq(seq.r_addr), rp.en.eq(seq.r_en),
            sdue.kc.eq(kc), sdue.shift.eq(shift),
            sdue.blocks.payload.eq(rp.data),
            sdue.blocks.valid.eq(seq.o_valid), seq.o_ready.eq(sdue.blocks.ready),
            sdue.clear.eq(self.start),
        ]
        with m.If(self.start):
            m.d.sync += [kc.eq(self.kc), shift.eq(self.shift), running.eq(1), self.done.eq(0)]
        with m.Elif(running & ~seq.busy & ~sdue.busy):
            m.d.sync += [running.eq(0), self.done.eq(1)]
        m.d.comb += [self.busy.eq(running), self.cycles.eq(sdue.cycles)]
        return m
