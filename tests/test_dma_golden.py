"""golden/dma.py against hand-computed bursts, causes, words and timings."""

import random

import pytest

from exion.limits import AXI_BOUNDARY
from exion.regmap import Cause
from golden import dma as G

D = G.Descriptor


def test_bursts_by_hand():
    # 32-byte bus: a row of 100 bytes is 4 words; rows 0x1000 apart.
    assert G.bursts(D(0x1000, 100, 2, 0x1000), 32) == [(0x1000, 4), (0x2000, 4)]
    # A row crossing 4 KB splits at the boundary.
    assert G.bursts(D(0x0FC0, 160, 1, 0), 32) == [(0x0FC0, 2), (0x1000, 3)]
    # A 4-byte bus: 256 beats at most, then the 4 KB boundary.
    assert G.bursts(D(0, 4096 + 8, 1, 0), 4) == [(0, 256), (1024, 256), (2048, 256),
                                                 (3072, 256), (4096, 2)]
    assert G.bursts(D(0, 4096, 1, 0), 4, max_burst=100)[:2] == [(0, 100), (400, 100)]
    # One byte is one beat; stride 0 repeats the row.
    assert G.bursts(D(64, 1, 3, 0), 16) == [(64, 1)] * 3
    # Rows without a gap are one run: bursts span rows (and still stop at 4 KB).
    assert G.bursts(D(0x0FE0, 40, 3, 64), 32) == [(0x0FE0, 1), (0x1000, 5)]
    assert G.bursts(D(0x0FE0, 40, 3, 96), 32) == [(0x0FE0, 1), (0x1000, 1), (0x1040, 2),
                                                  (0x10A0, 2)]


@pytest.mark.parametrize("seed", range(20))
def test_bursts_random_properties(seed):
    rng = random.Random(seed)
    bb = rng.choice([4, 8, 16, 32, 64, 128])
    d = D(bb * rng.randrange(1 << 14), rng.randint(1, 20000), rng.randint(1, 5),
          bb * rng.randrange(1 << 10))
    bs = G.bursts(d, bb)
    assert all(1 <= n <= 256 for _a, n in bs)
    assert all(a // AXI_BOUNDARY == (a + n * bb - 1) // AXI_BOUNDARY for a, n in bs)
    assert sum(n for _a, n in bs) == d.rows * G.row_words(d, bb)
    assert G.bytes_read(d, bb) == sum(n for _a, n in bs) * bb


def test_cause():
    reg = (0x1000, 0x2000)
    assert G.cause(D(0x1000, 0, 1, 0), 16, *reg) == Cause.BAD_FIELD
    assert G.cause(D(0x1000, 1, 0, 0), 16, *reg) == Cause.BAD_FIELD
    assert G.cause(D(0x1008, 1, 1, 0), 16, *reg) == Cause.DMA_ALIGN
    assert G.cause(D(0x1000, 1, 2, 8), 16, *reg) == Cause.DMA_ALIGN
    assert G.cause(D(0x0FF0, 1, 1, 0), 16, *reg) == Cause.DMA_REGION
    assert G.cause(D(0x1FF0, 16, 1, 0), 16, *reg) == Cause.NONE
    assert G.cause(D(0x1FF0, 17, 1, 0), 16, *reg) == Cause.DMA_REGION   # a second word
    assert G.cause(D(0x1000, 16, 3, 0x800), 16, *reg) == Cause.DMA_REGION
    assert G.cause(D(0x1000, 16, 2, 0x800), 16, *reg) == Cause.NONE


def test_words_and_write_round_trip():
    mem = bytes(range(256))
    d = D(16, 5, 2, 32)
    words = G.read_words(mem, 0, d, 8)
    assert words == [(int.from_bytes(bytes([16, 17, 18, 19, 20, 0, 0, 0]), "little"), True, False),
                     (int.from_bytes(bytes([48, 49, 50, 51, 52, 0, 0, 0]), "little"), True, True)]
    out = G.write_memory(bytes(256), 0, d, [w for w, _e, _l in words], 8)
    assert out[16:21] == mem[16:21] and out[48:53] == mem[48:53]
    assert sum(out) == sum(mem[16:21]) + sum(mem[48:53])     # nothing else written
    assert G.bytes_written(d) == 10


def test_read_timing_by_hand():
    # Two bursts of 4 beats, latency 5, 4 outstanding: ARs at 4, 5; beats 9..12, 13..16.
    assert G.READ_ISSUE_DELAY == 4
    t = G.read_timing(D(0, 128, 2, 4096), 32, 5, 4)
    assert (t.ar, t.first, t.last, t.cycles) == ([4, 5], [9, 13], [12, 16], 17)
    # One outstanding: the second AR waits for the first burst's last beat (cycle 12).
    t = G.read_timing(D(0, 128, 2, 4096), 32, 5, 1)
    assert (t.ar, t.first, t.last) == ([4, 13], [9, 18], [12, 21])


def test_write_timing_by_hand():
    assert G.WRITE_ISSUE_DELAY == 4
    t = G.write_timing(D(0, 64, 2, 4096), 32, 2, 1)
    # AW 4, W 5..6, B 8; next AW loads at 8 (valid 9), W 10..11, B 13; cycles 15.
    assert (t.aw, t.w_first, t.w_last, t.b, t.cycles) == ([4, 9], [5, 10], [6, 11], [8, 13], 15)
