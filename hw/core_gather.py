"""The gather engine: a sparse GEMM's weights fetched by the ConMerge vectors in SMEM.

``LOAD_WMEM`` with ``MEM`` and ``GATHER`` (docs/core.md, "Gather") fills WMEM buffer ``wbuf``
from word ``base`` with the layout a sparse ``GEMM`` of the same SMEM part reads
(``golden.sdue.wmem_image``): the weight matrix lies in memory channel-major, channel ``n``'s
row of ``count`` (= ``kc``) lane vectors at ``addr + n * stride``, and only the rows the
vectors name are read. It sits on the dispatcher's ``load_w`` stream, before the master-port
engine:

::

    dispatcher ─load_w─> CoreGather ─cmd_out─> CoreDma ─load_w─> LoadEngine (WMEM)
                          │ SMEM read port: slot (bank c, stream d) of block b
                          │ desc ─> CoreDma's read engine and unpacker (one row each)
                          └ item <─ those rows' items, or zero vectors ─> the load engine

Contract:

* Other commands pass unchanged. A gather is taken when the master port's read side is free
  (``free``) and ``cmd_out`` is ready (the load engine idle), and no earlier than the second
  cycle after it is first valid at ``cmd_in``: its size ``count * blocks`` and the range check
  ``base + count * blocks > Dw`` are registered one after the other in those two cycles (they
  overlap any wait for the master port; ``cycles`` counts from the take). In that cycle it goes on as a
  plain ``LOAD_WMEM`` of ``count * blocks`` words per bank and stream, all ``merge_degree``
  streams (``MEM`` and ``GATHER`` cleared), whose items this engine then supplies: bank by
  bank, stream by stream, block by block, as the load engine writes. ``blocks`` is the
  vector count of the SMEM part ``half`` names (``BLOCKS``, ``BLOCKS_H1`` / ``BLOCKS_H2``).
* With ``RESIDENT`` the vectors are not SMEM's but the identity window of ``n_ch`` channels
  (``golden.core_gather.resident_blocks``): ``blocks`` = ``ceil(n_ch / (cols *
  merge_degree))``, slot ``(c, d)`` of block ``q`` names channel ``q * cols * merge_degree +
  d * cols + c`` while it is below ``n_ch`` (a counter product, no SMEM read), which writes
  the resident layout a ``GEMM`` with ``SPARSE | RESIDENT`` reads (``golden.sdue.
  resident_wmem_image``); SMEM is not read (``smem_reads`` stays 0).
* Issue side: from the cycle after the take, one slot a cycle in write order into the issue
  register (the slot's SMEM word is read two cycles before and its entry picked into a
  pre-stage the cycle before, the first slot's while the take waits for its size check; the
  register holds its row offset ``n * stride``, so that the SMEM read, the pick, the product
  and the sum into the read engine's descriptor register are not one path), while the
  register is empty or its slot leaves in that cycle. From the register, while the slot FIFO holds fewer than
  ``GATHER_AHEAD`` (exion/limits.py) slots, a slot naming channel ``n`` is one descriptor
  (base ``addr + n * stride``, one row of ``count`` items; an address past 32 bits becomes the
  last bus word, which no region holds) and enters the FIFO when ``CoreDma``'s read engine
  takes it; an unused slot enters at once. Rows are thus requested while earlier slots' items are still
  written (the read engine takes a descriptor while the previous one's data arrives).
* Write side: the FIFO's head slot, ``count`` items one a cycle: the row's items from
  ``dma_item`` (the unpacker, started once with the first row: every row has ``count``
  items), or zeros. Slots follow each other without a gap.
* ``blocks`` = 0: done at once (``done``, ``cycles`` 1), nothing written. ``base + count *
  blocks`` past WMEM: ``fail`` with ``ADDR_RANGE`` at once, nothing written.
* A master-port fault (a row outside the region, ``SLVERR`` / ``DECERR``): ``CoreDma``
  raises ``abort`` once the read engine is idle, the items whose bytes arrived are written and
  the head slot (``head``) is a named one, i.e. the faulting row: every slot before it is
  written, none after (rows requested past the fault deliver nothing: the read engine refuses
  or drops them). The gather ends, and ``lw_abort`` ends the load engine's command.
* ``cycles`` (with ``cycles_we``): from the take (counted 1) to the load engine's ``done``,
  ``golden.core_gather.gather_cycles`` with a memory that never pauses.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.limits import CHANNEL_BITS, DMA_ADDR_WIDTH, GATHER_AHEAD, GROUP_BITS
from exion.regmap import FLAGS, OPCODES, smem_half
from exion.formats import block_bits

from .core_cmd import command_fields, command_stream

__all__ = ["CoreGather"]


class CoreGather(wiring.Component):
    """``LOAD_WMEM`` ``MEM | GATHER``: WMEM from the rows the SMEM vectors name (module
    docstring).

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    cmd_in : In(command_stream()) ; cmd_out : Out(command_stream())
        ``LOAD_WMEM`` commands from the dispatcher, and on to ``CoreDma`` / the load engine.
    blocks : In(range(schedule_depth + 1))
        Vectors in the SMEM part the head of ``cmd_in`` names.
    smem_addr : Out(range(schedule_depth)) ; smem_data : In(block_bits(cfg))
        A read port of SMEM (data one cycle after the address).
    free : In(1)
        The master port's read engine is free (no ``MEM`` load runs).
    desc_valid : Out(1) ; desc_ready : In(1) ; desc_base : Out(32) ; desc_items : Out(16)
        One row of ``desc_items`` items at ``desc_base`` (``CoreDma``'s gather hook).
    desc_first : Out(1)
        The descriptor is the gather's first row (``CoreDma`` starts the unpacker with it).
    dma_item : In(stream.Signature(lanes * data_width))
        The rows' items, from ``CoreDma``'s unpacker.
    item : Out(stream.Signature(lanes * data_width))
        To the load engine's stream input while ``busy``.
    abort : In(1)
        A master-port fault ended the gather (``CoreDma``).
    head : Out(1)
        The slot being written is a named row (a fault may end the gather now).
    busy : Out(1) ; word : Out(32)
        A gather runs; its opcode and flags (``CoreDma`` reports faults with it).
    lw_done : In(1) ; lw_abort : Out(1)
        The load engine's ``done``; end its command after a fault.
    smem_reads : Out(2)
        SMEM halves read (bit 0 lower, 1 upper): a ``SCHEDULE`` into them waits.
    done : Out(1)
        A gather of no block finished (others finish with the load engine's ``done``).
    fail : Out(1) ; fail_cmd : Out(32)
        ``ADDR_RANGE``: ``base + count * blocks`` past WMEM.
    cycles : Out(32) ; cycles_we : Out(1)
        ``MEM_RD_CYCLES`` of the gather just finished.
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "dma"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        width = cfg.lanes * cfg.data_width
        super().__init__({
            "cmd_in": In(command_stream()), "cmd_out": Out(command_stream()),
            "blocks": In(range(cfg.schedule_depth + 1)),
            "smem_addr": Out(range(cfg.schedule_depth)), "smem_data": In(block_bits(cfg)),
            "free": In(1), "desc_valid": Out(1), "desc_ready": In(1),
            "desc_base": Out(DMA_ADDR_WIDTH), "desc_items": Out(16), "desc_first": Out(1),
            "dma_item": In(stream.Signature(width)), "item": Out(stream.Signature(width)),
            "abort": In(1), "head": Out(1), "busy": Out(1), "word": Out(32),
            "lw_done": In(1), "lw_abort": Out(1), "smem_reads": Out(2),
            "done": Out(1), "fail": Out(1), "fail_cmd": Out(32),
            "cycles": Out(32), "cycles_we": Out(1),
        })

    @property
    def cfg(self) -> ExionConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        C, D, S = cfg.cols, cfg.merge_degree, cfg.schedule_depth
        bb = cfg.bus_bytes
        src, dst = self.cmd_in, self.cmd_out
        f = command_fields(src.payload)
        both = (FLAGS["MEM"] | FLAGS["GATHER"]) >> 8
        is_g = (src.payload.op == OPCODES["LOAD_WMEM"]) & ((src.payload.flags & both) == both)
        # RESIDENT: the identity window of n_ch channels (golden.core_gather.resident_blocks):
        # block q names channel q * C * D + d * C + c in slot (c, d) while it is below n_ch
        res = (src.payload.flags & (FLAGS["RESIDENT"] >> 8)) != 0
        Dw = cfg.words("wmem")
        nb = Signal(range(max(S, Dw + 1) + 1))  # blocks; Dw + 1: past WMEM whatever count
        n_cls = (f["n_ch"] + (C * D - 1)) // (C * D)
        m.d.comb += nb.eq(Mux(res, Mux(n_cls > Dw, Dw + 1, n_cls), self.blocks))

        # -- take: the plain LOAD_WMEM the load engine runs, or done / ADDR_RANGE at once ------
        # The size check runs in two registered stages ahead of the take, the product the
        # first cycle and its range check the next, so that neither is one path with the take
        # and the master port's command logic. The head that was a gather in both cycles
        # before (and not taken) is the same command; ``nb == c_nb`` guards against its block
        # count changing meanwhile.
        words, over, empty = Signal(34), Signal(), Signal()
        chk1, chk2, c_nb = Signal(), Signal(), Signal.like(nb)
        take = Signal()
        p0, p1 = Signal(), Signal()         # (below) the head's first slot read / held
        m.d.sync += [words.eq(f["count"] * nb), c_nb.eq(nb),
                     chk1.eq(src.valid & is_g & ~take),
                     chk2.eq(src.valid & is_g & ~take & chk1 & (nb == c_nb) & (p0 | p1)),
                     over.eq(f["base"] + words > Dw), empty.eq(c_nb == 0)]
        m.d.comb += take.eq(src.valid & is_g & chk2 & (nb == c_nb) & ~self.busy & self.free
                            & dst.ready)
        m.d.comb += [
            dst.payload.eq(src.payload),
            dst.valid.eq(src.valid & ~is_g),
            src.ready.eq(Mux(is_g, take, dst.ready)),
        ]
        with m.If(is_g):
            m.d.comb += [
                dst.valid.eq(take & ~empty & ~over),
                dst.payload.flags.eq(src.payload.flags & ~both),
                dst.payload.a0.eq(Cat(f["base"], words[:16])),
                dst.payload.a2.eq(src.payload.a2 & ~(0xF << 12)),     # streams: all
            ]
        word = Cat(src.payload.op, src.payload.flags)
        m.d.comb += [self.fail.eq(take & over), self.fail_cmd.eq(word),
                     self.done.eq(take & empty & ~over)]

        # -- issue side: slot (c, d, b) whose SMEM word is on smem_data ------------------------
        first = Signal(range(S))
        n_blk = Signal.like(nb)
        addr, stride, count = Signal(32), Signal(32), Signal(16)
        c, d, b = Signal(range(C)), Signal(range(D)), Signal.like(nb)
        c_res, c_nch = Signal(), Signal(16)
        pre_v = Signal()                    # the pre-stage holds a slot
        pdone = Signal()                    # every slot entered the pre-stage
        started = Signal()                  # a row was requested (the unpacker started)
        halves = Signal(2)
        cyc = Signal(32)
        lo, _ = smem_half(S, 1)
        hi, _ = smem_half(S, 2)
        with m.If(take & ~empty & ~over):
            m.d.sync += self.busy.eq(1)
        # the gather's context, loaded in every idle cycle (so in the take's): its enable is a
        # register, not the take's handshake (the FPGA build's timing, docs/fpga.md); none of
        # these is read while idle
        # (c, d, b) starts at the second slot: the first is in the pre-stage at the take
        one = nb == 1
        with m.If(~self.busy):
            m.d.sync += [first.eq(Mux(f["half"] == 2, hi, lo)),
                         n_blk.eq(nb), c_res.eq(res), c_nch.eq(f["n_ch"]),
                         addr.eq(f["addr"]), stride.eq(f["stride"]),
                         count.eq(f["count"]), b.eq(Mux(one, 0, 1)),
                         d.eq(Mux(one, 1, 0) if D > 1 else 0),
                         c.eq(Mux(one, 1, 0) if D == 1 and C > 1 else 0),
                         pre_v.eq(1), pdone.eq(one if C * D == 1 else 0),
                         started.eq(0), cyc.eq(1), self.word.eq(word),
                         halves.eq(Mux(f["half"] == 0, 3, f["half"]))]
        m.d.comb += self.smem_reads.eq(Mux(self.busy & ~c_res, halves, 0))

        # the slot FIFO: kinds (1: named) of the slots issued and not yet written
        kinds = Signal(GATHER_AHEAD)
        q_head, q_tail = Signal(range(GATHER_AHEAD)), Signal(range(GATHER_AHEAD))
        level = Signal(range(GATHER_AHEAD + 1))
        q_full, q_rdy, q_kind = Signal(), Signal(), Signal()
        push, pop = Signal(), Signal()
        m.d.comb += [q_full.eq(level == GATHER_AHEAD), q_rdy.eq(level != 0),
                     q_kind.eq(kinds.bit_select(q_head, 1))]

        # the slot's entry: valid and channel of slot (c, d) of the word read
        ent = 1 + CHANNEL_BITS
        slot = Signal(ent)
        entries = [self.smem_data[GROUP_BITS + i * ent:GROUP_BITS + (i + 1) * ent]
                   for i in range(C * D)]
        r_ch = Signal(len(b) + (C * D).bit_length())
        m.d.comb += [r_ch.eq(b * (C * D) + d * C + c),
                     slot.eq(Mux(c_res, Cat(r_ch < c_nch, r_ch[:CHANNEL_BITS]),
                                 Cat(*entries).word_select(c * D + d, ent)))]
        used, ch = slot[0], slot[1:]
        # The pre-stage holds the next slot's entry, picked from its SMEM word, and the issue
        # register that slot's row offset: the SMEM read, the pick and the product are not one
        # path (docs/fpga.md). The pre-stage takes the head's first slot before the take,
        # while the port is free (``pfree``: idle, or every slot of the gather that runs has
        # left the pre-stage): ``p0`` the word read in the cycle before was the head's first,
        # ``p1`` the pre-stage holds its slot and the port reads the second slot's word (the
        # take waits for it, ``chk2``; it comes no later than the two checks, so no cycle is
        # added), then from the take one slot a cycle as before.
        pre_used, pre_ch = Signal(), Signal(CHANNEL_BITS)
        pfree = Signal()
        head_first = Mux(f["half"] == 2, hi, lo)
        m.d.comb += pfree.eq(~self.busy | (pdone & ~pre_v))
        m.d.sync += [p0.eq(pfree & src.valid & is_g & ~take & ~p1),
                     p1.eq(pfree & src.valid & is_g & ~take & (p0 | p1))]
        with m.If(p0):
            m.d.sync += [pre_used.eq(Mux(res, f["n_ch"] != 0, entries[0][0])),
                         pre_ch.eq(Mux(res, 0, entries[0][1:]))]
        # the issue register: the pre-stage's slot, its row offset registered
        s_valid, s_used = Signal(), Signal()
        s_off = Signal(DMA_ADDR_WIDTH + CHANNEL_BITS)
        fill = Signal()
        load = Signal()                     # the pre-stage takes slot (c, d, b)
        full = Signal(DMA_ADDR_WIDTH + CHANNEL_BITS + 1)
        m.d.comb += full.eq(addr + s_off)
        issuing = Signal()
        m.d.comb += [issuing.eq(self.busy & s_valid & ~q_full),
                     fill.eq(self.busy & pre_v & (~s_valid | push)),
                     load.eq(fill & ~pdone)]
        with m.If(fill):
            m.d.sync += [s_valid.eq(1), s_used.eq(pre_used), s_off.eq(pre_ch * stride)]
        with m.Elif(push):
            m.d.sync += s_valid.eq(0)
        with m.If(load):
            m.d.sync += [pre_used.eq(used), pre_ch.eq(ch)]
        with m.Elif(fill):
            m.d.sync += pre_v.eq(0)
        # past 32 bits: the last bus word, outside every region (REGION_END has 32 bits)
        m.d.comb += [self.desc_base.eq(Mux(full >> DMA_ADDR_WIDTH != 0,
                                           (1 << DMA_ADDR_WIDTH) - bb, full)),
                     self.desc_items.eq(count), self.desc_first.eq(~started),
                     self.desc_valid.eq(issuing & s_used),
                     push.eq(issuing & (~s_used | self.desc_ready))]
        last_b, last_d, last_c = b == n_blk - 1, d == D - 1, c == C - 1
        with m.If(push):
            m.d.sync += [kinds.bit_select(q_tail, 1).eq(s_used),
                         q_tail.eq(Mux(q_tail == GATHER_AHEAD - 1, 0, q_tail + 1))]
            with m.If(s_used):
                m.d.sync += started.eq(1)
        with m.If(load):
            m.d.sync += b.eq(Mux(last_b, 0, b + 1))
            with m.If(last_b):
                m.d.sync += d.eq(Mux(last_d, 0, d + 1))
                with m.If(last_d):
                    m.d.sync += c.eq(c + 1)
                    with m.If(last_c):
                        m.d.sync += pdone.eq(1)
        # the next slot's word is read in the cycle this one enters the pre-stage (the second
        # slot's in the take cycle, the head's first while the pre-stage waits for it)
        m.d.comb += self.smem_addr.eq(Mux(pfree, head_first + Mux(p1 & (nb > 1), 1, 0),
                                          first + Mux(load & ~last_b, b + 1,
                                                      Mux(load, 0, b))))

        # -- write side: the head slot's items, the row's from the master port or zeros -------
        o_cnt = Signal(16)
        h = Signal()
        m.d.comb += [self.item.payload.eq(Mux(q_kind, self.dma_item.payload, 0)),
                     self.item.valid.eq(self.busy & q_rdy & (~q_kind | self.dma_item.valid)),
                     self.dma_item.ready.eq(self.busy & q_rdy & q_kind & self.item.ready),
                     h.eq(self.item.valid & self.item.ready),
                     pop.eq(h & (o_cnt == count - 1)),
                     self.head.eq(self.busy & q_rdy & q_kind)]
        with m.If(h):
            m.d.sync += o_cnt.eq(Mux(pop, 0, o_cnt + 1))
        with m.If(pop):
            m.d.sync += q_head.eq(Mux(q_head == GATHER_AHEAD - 1, 0, q_head + 1))
        m.d.sync += level.eq(level + push - pop)

        with m.If(self.busy):
            m.d.sync += cyc.eq(cyc + 1)
            with m.If(self.lw_done | self.abort):
                # (the FIFO emptied for the next gather)
                m.d.sync += [self.busy.eq(0), level.eq(0), q_head.eq(0), q_tail.eq(0),
                             o_cnt.eq(0), s_valid.eq(0)]
        m.d.comb += [self.lw_abort.eq(self.abort & self.busy),
                     self.cycles_we.eq((self.busy & self.lw_done) | self.done),
                     # (1 where idle: a gather of no block; the take is not in the value)
                     self.cycles.eq(Mux(self.busy, cyc + 1, 1))]
        return m
