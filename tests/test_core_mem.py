"""golden/core_mem.py by hand: descriptors of MEM commands, the memory image, what a bus fault
leaves, the MEM checks at issue, byte counts, and the load timing against golden.dma."""

import numpy as np
import pytest

from exion.config import preset
from exion.limits import CORE_MEM_WAYS, CORE_WRITE_OUTSTANDING
from exion.regmap import CAUSES, encode
from golden import core_mem, cycle_model, dma
from golden.core_checks import Limits, decode, first_failure
from golden.core_model import CoreModel

CFG = preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
             omem_bank_bytes=96, schedule_depth=16, bus_width=32, name="exion")
LIM = Limits.of(CFG)


def test_descriptors():
    assert (LIM.bus_bytes, LIM.lane_bytes, LIM.out_bytes) == (4, 6, 6)   # 4 x 12 bits
    f = dict(count=5, addr=0x100, stride=64, streams=2)
    assert core_mem.mem_descriptor("LOAD_IMEM", f, LIM) == dma.Descriptor(0x100, 30, 4, 64)
    assert core_mem.mem_descriptor("LOAD_WMEM", f, LIM) == dma.Descriptor(0x100, 30, 8, 64)
    assert core_mem.mem_descriptor("READ_OMEM", f, LIM) == dma.Descriptor(0x100, 6, 5, 64)
    with pytest.raises(ValueError, match="GEMM"):
        core_mem.mem_descriptor("GEMM", f, LIM)


def test_checks_at_issue():
    def cause(region, **kw):
        a, w = encode("LOAD_IMEM", flags=("MEM",), buf=0, base=0, count=4, **kw)
        return first_failure(decode([a[f"ARG{i}"] for i in range(6)], w), LIM, region)
    ok = dict(addr=0x1000, stride=24)
    assert cause((0x1000, 0x1060), **ok) is None            # 4 rows of 24 bytes exactly
    assert cause((0x1000, 0x105F), **ok) == "DMA_REGION"
    assert cause((0x1004, 0x2000), **ok) == "DMA_REGION"
    assert cause((0, 1 << 32), addr=0x1002, stride=24) == "DMA_ALIGN"
    assert cause((0, 1 << 32), addr=0x1000, stride=26) == "DMA_ALIGN"
    # the opcode's own checks come first; without MEM the region is not looked at
    a, w = encode("LOAD_IMEM", flags=("MEM",), buf=0, base=0, count=0, addr=3)
    assert first_failure(decode([a[f"ARG{i}"] for i in range(6)], w), LIM) == "BAD_FIELD"
    a, w = encode("LOAD_IMEM", buf=0, base=0, count=4, addr=3)
    assert first_failure(decode([a[f"ARG{i}"] for i in range(6)], w), LIM) is None


def test_items_and_faults():
    port = core_mem.MemPort(bytearray(range(256)) * 4)
    d = dma.Descriptor(0x40, 12, 3, 16)             # 3 rows of two 6-byte items, 3 words each
    items, words, fault = core_mem.load_items(port, d, 4, 6, 2)
    assert (len(items), words, fault) == (6, 9, None)
    assert items[2] == int.from_bytes(bytes(range(0x50, 0x56)), "little")
    port.fault, port.fault_cause = range(0x55, 0x56), "DMA_DECERR"   # row 1, word 1
    items, words, fault = core_mem.load_items(port, d, 4, 6, 2)
    assert (len(items), words, fault) == (2, 4, "DMA_DECERR")   # row 1's 1st item lacks bytes
    port.fault = range(0x58, 0x59)                                    # row 1, word 2
    row1 = int.from_bytes(bytes(range(0x50, 0x56)), "little")          # its 1st item arrived
    assert core_mem.load_items(port, d, 4, 6, 2) == (items + [row1], 5, "DMA_DECERR")


