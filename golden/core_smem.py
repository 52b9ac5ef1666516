"""``LOAD_SMEM`` / ``STORE_SMEM`` at the golden level (hw/core_smem.py): schedule reuse.

FFN-Reuse keeps one FC1 keep-mask for the sparse iterations after a dense one, so the
ConMerge vectors of each row group never change between them. The host schedules a group once
(``SCHEDULE``) and keeps its SMEM contents in memory (``STORE_SMEM``); each sparse iteration
reloads them (``LOAD_SMEM``) instead of running the CAU again (docs/core.md, "Schedule reuse").

Memory layout: block ``b`` of a transfer at ``addr + b * block_words * B`` (``B =
bus_width / 8``), as ``block_words = ceil(block_bits / bus_width)`` whole bus words holding the
packed block (:func:`golden.schedule.pack_block`, little-endian; the bits above ``block_bits``
are written as zero and ignored on a load). One descriptor (:func:`smem_descriptor`): ``rows``
= blocks, ``row_bytes = stride = block_words * B`` (one run: its bursts span blocks).

* ``LOAD_SMEM``: ``count`` blocks into the SMEM part ``half`` names
  (:func:`exion.regmap.smem_half`), its block count (``BLOCKS`` / ``BLOCKS_H1`` / ``BLOCKS_H2``)
  set to ``count``. A bus fault: the blocks whose words all arrived are written and the count is
  theirs (as :func:`golden.core_mem.load_items` cuts items).
* ``STORE_SMEM``: the part's blocks (its block count of them) to memory. The descriptor is known
  only when the command runs (its count), so the write engine's own check
  (:func:`golden.dma.cause`) refuses an empty part (``BAD_FIELD``) or a block outside the region
  (``DMA_REGION``) then: a run-time fault, nothing moved.

Cycles (``SMEM_LD_CYCLES`` / ``SMEM_ST_CYCLES``, from the cycle the engine takes the command to
its ``done``, both counted) with a memory that never pauses: the engine takes every read word at
once and has every write word ready, so they are :func:`golden.dma.read_timing` (the core's read
burst, the R FIFO's cycle added to the latency) and :func:`golden.dma.write_timing`
(``CORE_WRITE_OUTSTANDING`` bursts in flight) of the descriptor.
"""

from __future__ import annotations

from exion.config import ExionConfig
from exion.formats import block_bits, block_words
from exion.limits import CORE_READ_BURST, CORE_WRITE_OUTSTANDING, DMA_READ_OUTSTANDING
from exion.regmap import Cause, smem_half

from . import dma
from .core_mem import READ_FIFO_DELAY, load_items, write_rows

__all__ = ["block_words", "smem_descriptor", "load_smem_cycles", "store_smem_cycles",
           "smem_image", "load_smem", "store_smem"]


def smem_descriptor(cfg: ExionConfig, addr: int, blocks: int) -> dma.Descriptor:
    """The transfer of ``blocks`` blocks at byte address ``addr``."""
    n = block_words(cfg) * cfg.bus_bytes
    return dma.Descriptor(addr, n, blocks, n)


def load_smem_cycles(cfg: ExionConfig, count: int, read_latency: int = 2,
                     addr: int = 0) -> int:
    """Cycles of a ``LOAD_SMEM`` of ``count`` blocks (``SMEM_LD_CYCLES``) from ``addr`` with a
    memory of read latency ``read_latency`` (AxiRam: 2) that never pauses; the core's other
    master-port users idle. The block layout makes it a read of ``count * block_words`` bus words
    at one word a cycle after the first burst's latency."""
    if count < 1:
        raise ValueError(f"count = {count!r} is out of range [1, schedule_depth]")
    desc = smem_descriptor(cfg, addr, count)
    return dma.read_timing(desc, cfg.bus_bytes, read_latency + READ_FIFO_DELAY,
                           DMA_READ_OUTSTANDING, CORE_READ_BURST).cycles


def store_smem_cycles(cfg: ExionConfig, count: int, b_latency: int = 2, addr: int = 0) -> int:
    """Cycles of a ``STORE_SMEM`` of ``count`` blocks (``SMEM_ST_CYCLES``) to ``addr`` with a
    memory that answers B ``b_latency`` cycles after a burst's last W beat (AxiRam: 2)."""
    if count < 1:
        raise ValueError(f"count = {count!r} is out of range [1, schedule_depth]")
    desc = smem_descriptor(cfg, addr, count)
    return dma.write_timing(desc, cfg.bus_bytes, b_latency, CORE_WRITE_OUTSTANDING).cycles


def smem_image(cfg: ExionConfig, words) -> bytes:
    """The memory image of packed blocks ``words`` (:func:`golden.schedule.pack_block`)."""
    n = block_words(cfg) * cfg.bus_bytes
    return b"".join(int(w).to_bytes(n, "little") for w in words)


def _part(model, half: int) -> int:
    return smem_half(model.cfg.schedule_depth, half)[0]


def _set_blocks(regs, half: int, n: int) -> None:
    if half == 0:
        regs.blocks = n
    else:
        regs.blocks_half[half - 1] = n


def load_smem(model, c, beats=None):
    """``LOAD_SMEM`` on a :class:`golden.core_model.CoreModel` (its opcode-table row)."""
    st, cfg, bb = model.state, model.cfg, model.cfg.bus_bytes
    desc = smem_descriptor(cfg, c.addr, c.count)
    items, words, fault = load_items(model.port, desc, bb, desc.row_bytes, 1)
    st.regs.bytes_in += words * bb
    first, keep = _part(model, c.half), (1 << block_bits(cfg)) - 1
    for i, v in enumerate(items):
        st.smem[first + i] = v & keep
        st.smem_blocks[first + i] = None        # unpacked again when read
    _set_blocks(st.regs, c.half, len(items))
    if fault is None:
        st.regs.smem_ld_cycles = load_smem_cycles(cfg, c.count, model.port.read_latency,
                                                  c.addr)
    model._mem_fault(c, fault)


def store_smem(model, c, beats=None):
    """``STORE_SMEM`` on a :class:`golden.core_model.CoreModel` (its opcode-table row)."""
    st, cfg, bb = model.state, model.cfg, model.cfg.bus_bytes
    n = st.regs.blocks_of(c.half)
    desc = smem_descriptor(cfg, c.addr, n)
    bad = dma.cause(desc, bb, st.regs.region_base, st.regs.region_end)
    if bad != Cause.NONE:
        model._mem_fault(c, bad.name)
        return
    first = _part(model, c.half)
    sent, fault = write_rows(model.port, desc, st.smem[first:first + n], bb)
    st.regs.bytes_out += sent
    if fault is None:
        st.regs.smem_st_cycles = store_smem_cycles(cfg, n, model.port.b_latency, c.addr)
    model._mem_fault(c, fault)
