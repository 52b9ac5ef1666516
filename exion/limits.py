"""Limits and widths shared by the golden model, the RTL and the tools.

Part of the spec layer: imports nothing of the project. A number that both sides of the design
must agree on (a field width of the schedule format, the CAU's beat, the predictor's key and
head-dimension limits) is written here once; ``golden/`` and ``hw/`` import it from here.
"""

from __future__ import annotations

__all__ = ["GROUP_BITS", "CHANNEL_BITS", "CAU_BEAT", "MAX_KEYS", "MAX_HEAD_DIM", "MAX_PROJ_DIM",
           "QUEUE_DEPTH",
           "AXI_MAX_BURST", "AXI_BOUNDARY", "DMA_ADDR_WIDTH", "DMA_ROW_BYTES_BITS",
           "DMA_ROWS_BITS", "DMA_READ_OUTSTANDING", "DMA_WRITE_OUTSTANDING",
           "CORE_WRITE_OUTSTANDING", "CORE_READ_BURST", "GATHER_AHEAD", "CORE_MEM_WAYS",
           "ARBITER_MAX_MASTERS", "ARBITER_W_ORDER_DEPTH"]

#: Schedule format (docs/schedule.md): bits of a block's row-group index and of each slot's
#: channel index. A mask may have at most ``2**GROUP_BITS`` row groups and
#: ``2**CHANNEL_BITS`` channels.
GROUP_BITS = 16
CHANNEL_BITS = 16

#: Channels per CAU input beat (and per mask-memory word).
CAU_BEAT = 8

#: Keys per query row of the eager predictor's keep-mask; query dimension (kc * lanes) limit.
MAX_KEYS = 64
MAX_HEAD_DIM = 72

#: Longest reduction (``kc * lanes``, the hidden size) of a ``PREDICT_PROJ`` (the predicted
#: ``X Wq`` / ``X Wk``): DiT-XL's ``d_model`` (1152; the trained DiT of ``data/`` has 128), the
#: ``k_max`` of ``hw.predictor.DEFAULT_K_MAX``. It sets the predictors' accumulator width
#: (``shift_add_acc_width(MAX_PROJ_DIM, data_width, lod_steps)``: 34 bits at 12-bit data, two
#: steps) and so the largest requantization shift of the command (that width minus one).
MAX_PROJ_DIM = 1152

#: Commands the core's queue holds besides the one each engine is executing.
QUEUE_DEPTH = 4

#: AXI4 master (hw/dma.py, golden/dma.py, docs/dma.md). An INCR burst has at most 256 beats
#: and must not cross a 4 KB address boundary (AMBA AXI4 specification, A3.4.1).
AXI_MAX_BURST = 256
AXI_BOUNDARY = 4096

#: Byte-address bits of the master port; descriptor field widths: row length in bytes (up to
#: 16 MiB - 1) and number of rows (up to 65535).
DMA_ADDR_WIDTH = 32
DMA_ROW_BYTES_BITS = 24
DMA_ROWS_BITS = 16

#: Read bursts in flight at once (issued, last beat not yet received). With bursts of B beats
#: and a memory latency of L cycles the read channel stays busy when
#: ``outstanding * B >= L + B`` (docs/dma.md). Write bursts in flight: 1, so that a write
#: error response arrives before any later burst is issued ("nothing written past the fault").
DMA_READ_OUTSTANDING = 4
DMA_WRITE_OUTSTANDING = 1

#: Write bursts in flight on the core's master port (hw/core_dma.py): 2, so that the W channel
#: carries the next burst's beats while the previous burst's response is on its way (a row
#: run of several 4 KB bursts, an output read, otherwise waits the response latency at every
#: boundary). After a failing burst, the beats of the one burst issued behind it that left
#: before the error response came may have been written (golden.core_mem.write_rows).
CORE_WRITE_OUTSTANDING = 2

#: Beats per read burst at most on the core's master port (hw/core_dma.py): each of its read
#: engines has an R FIFO of ``DMA_READ_OUTSTANDING * CORE_READ_BURST`` words (hw/dma_share.py)
#: so that it never fills; 8 beats keep the FIFO at 32 words and, with 4 bursts in flight,
#: the bus busy up to a memory latency of 24 cycles (``outstanding * B >= L + B``, docs/dma.md).
CORE_READ_BURST = 8

#: Lane vectors a ``MEM`` ``LOAD_IMEM`` writes per cycle, and OMEM addresses a ``MEM``
#: ``READ_OMEM`` with ``PACK`` reads per cycle, at most (hw/core_dma.py; every IMEM and
#: OMEM bank is two RAMs, the even and the odd addresses: hw/mem.py): 2, so that a row group's tokens
#: (16 x 16 core, 24-byte items) load, and its outputs leave, in about half the 256 cycles of
#: its GEMM at a 512-bit port (docs/core.md, "Master port").
CORE_MEM_WAYS = 2

#: Slots the gather engine (hw/core_gather.py) reads from SMEM ahead of the one whose items it
#: writes: its slot FIFO, so that named rows are requested while earlier slots' items are
#: written. With a one-burst row issued every 3 cycles and about 7 cycles from a row's request
#: to its first item (golden.core_gather.gather_cycles), 8 slots cover rows of one lane vector.
GATHER_AHEAD = 8

#: AXI4 arbiter (hw/axi_arbiter.py, docs/axi-arbiter.md): masters on one port at most (the
#: range of the core count, 1..64), and write bursts whose AW was granted and whose W beats
#: have not all passed (the W order FIFO; a full FIFO holds AW grants back).
ARBITER_MAX_MASTERS = 64
ARBITER_W_ORDER_DEPTH = 4