def test_write_rows_stops_after_the_failing_burst():
    port = core_mem.MemPort(bytearray(256))
    d = dma.Descriptor(0x10, 6, 4, 16)                # gapped rows: one 2-beat burst each
    rows = [int.from_bytes(bytes([r + 1] * 6), "little") for r in range(4)]
    assert core_mem.write_rows(port, d, rows, 4) == (24, None)
    assert port.mem[0x20:0x26] == bytes([2] * 6) and port.mem[0x26:0x30] == bytes(10)
    port = core_mem.MemPort(bytearray(256), fault=range(0x24, 0x25))
    sent, fault = core_mem.write_rows(port, d, rows, 4)
    assert (sent, fault) == (12, "DMA_SLVERR")      # rows 0 and 1 sent, row 1's 2nd word fails
    assert port.mem[0x10:0x16] == bytes([1] * 6) and port.mem[0x20:0x24] == bytes([2] * 4)
    assert port.mem[0x24:0x26] == bytes(2) and port.mem[0x30:0x50] == bytes(32)
    # the core's two bursts in flight: row 2's burst may have gone out before the error came
    assert port.maybe == {a: 3 for a in range(0x30, 0x36)}
    port = core_mem.MemPort(bytearray(256), fault=range(0x24, 0x25))
    assert core_mem.write_rows(port, d, rows, 4, outstanding=1) == (12, "DMA_SLVERR")
    assert port.maybe == {} and port.mem[0x30:0x50] == bytes(32)
    port = core_mem.MemPort(bytearray(256), fault=range(0x40, 0x41))    # the last burst fails
    assert core_mem.write_rows(port, d, rows, 4, outstanding=3) == (24, "DMA_SLVERR")
    assert port.maybe == {}


@pytest.mark.parametrize("ib, bb, stride", [(4, 4, 64), (6, 4, 48), (8, 4, 96), (32, 32, 32)])
def test_load_cycles_when_the_bus_never_waits(ib, bb, stride):
    """Items of at least a bus word: the read engine's timing (golden.dma.read_timing) plus
    one cycle to the last item's write, plus the take cycle."""
    d = dma.Descriptor(0x1000, 8 * ib, 4, stride)
    t = dma.read_timing(d, bb, 2, 4)
    assert core_mem.load_cycles(d, bb, ib, 8, 2) == t.last[-1] + 2


def test_load_cycles_of_the_core_engines():
    """The core's loads (mem_load): bursts of at most CORE_READ_BURST beats and one more cycle of
    latency (the R FIFO of hw/dma_share.py). A 20-beat row of 32-byte items on a 32-bit bus: three
    bursts (8, 8, 4) where the plain engine issues one; by hand: first beat at AR (4) +
    latency (2 + 1) = 7, the 20 beats back to back to 26 (the bus never waits), the last item
    written the cycle after (27), cycles 0..27 counted: 28."""
    from exion.limits import CORE_READ_BURST
    assert CORE_READ_BURST == 8 and core_mem.READ_FIFO_DELAY == 1
    d = dma.Descriptor(0x1000, 80, 1, 80)
    assert [b for _a, b in dma.bursts(d, 4, CORE_READ_BURST)] == [8, 8, 4]
    assert core_mem.load_cycles(d, 4, 4, 20, 3, max_burst=CORE_READ_BURST) == 28
    m = CoreModel(CFG)
    m.port = core_mem.MemPort(bytearray(1 << 14))
    m.write("REGION_BASE", 0)
    m.write("REGION_END", 1 << 14)
    a, w = encode("LOAD_IMEM", flags=("MEM",), buf=0, base=0, count=4, addr=0x100, stride=24)
    assert m.issue(a, w) == 0
    m.run()
    d = core_mem.mem_descriptor("LOAD_IMEM", dict(count=4, addr=0x100, stride=24), LIM)
    assert m.regs.mem_rd_cycles == core_mem.load_cycles(d, 4, 6, 4, 3, max_burst=8,
                                                        ways=CORE_MEM_WAYS)


def test_load_cycles_item_bound():
    """Items smaller than a word: one item a cycle from the first word on (two a cycle with
    ways = 2, an IMEM load: 12 bytes a cycle, still under the bus's 32)."""
    d = dma.Descriptor(0x1000, 16 * 6, 4, 96)          # 3 words of 32 bytes per row, no gap
    assert core_mem.load_cycles(d, 32, 6, 16, 2) == 6 + 1 + 64
    assert core_mem.load_cycles(d, 32, 6, 16, 2, ways=2) == 6 + 1 + 32


