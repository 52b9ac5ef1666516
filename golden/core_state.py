"""State of the command-level core model (:mod:`golden.core_model`): memories as the RTL holds
them, the status registers, the queue and the stream FIFOs.

Layouts (one array per memory, every buffer of it):

* ``imem[ibuf, bank, word, lane]`` - ``rows`` banks of ``imem_words`` lane vectors;
* ``wmem[wbuf, bank, word, stream, lane]`` - ``cols`` banks, ``merge_degree`` streams;
* ``omem[obuf, bank, word]`` - ``rows`` banks of ``omem_words`` outputs;
* ``mask[channel, row]`` - the mask memory, whole words of ``CAU_BEAT`` channels (the window
  shows the first ``RegisterMap.channels``; a command's ``mhalf`` part starts at channel
  ``exion.regmap.mask_half(channels, mhalf)[0]``);
* ``smem`` - ``schedule_depth`` packed ConMerge vectors (``golden.schedule.pack_block``).

Every memory powers up zero (the RTL's memories have no other initial value); a reset
(:meth:`CoreState.reset`) clears registers, the queue and the streams, not the memories.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from exion.config import ExionConfig
from exion.limits import CAU_BEAT, QUEUE_DEPTH
from exion.regmap import RegisterMap

__all__ = ["Registers", "CoreState", "BeatFifo", "bits_of", "bits_of_rows"]


def bits_of(flags) -> int:
    """A boolean vector as a Python integer, element i at bit i (no int64 overflow at 64)."""
    return sum(1 << int(i) for i in np.flatnonzero(np.asarray(flags)))


def bits_of_rows(flags) -> list[int]:
    """:func:`bits_of` of each row of a 2-D boolean array (at once where a row has at most 63
    elements: exact in int64)."""
    f = np.asarray(flags, bool)
    if f.ndim != 2 or f.shape[1] > 63:
        return [bits_of(r) for r in f]
    return (f.astype(np.int64) @ (np.int64(1) << np.arange(f.shape[1], dtype=np.int64))).tolist()


class BeatFifo:
    """Lane vectors sent on a stream and not yet consumed, kept as the arrays they came in
    (a deque of single beats cost more than the commands' arithmetic on long streams).

    Parameters
    ----------
    lanes : int

    Members
    -------
    lanes : int
    """

    def __init__(self, lanes: int):
        self.lanes = lanes
        self._parts: deque = deque()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def extend(self, beats) -> None:
        """Append ``(n, lanes)`` beats."""
        a = np.asarray(beats, np.int64).reshape(-1, self.lanes)
        if len(a):
            self._parts.append(a)
            self._len += len(a)

    def take(self, n: int) -> np.ndarray:
        """The first ``n`` beats ``(n, lanes)``, removed (``n <= len``)."""
        if n > self._len:
            raise ValueError(f"n = {n} beats asked, {self._len} held")
        got, need = [], n
        while need:
            a = self._parts[0]
            if len(a) <= need:
                got.append(self._parts.popleft())
                need -= len(a)
            else:
                got.append(a[:need])
                self._parts[0] = a[need:]
                need = 0
        self._len -= n
        return (np.concatenate(got) if len(got) != 1 else got[0].copy()) if got else \
            np.zeros((0, self.lanes), np.int64)

    def clear(self) -> None:
        self._parts.clear()
        self._len = 0


@dataclass
class Registers:
    """The status registers (docs/core.md, "Registers"): what the host can read."""

    error: int = 0
    cause: int = 0
    err_cmd: int = 0
    cycles: int = 0
    blocks: int = 0
    blocks_half: list = field(default_factory=lambda: [0, 0])   # BLOCKS_H1, BLOCKS_H2
    sched_cycles: int = 0
    done: int = 0
    dominant: int = 0
    skip_k: int = 0
    skip_v: int = 0
    args: list = field(default_factory=lambda: [0] * 6)
    region_base: int = 0
    region_end: int = 0
    mem_rd_cycles: int = 0
    mem_wr_cycles: int = 0
    smem_ld_cycles: int = 0     # SMEM_LD_CYCLES / SMEM_ST_CYCLES (golden/core_smem.py)
    smem_st_cycles: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    proj_sat: int = 0

    def blocks_of(self, half: int) -> int:
        """The block count a sparse ``GEMM`` of SMEM part ``half`` runs: ``BLOCKS`` (0),
        ``BLOCKS_H1`` (1) or ``BLOCKS_H2`` (2)."""
        return self.blocks if half == 0 else self.blocks_half[half - 1]

    def as_dict(self) -> dict[str, int]:
        """By register name (64-bit pairs split as the RTL shows them)."""
        d = {"CAUSE": self.cause, "ERR_CMD": self.err_cmd, "CYCLES": self.cycles,
             "BLOCKS": self.blocks, "DONE": self.done,
             "BLOCKS_H1": self.blocks_half[0], "BLOCKS_H2": self.blocks_half[1],
             "SCHED_CYCLES": self.sched_cycles, "PROJ_SAT": self.proj_sat}
        for name, v in (("DOMINANT", self.dominant), ("SKIP_K", self.skip_k),
                        ("SKIP_V", self.skip_v)):
            d[f"{name}_LO"], d[f"{name}_HI"] = v & 0xFFFFFFFF, v >> 32
        d.update({f"ARG{i}": a for i, a in enumerate(self.args)})
        d.update({"REGION_BASE": self.region_base, "REGION_END": self.region_end,
                  "MEM_RD_CYCLES": self.mem_rd_cycles, "MEM_WR_CYCLES": self.mem_wr_cycles,
                  "SMEM_LD_CYCLES": self.smem_ld_cycles, "SMEM_ST_CYCLES": self.smem_st_cycles})
        for name, v in (("BYTES_IN", self.bytes_in), ("BYTES_OUT", self.bytes_out)):
            d[f"{name}_LO"], d[f"{name}_HI"] = v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF
        return d


class CoreState:
    """Memories, registers, queue and input streams of one core.

    Parameters
    ----------
    cfg : ExionConfig

    Members
    -------
    imem, wmem, omem : numpy.ndarray of int64 (layouts in the module docstring)
    mask : numpy.ndarray of bool, (mask words * CAU_BEAT, rows)
    smem : list of int ; smem_blocks : list
        Packed vectors and their unpacked :class:`golden.schedule.Block` s (None: never written).
    regs : Registers
    queue : collections.deque of Command
        Accepted commands not yet executed (in order).
    imem_in, wmem_in : BeatFifo
        Lane vectors sent on ``s_axis_imem`` / ``s_axis_wmem`` and not yet consumed.
    out : collections.deque of numpy.ndarray
        ``READ_OMEM`` frames, ``(count, rows)`` each, not yet taken by the host.
    """

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self.cfg = cfg
        self.map = RegisterMap(cfg)
        c = cfg
        self.imem = np.zeros((c.imem_buffers, c.rows, c.words("imem"), c.lanes), np.int64)
        self.wmem = np.zeros((c.wmem_buffers, c.cols, c.words("wmem"), c.merge_degree, c.lanes),
                             np.int64)
        self.omem = np.zeros((c.omem_buffers, c.rows, c.words("omem")), np.int64)
        mask_words = -(-self.map.channels // CAU_BEAT)
        self.mask = np.zeros((mask_words * CAU_BEAT, c.rows), bool)
        self.smem = [0] * c.schedule_depth
        self.smem_blocks = [None] * c.schedule_depth
        self.regs = Registers()
        self.queue: deque = deque()
        self.imem_in = BeatFifo(c.lanes)
        self.wmem_in = BeatFifo(c.lanes)
        self.out: deque = deque()

    def reset(self) -> None:
        """``rst``: registers, queue and engines (streams) reset; memories keep contents."""
        self.regs = Registers()
        self.queue.clear()
        self.imem_in.clear()
        self.wmem_in.clear()
        self.out.clear()

    # -- host windows ----------------------------------------------------------------------
    def mask_cv(self, ch: int) -> int:
        """Conflict vector of mask channel ``ch`` (bit r = row r keeps it)."""
        return bits_of(self.mask[ch])

    def write_mask_cv(self, ch: int, cv: int) -> None:
        """A host write of channel ``ch``'s whole conflict vector through the mask window."""
        if not 0 <= ch < self.map.channels:
            raise ValueError(f"ch = {ch} is out of range [0, {self.map.channels - 1}]")
        self.mask[ch] = [(cv >> r) & 1 for r in range(self.cfg.rows)]

    def status(self) -> dict[str, int]:
        """``STATUS`` (``exion.regmap.STATUS_BITS`` and ``level``) as the model knows it when
        every runnable command has run: then a command still queued is held up by the one at
        the head, a load waiting for its stream data in its engine (``load_busy``); the
        others wait in the queue (``level``; ``queue_full`` at ``QUEUE_DEPTH``)."""
        level = max(len(self.queue) - 1, 0)
        return {"busy": int(bool(self.queue)), "error": self.regs.error,
                "load_busy": int(bool(self.queue)), "exec_busy": 0, "read_busy": 0,
                "queue_full": int(level >= QUEUE_DEPTH), "level": level}
