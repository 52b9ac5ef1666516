"""The EXION core: the engines and memories, wired.

::

    s_axil ──> HostInterface ──cmd──> Dispatcher ─┬─load_i──> LoadEngine (s_axis_imem -> IMEM)
               (registers, check,                 ├─load_w──> LoadEngine (s_axis_wmem -> WMEM)
                queue, windows)                   ├─exec────> ExecEngine (GEMM on the SDUE)
                  ^ fail, results                 ├─schedule> ScheduleEngine (mask -> CAU -> SMEM)
                  └─────────────── engines        ├─predict─> PredictEngine (IMEM/WMEM -> mask)
                                                  ├─read────> ReadEngine (OMEM -> m_axis)
                                                  ├─cfse────> CfseEngine (OMEM -> CFSE -> IMEM)
                                                  └─smem────> SmemEngine (SMEM <-> m_axi)

The load_i, load_w and read streams pass the master-port engine (``hw/core_dma.py``) on the
way: a command with ``MEM`` takes its data from / to ``m_axi`` there instead of the streams.

Every engine is a component in its own file whose docstring states its contract
(``hw/core_host.py``, ``hw/core_dispatch.py``, ``hw/core_load.py``, ``hw/core_exec.py``,
``hw/core_schedule.py``, ``hw/core_predict.py``, ``hw/core_read.py``, ``hw/core_cfse.py``);
those that turn a memory into a stream share one sequencer (``hw/sequencer.py``). This
module holds the memories (one :class:`hw.mem.Bank` per IMEM / WMEM / OMEM bank, SMEM, the
mask memory) and the muxes of their shared ports. The command set, register map and cause codes are :mod:`exion.regmap`
(docs/core.md).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CAU_BEAT, CORE_MEM_WAYS, DMA_ADDR_WIDTH
from exion.regmap import CAUSES, OPCODES, RegisterMap

from .axil import axil_members
from .core_cfse import CfseEngine
from .core_cmd import command_fields
from .core_dispatch import Dispatcher
from .core_dma import CoreDma
from .core_exec import ExecEngine
from .core_gather import CoreGather
from .core_host import HostInterface
from .core_load import LoadEngine
from .core_predict import PredictEngine
from .core_read import ReadEngine
from .core_schedule import ScheduleEngine
from .core_smem import SmemEngine
from .dma_burst import axi_read_members, axi_write_members
from .library import declare_unit, forward, place
from .mem import Bank
from .sdue import block_layout

__all__ = ["ExionCore"]


class ExionCore(wiring.Component):
    """The accelerator: what ``make verilog`` emits.

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    s_axil_* : AXI4-Lite slave (registers, command issue, mask and SMEM windows).
    s_axis_imem_tdata, s_axis_wmem_tdata : In(lanes * data_width) ;
    s_axis_imem_tvalid, s_axis_wmem_tvalid : In(1) ; s_axis_imem_tready, s_axis_wmem_tready : Out(1)
        Bulk input of ``LOAD_IMEM`` / ``LOAD_WMEM``: one lane vector per beat (lane 0 at the
        LSB); two streams so that weights load while row groups stream in.
    m_axis_tdata : Out(rows * data_width) ; m_axis_tvalid, m_axis_tlast : Out(1) ;
    m_axis_tready : In(1)
        Bulk output: one OMEM address of every bank per beat (bank 0 at the LSB); ``tlast`` on
        the last beat of a ``READ_OMEM``.
    m_axi_* : AXI4 master port (``bus_width`` data bits, 32-bit addresses, one ID bit)
        Bulk data of ``MEM`` commands (``hw/core_dma.py``).
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "ctrl"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        self._map = RegisterMap(cfg)
        super().__init__({
            **axil_members(self._map.addr_width),
            "s_axis_imem_tdata": In(self._map.in_width), "s_axis_imem_tvalid": In(1),
            "s_axis_imem_tready": Out(1),
            "s_axis_wmem_tdata": In(self._map.in_width), "s_axis_wmem_tvalid": In(1),
            "s_axis_wmem_tready": Out(1),
            "m_axis_tdata": Out(self._map.out_width), "m_axis_tvalid": Out(1),
            "m_axis_tlast": Out(1), "m_axis_tready": In(1),
            **axi_read_members(DMA_ADDR_WIDTH, cfg.bus_width),
            **axi_write_members(DMA_ADDR_WIDTH, cfg.bus_width),
        })

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    @property
    def regmap(self) -> RegisterMap:
        return self._map

    @staticmethod
    def _banks(m, platform, prefix, n, width, depth, buffers, ports=1, **pair):
        banks = []
        for i in range(n):
            bank = Bank(width=width, depth=buffers * depth, write_ports=ports,
                        unit=prefix, **pair)
            place(m, f"{prefix}{i}", bank, platform, bank.module_name)
            banks.append(bank)
        return banks

    def elaborate(self, platform):
        cfg, rm = self._cfg, self._map
        R, C, D, L, W = cfg.rows, cfg.cols, cfg.merge_degree, cfg.lanes, cfg.data_width
        Di, Dw, Do = cfg.words("imem"), cfg.words("wmem"), cfg.words("omem")
        Bi, Bw, Bo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
        S, DP = cfg.schedule_depth, cfg.drain_ports
        m = Module()

        # -- engines ----------------------------------------------------------------------------
        m.submodules.host = host = HostInterface(cfg)
        MW = host.mask_words
        forward(m, host, axil_members(rm.addr_width), self)
        m.submodules.dispatch = disp = Dispatcher(cfg)
        m.submodules.load_i = li = LoadEngine(banks=R, depth=Di, buffers=Bi, width=L * W,
                                              buffer_field="ibuf", ways=CORE_MEM_WAYS)
        m.submodules.load_w = lw = LoadEngine(banks=C, depth=Dw, buffers=Bw, width=L * W,
                                              lanes=D, buffer_field="wbuf")
        m.submodules.exec = ex = ExecEngine(cfg, mask_words=MW)
        m.submodules.schedule = sch = ScheduleEngine(cfg, mask_words=MW)
        m.submodules.predict = pr = PredictEngine(cfg, mask_words=MW)
        m.submodules.read = rd = ReadEngine(depth=Do, buffers=Bo, width=R * W,
                                            ways=CORE_MEM_WAYS)
        m.submodules.dma = dma = CoreDma(cfg)
        m.submodules.cfse = cf = CfseEngine(cfg, mask_words=MW)
        m.submodules.gather = g = CoreGather(cfg)
        m.submodules.smem_io = sm = SmemEngine(cfg)
        wiring.connect(m, host.cmd, disp.cmd)
        for name, engine in (("exec", ex), ("schedule", sch), ("predict", pr), ("cfse", cf),
                             ("smem", sm)):
            wiring.connect(m, getattr(disp, name), engine.cmd)
        # loads and reads pass the master-port engine (MEM commands, hw/core_dma.py)
        # (LOAD_WMEM first passes the gather engine: MEM | GATHER, hw/core_gather.py)
        wiring.connect(m, disp.load_w, g.cmd_in)
        wiring.connect(m, g.cmd_out, dma.load_w_in)
        for name, engine in (("load_i", li), ("load_w", lw), ("read", rd)):
            if name != "load_w":
                wiring.connect(m, getattr(disp, name), getattr(dma, f"{name}_in"))
            wiring.connect(m, getattr(dma, name), engine.cmd)
        forward(m, dma, [n for n in dma.signature.members if n.startswith("m_axi_")], self)

        # -- memories ---------------------------------------------------------------------------
        # (IMEM writes and OMEM reads two neighbouring words a cycle: MEM loads and packed MEM
        # reads move CORE_MEM_WAYS words a cycle, hw/core_dma.py)
        pair = CORE_MEM_WAYS == 2
        imem = self._banks(m, platform, "imem", R, L * W, Di, Bi, pair_write=pair)
        # one WMEM RAM per bank and stream (entry c * D + d), each with its own read address:
        # a RESIDENT sparse GEMM reads each stream at its slot's class (hw/core_exec.py)
        wmem = self._banks(m, platform, "wmem", C * D, L * W, Dw, Bw)
        omem = self._banks(m, platform, "omem", R, W, Do, Bo, ports=DP, pair_read=pair)
        m.submodules.smem = smem = declare_unit(
            Memory(shape=block_layout(cfg), depth=S, init=[]), "smem")
        smem_wp = smem.write_port()
        smem_rp = smem.read_port()          # execute engine
        smem_hp = smem.read_port()          # host window
        smem_gp = smem.read_port()          # gather engine
        smem_sp = smem.read_port()          # SMEM transfer engine (STORE_SMEM)
        m.submodules.mask = mask = declare_unit(      # the CAU's mask memory
            Memory(shape=CAU_BEAT * R, depth=MW, init=[]), "cau")
        mask_wp = mask.write_port(granularity=R)
        mask_rp = mask.read_port()          # SCHEDULE engine
        mask_hp = mask.read_port()          # host window
        mask_cp = mask.read_port()          # CFSE engine (SOFTMAX key mask)

        # streams; a MEM load's items replace its stream, a MEM read's beats go to the port
        m.d.comb += [
            li.s_axis_tdata.eq(Mux(dma.to_i, dma.item_i.payload, self.s_axis_imem_tdata)),
            li.s_axis_tvalid.eq(Mux(dma.to_i, dma.item_i.valid, self.s_axis_imem_tvalid)),
            self.s_axis_imem_tready.eq(li.s_axis_tready & ~dma.to_i),
            lw.s_axis_tdata.eq(Mux(g.busy, g.item.payload,
                                   Mux(dma.to_w, dma.item_w.payload, self.s_axis_wmem_tdata))),
            lw.s_axis_tvalid.eq(Mux(g.busy, g.item.valid,
                                    Mux(dma.to_w, dma.item_w.valid, self.s_axis_wmem_tvalid))),
            self.s_axis_wmem_tready.eq(lw.s_axis_tready & ~dma.to_w & ~g.busy),
            g.item.ready.eq(lw.s_axis_tready),
            dma.item_i.ready.eq(li.s_axis_tready),
            dma.item_w.ready.eq(Mux(g.busy, g.dma_item.ready, lw.s_axis_tready)),
            g.dma_item.payload.eq(dma.item_w.payload), g.dma_item.valid.eq(dma.item_w.valid),
            dma.g_on.eq(g.busy), dma.g_valid.eq(g.desc_valid), dma.g_base.eq(g.desc_base),
            dma.g_items.eq(g.desc_items), dma.g_word.eq(g.word), g.desc_ready.eq(dma.g_ready),
            dma.g_first.eq(g.desc_first), dma.g_head.eq(g.head),
            g.free.eq(dma.g_free), g.abort.eq(dma.g_abort), g.lw_done.eq(lw.done),
            # (a gather's end sets rd_cycles from its count, one of no block sets 1)
            dma.g_cycles.eq(g.cycles), dma.g_cycles_we.eq(g.busy & lw.done),
            dma.g_one.eq(g.done),
            smem_gp.addr.eq(g.smem_addr), g.smem_data.eq(smem_gp.data.as_value()),
            dma.load_i_done.eq(li.done), dma.load_w_done.eq(lw.done),
            li.abort.eq(dma.abort_i), lw.abort.eq(dma.abort_w | g.lw_abort),
            self.m_axis_tdata.eq(rd.m_axis_tdata),
            self.m_axis_tvalid.eq(rd.m_axis_tvalid & ~dma.to_mem),
            self.m_axis_tlast.eq(rd.m_axis_tlast & ~dma.to_mem),
            rd.m_axis_tready.eq(Mux(dma.to_mem, dma.beat.ready, self.m_axis_tready)),
            dma.beat.payload.eq(rd.m_axis_tdata), dma.beat.valid.eq(rd.m_axis_tvalid & dma.to_mem),
            dma.beat2.eq(rd.m_axis_tdata2), dma.beat_two.eq(rd.m_axis_two),
            dma.beat_last.eq(rd.m_axis_tlast),
            li.s_data2.eq(dma.item_i2), li.s_two.eq(dma.to_i & dma.item_i_two),
            dma.read_done.eq(rd.done), dma.read_busy.eq(rd.busy),
        ]
        # IMEM / WMEM: the load engines write; the execute or the PREDICT engine reads
        # (the CFSE engine runs alone among the IMEM / OMEM users: core_dispatch.py)
        LW = L * W
        # (PREDICT_PROJ writes IMEM or WMEM only while that memory's loader is idle:
        # core_dispatch.py)
        for i, bank in enumerate(imem):
            m.d.comb += [bank.w_addr.eq(Mux(cf.busy, cf.imem_waddr,
                                            Mux(pr.proj_i, pr.imem_waddr, li.w_addr))),
                         bank.w_data.eq(Mux(cf.busy, cf.imem_wdata[i * LW:(i + 1) * LW],
                                            Mux(pr.proj_i, pr.imem_wdata[i * LW:(i + 1) * LW],
                                                li.w_data))),
                         bank.w_en.eq(li.w_en[i] | cf.imem_we[i] | pr.imem_we[i]),
                         bank.r_addr.eq(Mux(pr.busy, pr.imem_addr,
                                            Mux(cf.busy, cf.imem_raddr, ex.imem_addr)))]
            m.d.comb += [bank.w2_addr.eq(li.w_addr2), bank.w2_data.eq(li.w_data2),
                         bank.w2_en.eq(li.w_en2[i])]
        for i, bank in enumerate(wmem):
            c, d = divmod(i, D)
            # (PREDICT_PROJ's K' goes to stream 0)
            m.d.comb += [bank.w_addr.eq(Mux(pr.proj_w, pr.wmem_waddr, lw.w_addr)),
                         bank.w_data.eq(Mux(pr.proj_w, pr.wmem_wdata,
                                            lw.w_data[d * LW:(d + 1) * LW])),
                         bank.w_en.eq(lw.w_en[i] | (pr.wmem_we[c] if d == 0 else 0)),
                         bank.r_addr.eq(Mux(pr.busy, pr.wmem_addr, ex.wmem_addr[i]))]
        imem_data = Cat(*(b.r_data for b in imem))
        wmem_data = Cat(*(b.r_data for b in wmem))
        m.d.comb += [ex.imem_data.eq(imem_data), ex.wmem_data.eq(wmem_data),
                     cf.imem_rdata.eq(imem_data),
                     pr.imem_data.eq(imem_data), pr.wmem_data.eq(wmem_data)]
        # OMEM: the execute engine writes, the read engine reads
        for r, bank in enumerate(omem):
            for j in range(DP):
                addr, wdata, en = bank.write(j)
                m.d.comb += [en.eq(ex.omem_en[r * DP + j]), addr.eq(ex.omem_addr[r * DP + j]),
                             wdata.eq(ex.omem_data[r * DP + j])]
            m.d.comb += [bank.r_addr.eq(Mux(cf.busy, cf.omem_addr, rd.r_addr)),
                         bank.r_en.eq(Mux(cf.busy, cf.omem_ren, rd.r_en))]
            if pair:        # (r_addr + 1 from the readers' registered bases, hw/mem.py)
                m.d.comb += bank.r_addr1.eq(Mux(cf.busy, cf.omem_addr1, rd.r_addr1))
        m.d.comb += [rd.r_data.eq(Cat(*(b.r_data for b in omem))),
                     rd.r_data2.eq(Cat(*(b.r2_data for b in omem))),
                     cf.omem_data.eq(Cat(*(b.r_data for b in omem)))]
        # SMEM: the SCHEDULE engine writes, the execute engine and the host window read
        # (a LOAD_SMEM writes it too, never beside a SCHEDULE: core_dispatch.py)
        m.d.comb += [smem_wp.addr.eq(Mux(sm.smem_we, sm.smem_waddr, sch.smem_addr)),
                     smem_wp.data.eq(Mux(sm.smem_we, sm.smem_wdata, sch.smem_data.as_value())),
                     smem_wp.en.eq(sch.smem_en | sm.smem_we),
                     smem_sp.addr.eq(sm.smem_raddr), sm.smem_rdata.eq(smem_sp.data.as_value()),
                     sm.blocks.eq(sch.blocks), sm.blocks_half.eq(sch.blocks_half),
                     sch.set_we.eq(sm.set_we), sch.set_half.eq(sm.set_half),
                     sch.set_count.eq(sm.set_count),
                     # the SMEM transfer engine on the master port (hw/core_dma.py's hook)
                     dma.s_desc.eq(sm.desc), dma.s_rd_go.eq(sm.rd_go), dma.s_wr_go.eq(sm.wr_go),
                     dma.s_rd_on.eq(sm.rd_on), dma.s_wr_on.eq(sm.wr_on),
                     sm.rd_free.eq(dma.s_rd_free), sm.wr_free.eq(dma.s_wr_free),
                     sm.word.payload.eq(dma.s_word.payload), sm.word.valid.eq(dma.s_word.valid),
                     dma.s_word.ready.eq(sm.word.ready),
                     dma.s_wdata.payload.eq(sm.wdata.payload),
                     dma.s_wdata.valid.eq(sm.wdata.valid), sm.wdata.ready.eq(dma.s_wdata.ready),
                     sm.rd_error.eq(dma.s_rd_error), sm.rd_cause.eq(dma.s_rd_cause),
                     sm.wr_error.eq(dma.s_wr_error), sm.wr_cause.eq(dma.s_wr_cause),
                     sm.wr_done.eq(dma.s_wr_done),
                     dma.s_rd_clear.eq(sm.rd_clear), dma.s_wr_clear.eq(sm.wr_clear),
                     smem_rp.addr.eq(ex.smem_addr), smem_rp.en.eq(ex.smem_en),
                     ex.smem_data.eq(smem_rp.data),
                     smem_hp.addr.eq(host.smem_raddr), host.smem_rdata.eq(smem_hp.data.as_value())]
        # mask memory: PREDICT first, then FFN_MASK drains, then the host window (the host must
        # not write the window while an engine does, docs/core.md)
        m.d.comb += [mask_rp.addr.eq(sch.mask_addr), mask_rp.en.eq(sch.mask_en),
                     sch.mask_data.eq(mask_rp.data),
                     mask_hp.addr.eq(host.mask_raddr), host.mask_rdata.eq(mask_hp.data),
                     mask_cp.addr.eq(cf.mask_raddr), cf.mask_rdata.eq(mask_cp.data)]
        # The write is registered (it lands a cycle later), so the writers' logic and this
        # priority mux are not one path into the memory's words; each writer's hazard flags
        # below are held a cycle longer to cover it.
        mw_addr, mw_data = Signal.like(mask_wp.addr), Signal.like(mask_wp.data)
        mw_en = Signal.like(mask_wp.en)
        m.d.comb += [mask_wp.addr.eq(mw_addr), mask_wp.data.eq(mw_data), mask_wp.en.eq(mw_en)]
        # (the CFSE's request, the latest of the four, picks in the last multiplexer: the
        # others' priority and the host's are resolved beside it; the same priority, the FPGA
        # build's timing, docs/fpga.md)
        m.d.sync += mw_en.eq(0)
        with m.If(pr.mask_we):
            m.d.sync += [mw_addr.eq(pr.mask_addr), mw_data.eq(pr.mask_data),
                         mw_en.eq((1 << CAU_BEAT) - 1)]
        with m.Elif(ex.mask_we):
            m.d.sync += [mw_addr.eq(ex.mask_addr), mw_data.eq(ex.mask_data),
                         mw_en.eq(ex.mask_en)]
        with m.Elif(host.mask_we):
            m.d.sync += [mw_addr.eq(host.mask_ch // CAU_BEAT),
                         mw_data.eq(host.mask_cv.replicate(CAU_BEAT)),
                         mw_en.eq(Const(1, CAU_BEAT) << (host.mask_ch % CAU_BEAT))]
        with m.If(cf.mask_we & ~pr.mask_we & ~ex.mask_we):
            m.d.sync += [mw_addr.eq(cf.mask_addr), mw_data.eq(cf.mask_data),
                         mw_en.eq(cf.mask_en)]
        pred_mask_q, exec_mask_q, cfse_mask_q = Signal(2), Signal(2), Signal(2)
        m.d.sync += [pred_mask_q.eq(pr.mask_writes), exec_mask_q.eq(ex.mask_busy),
                     cfse_mask_q.eq(cf.mask_writes)]

        # -- hazards, results, status -------------------------------------------------------------
        # CAU_BESIDE: the CAU overlapped with the SDUE, the predictor or the CFSE (mask / SMEM
        # halves)
        cau_beside = Signal(32)
        m.d.sync += cau_beside.eq(cau_beside + (sch.busy & (ex.busy | pr.busy | cf.busy)))
        # a sparse GEMM's block count: that of the SMEM part its half field names
        head_half = command_fields(disp.exec.payload)["half"]
        part_blocks = Signal(range(S + 1))
        bh1 = Signal(16)
        g_half = command_fields(g.cmd_in.payload)["half"]
        m.d.comb += g.blocks.eq(Mux(g_half == 0, sch.blocks,
                                    Mux(g_half == 1, sch.blocks_half[0], sch.blocks_half[1])))
        m.d.comb += [bh1.eq(sch.blocks_half[0]),
                     part_blocks.eq(Mux(head_half == 0, sch.blocks,
                                        Mux(head_half == 1, sch.blocks_half[0],
                                            sch.blocks_half[1])))]
        m.d.comb += [
            disp.writes_i.eq(li.writes), disp.writes_w.eq(lw.writes),
            disp.reads_i.eq(ex.reads_i | pr.reads_i), disp.reads_w.eq(ex.reads_w | pr.reads_w),
            disp.writes_o.eq(ex.writes_o), disp.reads_o.eq(rd.reads), disp.exec_idle.eq(ex.idle),
            disp.others_idle.eq(~(li.busy | ex.busy | pr.busy | rd.busy)),
            disp.sched_writes.eq(sch.writes), disp.exec_smem.eq(ex.smem_reads),
            disp.exec_mask.eq(ex.mask_busy | exec_mask_q), disp.gather_smem.eq(g.smem_reads),
            disp.sched_mask.eq(sch.mask_reads), disp.pred_mask.eq(pr.mask_writes | pred_mask_q),
            disp.cfse_mask.eq(cf.mask_writes | cfse_mask_q),
            disp.proj_i.eq(pr.proj_i), disp.proj_w.eq(pr.proj_w),
            disp.smem_writes.eq(sm.writes), disp.smem_reads.eq(sm.reads),
            disp.smem_loading.eq(sm.loading),
            host.smem_ld_cycles.eq(sm.ld_cycles), host.smem_st_cycles.eq(sm.st_cycles),
            disp.blocks.eq(Cat(sch.blocks, sch.blocks_half[0], sch.blocks_half[1])),
            ex.blocks.eq(part_blocks),
            host.blocks_half.eq(Cat(bh1, sch.blocks_half[1])),
            host.sched_cycles.eq(sch.sched_cycles), host.proj_sat.eq(pr.proj_sat),
            host.busy_load.eq(li.busy | lw.busy | g.busy | sm.busy_load),
            host.mem_busy.eq(dma.load_busy | dma.write_busy | g.busy | sm.busy_load
                             | sm.busy_store),
            host.busy_exec.eq(ex.busy | sch.busy | pr.busy | cf.busy),
            host.busy_read.eq(rd.busy | dma.write_busy | sm.busy_store),
            host.busy_cycles.eq(ex.busy_cycles),
            host.cau_beside.eq(cau_beside),
            host.in_beats.eq((self.s_axis_imem_tvalid & self.s_axis_imem_tready)
                             + (self.s_axis_wmem_tvalid & self.s_axis_wmem_tready)),
            host.out_beats.eq(self.m_axis_tvalid & self.m_axis_tready),
            host.mem_in_bytes.eq(dma.in_bytes), host.mem_out_bytes.eq(dma.out_bytes),
            host.mem_rd_cycles.eq(dma.rd_cycles), host.mem_wr_cycles.eq(dma.wr_cycles),
            dma.region_base.eq(host.region_base), dma.region_end.eq(host.region_end),
            # a MEM read is done when its last write is answered, not when OMEM is read
            host.done.eq(li.done + lw.done + ex.done + sch.done + pr.done
                         + (rd.done & ~dma.to_mem) + dma.done + cf.done + g.done + sm.done),
            host.blocks.eq(sch.blocks),
            host.dominant.eq(pr.dominant), host.skip_k.eq(pr.skip_k), host.skip_v.eq(pr.skip_v),
        ]
        # CYCLES: a GEMM's drain end wins over a SCHEDULE / PREDICT finishing in the same cycle
        with m.If(ex.cycles_we):
            m.d.comb += [host.cycles_we.eq(1), host.cycles.eq(ex.cycles)]
        with m.Elif(sch.cycles_we):
            m.d.comb += [host.cycles_we.eq(1), host.cycles.eq(sch.cycles)]
        with m.Elif(pr.cycles_we):
            m.d.comb += [host.cycles_we.eq(1), host.cycles.eq(pr.cycles)]
        with m.Elif(cf.cycles_we):
            m.d.comb += [host.cycles_we.eq(1), host.cycles.eq(cf.cycles)]
        # a later error: SMEM overflow (run time) over a sparse GEMM dropped at dispatch (Mux,
        # not m.If: Icarus never runs an always @* block whose inputs keep their initial
        # values, and this one's would be constants)
        # (a master-port fault last)
        ov = sch.overflow
        # (a gather past WMEM, ADDR_RANGE, like a dropped sparse GEMM)
        late = disp.fail | g.fail
        # (then the SMEM transfer engine's, hw/core_smem.py)
        m.d.comb += [host.fail.eq(ov | late | dma.fail | sm.fail),
                     host.fail_cause.eq(Mux(ov, CAUSES["SMEM_OVERFLOW"],
                                            Mux(late, CAUSES["ADDR_RANGE"],
                                                Mux(dma.fail, dma.fail_cause, sm.fail_cause)))),
                     host.fail_cmd.eq(Mux(ov, OPCODES["SCHEDULE"],
                                          Mux(disp.fail, disp.fail_cmd,
                                              Mux(g.fail, g.fail_cmd,
                                                  Mux(dma.fail, dma.fail_cmd, sm.fail_cmd)))))]
        return m
