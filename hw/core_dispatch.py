"""The dispatcher: the queue's head to the engine that runs it, in order, without hazards.

Contract: the head command (:mod:`hw.core_cmd`) goes to its engine's command stream (loads:
``load_i`` / ``load_w``; ``GEMM``: ``exec``; ``SCHEDULE``: ``schedule``; ``PREDICT``:
``predict``; ``READ_OMEM``: ``read``) when that engine is ready and no other engine uses a
buffer the command touches. The decision is registered: the head is offered (its engine's
``valid``) from the cycle after the one it was found clear in, and taken with the engine's
``ready``; no offer is made in the cycle after a take (so, with the host's queue, which shows
the next head the cycle after that, hw/core_host.py, one command every third cycle at most).
The hazards:

* a load waits while the execute or PREDICT engine reads the buffer it would write;
* ``GEMM`` / ``PREDICT`` wait while a load writes their ``ibuf`` / ``wbuf``, a ``GEMM`` while
  the read engine reads its ``obuf``;
* ``READ_OMEM`` waits while a ``GEMM`` still writes its ``obuf``;
* ``SCHEDULE`` and ``PREDICT`` wait until the execute engine is idle, and they and ``GEMM``
  exclude each other (they share SMEM, the mask memory and the IMEM / WMEM read ports);
  except with SMEM halves (``half`` 1 / 2): a split ``SCHEDULE`` waits only while the execute
  engine reads its half (``exec_smem``) or writes the mask-memory half it reads
  (``exec_mask``; ``mhalf`` 0 is both halves), and a ``GEMM`` may start beside a running split
  ``SCHEDULE`` unless it reads that SMEM half (sparse; half 0 reads both) or writes the mask
  half the ``SCHEDULE`` reads (``FFN_MASK``, ``sched_mask``); likewise a split ``SCHEDULE`` and
  a ``PREDICT`` (or ``PREDICT_PROJ``, which writes no mask) run side by side unless the
  ``PREDICT`` writes the mask half the ``SCHEDULE`` reads (``pred_mask``);
* ``PREDICT_PROJ`` (``predict`` too) waits as ``PREDICT`` does and, besides, while a load
  into its destination memory (IMEM; WMEM with ``KEYS``) runs: the two share that memory's
  write port; a load into that memory waits while it runs (``proj_i`` / ``proj_w``), and
  one into its destination buffer while it runs (the engine's ``reads_i`` / ``reads_w``);
* a gather (``LOAD_WMEM`` with ``MEM`` and ``GATHER``, hw/core_gather.py) waits while the
  ``SCHEDULE`` engine writes the SMEM half it names (both for ``half`` 0), and a ``SCHEDULE``
  while a gather reads its half (``gather_smem``);
* ``LOAD_SMEM`` / ``STORE_SMEM`` (``smem``, hw/core_smem.py): a ``LOAD_SMEM`` waits while
  the execute engine or a gather reads the SMEM half it names and while any ``SCHEDULE`` runs
  (the two share SMEM's write port), a ``STORE_SMEM`` while a ``SCHEDULE`` writes its half;
  a sparse ``GEMM`` or a gather waits while a ``LOAD_SMEM`` writes its half, a ``SCHEDULE``
  while a ``LOAD_SMEM`` runs or a ``STORE_SMEM`` reads its half (``smem_writes``,
  ``smem_reads``, ``smem_loading``);
* a CFSE command (``GELU``, ``RESIDUAL``, ``LAYERNORM``, ``SOFTMAX``: ``cfse``) waits until
  every engine but the WMEM loader and the SCHEDULE engine is idle (``others_idle``), and
  every command but ``LOAD_WMEM`` waits while it runs (it uses the OMEM and IMEM ports and the
  mask memory's write port); except that a CFSE command and a split ``SCHEDULE`` run side by
  side unless a ``GELU`` with ``ffn_mask`` writes the mask half the ``SCHEDULE`` reads
  (``cfse_mask`` / ``sched_mask``; the CFSE engine reads the mask through a port of its own, so
  ``SOFTMAX``'s ``key_mask`` never conflicts); a whole-SMEM ``SCHEDULE`` writes ``CYCLES`` as
  a CFSE command does, so the two stay serial.

A sparse ``GEMM`` whose ``wbase + blocks * kc`` runs past WMEM (``blocks`` is final only when
the ``SCHEDULE`` before it has run) is dropped when it would be dispatched, with ``fail``
(cause ``ADDR_RANGE``, its command word), once no ``SCHEDULE`` runs (so that a split
``SCHEDULE`` ahead of it reports its overflow first); the commands after it still run.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exion.config import ExionConfig
from exion.regmap import FLAGS, OPCODES

from .core_cmd import command_fields, command_flag, command_stream

__all__ = ["Dispatcher"]

#: Engine command streams and the opcode each takes.
ENGINES = {"load_i": "LOAD_IMEM", "load_w": "LOAD_WMEM", "exec": "GEMM",
           "schedule": "SCHEDULE", "predict": ("PREDICT", "PREDICT_PROJ"), "read": "READ_OMEM",
           "cfse": ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX"),
           "smem": ("LOAD_SMEM", "STORE_SMEM")}


class Dispatcher(wiring.Component):
    """In-order dispatch with buffer hazards.

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    cmd : In(command_stream())
        The queue's head.
    load_i, load_w, exec, schedule, predict, read, cfse : Out(command_stream())
        One command stream per engine (:data:`ENGINES`).
    writes_i : In(imem_buffers) ; writes_w : In(wmem_buffers)
        Buffers the load engines write.
    reads_i : In(imem_buffers) ; reads_w : In(wmem_buffers)
        Buffers the execute and PREDICT engines read.
    writes_o : In(omem_buffers) ; reads_o : In(omem_buffers)
        OMEM buffers the execute engine writes and the read engine reads.
    exec_idle : In(1)
        The execute engine reads nothing (``SCHEDULE`` and ``PREDICT`` may start).
    others_idle : In(1)
        No engine but the WMEM loader, the SCHEDULE engine (and the CFSE engine) is busy.
    blocks : In(ArrayLayout(range(schedule_depth + 1), 3))
        The block counts of the SMEM parts (``BLOCKS``, ``BLOCKS_H1``, ``BLOCKS_H2``); the
        head's ``half`` picks one (0, 1, else 2).
    sched_writes : In(2) ; exec_smem : In(2) ; exec_mask : In(2)
        SMEM halves the SCHEDULE engine writes and the execute engine reads (bit 0 lower, bit
        1 upper); mask-memory halves the execute engine writes.
    sched_mask : In(2) ; pred_mask : In(2) ; cfse_mask : In(2)
        Mask-memory halves the SCHEDULE engine reads, the PREDICT and the CFSE engine write
        (the writers' flags, ``exec_mask`` too, held a cycle after their last write: the mask
        memory's write is registered in hw/core.py).
    proj_i, proj_w : In(1)
        A ``PREDICT_PROJ`` writes IMEM / WMEM (loads into that memory wait).
    gather_smem : In(2)
        SMEM halves a gather reads.
    smem_writes, smem_reads : In(2) ; smem_loading : In(1)
        SMEM halves a ``LOAD_SMEM`` writes / a ``STORE_SMEM`` reads; a ``LOAD_SMEM`` runs.
    fail : Out(1) ; fail_cmd : Out(32)
        A sparse ``GEMM`` dropped at dispatch (cause ``ADDR_RANGE``).
    """

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._cfg = cfg
        Bi, Bw, Bo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
        super().__init__({
            "cmd": In(command_stream()),
            **{name: Out(command_stream()) for name in ENGINES},
            "writes_i": In(Bi), "writes_w": In(Bw), "reads_i": In(Bi), "reads_w": In(Bw),
            "writes_o": In(Bo), "reads_o": In(Bo), "exec_idle": In(1), "others_idle": In(1),
            "blocks": In(data.ArrayLayout(range(cfg.schedule_depth + 1), 3)),
            "sched_writes": In(2), "exec_smem": In(2), "exec_mask": In(2),
            "sched_mask": In(2), "pred_mask": In(2), "cfse_mask": In(2),
            "proj_i": In(1), "proj_w": In(1),
            "gather_smem": In(2),
            "smem_writes": In(2), "smem_reads": In(2), "smem_loading": In(1),
            "fail": Out(1), "fail_cmd": Out(32),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        head = self.cmd.payload
        f = command_fields(head)
        i_free = ~self.writes_i.bit_select(f["ibuf"], 1)
        w_free = ~self.writes_w.bit_select(f["wbuf"], 1)
        sparse = command_flag(head, "SPARSE")
        halves = Mux(f["half"] == 0, 3, f["half"])      # SMEM halves the head names
        split = f["half"] != 0
        mhalves = Mux(f["mhalf"] == 0, 3, f["mhalf"])    # mask-memory halves the head names
        # a GEMM beside a split SCHEDULE: neither its SMEM half nor its mask half shared
        beside = ((self.sched_writes != 3)
                  & ~(command_flag(head, "FFN_MASK") & (self.sched_mask & mhalves).any())
                  & ~(sparse & (self.sched_writes & halves).any()))
        # a PREDICT beside a split SCHEDULE (and the reverse): no mask half shared (a
        # PREDICT_PROJ writes none); a whole-SMEM SCHEDULE writes CYCLES, so it stays alone
        p_mask = Mux(head.op == OPCODES["PREDICT"], mhalves, 0)
        p_beside = (self.sched_writes != 3) & ~(self.sched_mask & p_mask).any()
        # a CFSE command beside a split SCHEDULE (and the reverse): no mask half shared (only a
        # GELU with ffn_mask writes one)
        c_mask = Mux((head.op == OPCODES["GELU"]) & f["ffn_mask"], mhalves, 0)
        c_beside = (self.sched_writes != 3) & ~(self.sched_mask & c_mask).any()
        # PREDICT_PROJ: its destination memory's loader idle (they share the write port)
        proj_port = ((head.op != OPCODES["PREDICT_PROJ"])
                     | ~Mux(command_flag(head, "KEYS"), self.writes_w.any(), self.writes_i.any()))
        both = (FLAGS["MEM"] | FLAGS["GATHER"]) >> 8
        gather = (head.flags & both) == both
        s_writes = (self.smem_writes & halves).any()     # a LOAD_SMEM writes the head's half
        clear = {       # hazards clear (the engine's own readiness aside)
            "load_i": ~self.reads_i.bit_select(f["ibuf"], 1) & ~self.proj_i,
            "load_w": (~self.reads_w.bit_select(f["wbuf"], 1) & ~self.proj_w
                       & ~(gather & ((self.sched_writes & halves).any() | s_writes))),
            "exec": ((self.schedule.ready | beside) & self.predict.ready & i_free & w_free
                     & ~self.reads_o.bit_select(f["obuf"], 1) & ~(sparse & s_writes)),
            "schedule": (((self.predict.ready & ~self.pred_mask.any())
                          | (split & ~(self.pred_mask & mhalves).any()))
                         & ~(self.gather_smem & halves).any()
                         & Mux(split, ~(self.exec_smem & halves).any()
                               & ~(self.exec_mask & mhalves).any(),
                               self.exec_idle & ~self.exec_mask.any())),
            "predict": ((self.schedule.ready | p_beside) & self.exec_idle & i_free & w_free
                        & proj_port),
            "read": ~self.writes_o.bit_select(f["obuf"], 1),
            "cfse": self.others_idle & (self.schedule.ready | c_beside),
            "smem": Mux(head.op == OPCODES["LOAD_SMEM"],
                        self.schedule.ready & ~(self.exec_smem & halves).any()
                        & ~(self.gather_smem & halves).any(),
                        ~(self.sched_writes & halves).any()),
        }
        clear["schedule"] &= ~self.smem_loading & ~(self.smem_reads & halves).any()
        for name in ("load_i", "exec", "predict", "read"):
            clear[name] = clear[name] & self.cfse.ready
        clear["schedule"] &= ((self.cfse.ready & ~self.cfse_mask.any())
                              | (split & ~(self.cfse_mask & mhalves).any()))
        # The mask memory's write lands a cycle after its writer issues it (hw/core.py), and
        # the writers' flags are held over that cycle: an engine that reads the mask (the
        # SCHEDULE above, the CFSE's SOFTMAX key mask) waits for them, not only for the
        # writer's ready.
        clear["cfse"] &= ~(self.pred_mask | self.exec_mask | self.cfse_mask).any()
        # wbase + blocks * kc > WMEM words as blocks * kc > WMEM words - wbase (exact, signed),
        # for each SMEM part's count, the head's half picking the comparison: the subtraction
        # reads the head alone, beside the multipliers, each multiplier reads a count register
        # (no half multiplexer in front), and one comparison, no adder, follows each product
        # (the FPGA build's timing, docs/fpga.md); the pick is AND-OR, not a multiplexer, which
        # Yosys's resource sharing would turn back into one multiplier behind a multiplexer of
        # the counts. (Products registered a cycle ahead would not be exact: a new head shows
        # the cycle after one without a valid head, and a count changes at the edge its
        # SCHEDULE's SMEM flags clear, so the check can be due in the very cycle a new head or
        # count first shows.)
        late_bad = Signal()
        w_room = Signal(range(-(1 << len(f["wbase"])), cfg.words("wmem") + 1))
        m.d.comb += w_room.eq(cfg.words("wmem") - f["wbase"])
        over = [self.blocks[k] * f["kc"] > w_room for k in range(3)]
        m.d.comb += late_bad.eq((head.op == OPCODES["GEMM"]) & command_flag(head, "SPARSE")
                                & ~command_flag(head, "RESIDENT")   # (its range: at issue)
                                & (((f["half"] == 0) & over[0]) | ((f["half"] == 1) & over[1])
                                   | (f["half"][1] & over[2])))
        # The decision is registered: the head is offered to its engine (``valid`` from a
        # flip-flop) the cycle after it was found clear, so that neither the engines' command
        # registers nor the queue's output register load through the opcode decode, the
        # hazards and the late range check (the FPGA build's critical paths, docs/fpga.md);
        # ``cmd.ready`` is then an offer and its engine's ready. Exact: the offer made from a
        # head that was taken (the cycle after a take, ``took_q``) is void, and without a
        # dispatch no hazard can newly arise (an engine's buffer masks, its busy flags and
        # ``blocks`` change from clear to conflicting only when it takes a command), so what
        # was clear is clear in the offer's cycle. The take itself reaches only ``took_q``
        # (and the queue's register of it, hw/core_host.py), not the offers. A command waits
        # a cycle longer; every counter counts from its engine's take.
        took, took_q = Signal(), Signal()
        m.d.sync += took_q.eq(took)
        taken = []
        for name, op in ENGINES.items():
            port = getattr(self, name)
            ops = (op,) if isinstance(op, str) else op
            want = (self.cmd.valid & Cat(*(head.op == OPCODES[o] for o in ops)).any()
                    & clear[name])
            offer = Signal(name=f"offer_{name}")
            if name == "exec":
                # dropped only once no SCHEDULE runs: a split one beside could still fail
                # (SMEM_OVERFLOW), and the first cause must be the one of program order
                drop_offer = Signal()
                m.d.sync += drop_offer.eq(want & late_bad & self.schedule.ready)
                drop = drop_offer & ~took_q & self.exec.ready
                want = want & ~late_bad
                taken.append(drop)
            m.d.sync += offer.eq(want)
            m.d.comb += [port.payload.eq(head), port.valid.eq(offer & ~took_q)]
            taken.append(port.valid & port.ready)
        m.d.comb += [took.eq(Cat(*taken).any()), self.cmd.ready.eq(took),
                     self.fail.eq(drop),
                     self.fail_cmd.eq(Cat(head.op, head.flags))]
        return m