@pytest.mark.parametrize("bb", [4, 32, 64, 128])
@pytest.mark.parametrize("ob, count, gap", [(6, 1, 0), (6, 9, 1), (24, 256, 0), (3, 40, 3)])
def test_read_cycles_one_beat_a_row_is_write_timing(bb, ob, count, gap):
    """Without PACK the read engine (a beat a cycle) and the packer never hold the write engine
    up: golden.dma.write_timing's cycles."""
    d = dma.Descriptor(0x1000, ob, count, (-(-ob // bb) + gap) * bb)
    want = dma.write_timing(d, bb, 2, CORE_WRITE_OUTSTANDING).cycles
    assert core_mem.read_cycles(d, bb, 2) == want


def test_read_cycles_packed():
    """PACK, four 24-byte beats on a 32-byte bus, two a cycle: taken at 2 (48 bytes) and 4 (the
    packer holds more than a word at 3); the write engine's first W beat may go at
    WRITE_ISSUE_DELAY + 1, its three words leave back to back, B two cycles after the last,
    done the cycle after, both ends counted."""
    d = dma.Descriptor(0x1000, 96, 1, 0)
    assert core_mem.read_cycles(d, 32, 2, 24, 4, 2) == dma.WRITE_ISSUE_DELAY + 1 + 2 + 2 + 2
    # 256 beats of 24 bytes at 512 bits: the beats' 48 bytes a cycle bind (96 words)
    assert core_mem.read_cycles(dma.Descriptor(0, 256 * 24, 1, 0), 64, 2, 24, 256, 2) < 140


def test_packed_read_image():
    """READ_OMEM with MEM and PACK: one row of count beats back to back from addr, the same
    bytes counted; out_frame(pack=True) reads them back."""
    f = dict(count=5, addr=0x800, stride=0, pack=1)
    d = core_mem.mem_descriptor("READ_OMEM", f, LIM)
    assert d == dma.Descriptor(0x800, 5 * 6, 1, 0)
    m = CoreModel(CFG)
    m.port = core_mem.MemPort(bytearray(1 << 14))
    m.write("REGION_BASE", 0)
    m.write("REGION_END", 1 << 14)
    rng = np.random.default_rng(5)
    m.state.omem[0] = rng.integers(CFG.data_min, CFG.data_max + 1, m.state.omem[0].shape)
    a, w = encode("READ_OMEM", flags=("MEM", "PACK"), buf=0, base=0, count=5, addr=0x800)
    assert m.issue(a, w) == 0
    m.run()
    frame = m.state.omem[0, :, 0:5].T
    assert core_mem.out_frame(m.port.mem, d, CFG.rows, CFG.data_width, pack=True) == \
        frame.tolist()
    assert m.regs.bytes_out == 30 and m.regs.mem_wr_cycles == core_mem.read_cycles(
        d, 4, 2, 6, 5, CORE_MEM_WAYS)


def test_model_bytes_and_stream_bytes_agree():
    m = CoreModel(CFG)
    m.port = core_mem.MemPort(bytearray(1 << 14))
    m.write("REGION_BASE", 0)
    m.write("REGION_END", 1 << 14)
    cmds = [("LOAD_IMEM", dict(count=3, addr=0x100, stride=20)),
            ("LOAD_WMEM", dict(count=2, addr=0x400, stride=12, streams=1)),
            ("READ_OMEM", dict(count=5, addr=0x800, stride=8))]
    for op, f in cmds:
        a, w = encode(op, flags=("MEM",), buf=0, base=0, **f)
        assert m.issue(a, w) == 0
        m.run()
    assert m.regs.error == 0 and m.regs.done == 3
    want = cycle_model.stream_bytes([(op, dict(f, mem=1)) for op, f in cmds], CFG)
    assert (m.regs.bytes_in, m.regs.bytes_out) == want == (4 * 20 + 4 * 12, 5 * 6)
    assert m.regs.mem_wr_cycles == core_mem.read_cycles(dma.Descriptor(0x800, 6, 5, 8), 4, 2)
    a, w = encode("READ_OMEM", flags=("MEM",), buf=0, base=0, count=1, addr=0x4000 - 4)
    assert m.issue(a, w) == CAUSES["DMA_REGION"]
