"""cocotb bench of the AXI4 master (hw/dma.py, top ``dma``) against cocotbext-axi's ``AxiRam``.

Every check compares with :mod:`golden.dma`: the words a read delivers, the memory after a
write, the bursts on AR and AW, the byte counters and, with a fixed-latency memory and no
pauses, the cycle of every handshake. Random pauses: AxiRam's channel pause generators (AR, R,
AW, W, B) and the descriptor and data streams (``rd_cmd``, ``wr_cmd``, ``wr`` sources, ``rd``
sink). The harness (memory, delay line, logs) is sim/dma_harness.py.
"""

from __future__ import annotations

import json
import os
import random

import cocotb

from exion.limits import DMA_READ_OUTSTANDING, DMA_WRITE_OUTSTANDING
from exion.regmap import Cause
from golden import dma as G
from sim.dma_harness import (MEM_SIZE, RAM_B_LATENCY, RAM_READ_LATENCY, REGION, Bench,
                             PayloadTransaction, check_reads, check_write, fill_random,
                             pack_desc, random_desc, stream_words)


# -- tests ----------------------------------------------------------------------------------

@cocotb.test()
async def random_pauses(dut):
    """Random descriptors, reads back to back and writes, with random pauses everywhere."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    await tb.begin()
    fill_random(tb, rng)
    for p in (0.0, 0.3, 0.6):
        tb.set_pauses(rng, p)
        await check_reads(tb, [random_desc(rng, tb.bb) for _ in range(3)])
        await check_write(tb, random_desc(rng, tb.bb), rng)


@cocotb.test()
async def extremes(dut):
    """1-byte rows, rows crossing 4 KB, the longest burst, stride 0, the region's last word,
    a read and a write at once."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    bb = tb.bb
    await tb.begin()
    fill_random(tb, rng)
    cases = [
        G.Descriptor(0x1000, 1, 3, bb),                    # 1-byte rows
        G.Descriptor(0x2000 - 2 * bb, 5 * bb - 3, 2, 0x1000),   # each row crosses 4 KB
        G.Descriptor(0x3000, 256 * bb, 1, 0),              # one burst of 256 beats (bb <= 16)
        G.Descriptor(0x3000, 1024 * bb if bb <= 4 else 4096, 1, 0),  # a whole page and more
        G.Descriptor(0x4000, 3 * bb + 1, 4, 0),            # stride 0: one row four times
        G.Descriptor(REGION[1] - bb, bb, 1, 0),            # the region's last word
    ]
    for d in cases:
        assert G.cause(d, bb, *REGION) == Cause.NONE, d
        await check_reads(tb, [d])
        await check_write(tb, d, rng)
    assert max(n for _a, n in tb.bursts("ar")) == min(256, 4096 // bb)
    # Read and write at the same time (disjoint channels).
    rd, wr = G.Descriptor(0x1000, 900, 3, 1024), G.Descriptor(0x5000, 700, 2, 1024)
    words = stream_words(wr, bb, rng)
    want_mem = G.write_memory(tb.mem, 0, wr, words, bb)
    want_rd = G.read_words(tb.mem, 0, rd, bb)
    tb.set_pauses(rng, 0.3)
    both = cocotb.start_soon(tb.read([rd]))
    await tb.write(wr, words)
    assert await both == want_rd and bytes(tb.mem) == bytes(want_mem)


@cocotb.test()
async def timing(dut):
    """No pauses, fixed latency: every AR/R/AW/W/B handshake cycle equals golden.dma."""
    rng = random.Random(cocotb.RANDOM_SEED + 2)
    tb = Bench(dut)
    await tb.begin()
    fill_random(tb, rng)
    bb = tb.bb
    descs = [G.Descriptor(0x1000, 1, 1, 0), G.Descriptor(0x1000, 300 * bb, 2, 0x1000),
             G.Descriptor(0x2000 - bb, 40 * bb + 5, 3, 64 * bb),
             G.Descriptor(0x1000, 2 * bb, 24, 4 * bb),     # short bursts: outstanding binds
             random_desc(rng, bb)]
    for delay in (0, 5, 30):
        tb.delay = delay
        lat = delay + RAM_READ_LATENCY
        for d in descs:
            n = {k: len(v) for k, v in tb.log.items()}
            await check_reads(tb, [d])
            t0 = tb.log["rd_cmd"][n["rd_cmd"]][0]
            want = G.read_timing(d, bb, lat, DMA_READ_OUTSTANDING)
            ar = [c - t0 for c, _ in tb.log["ar"][n["ar"]:]]
            r = [(c - t0, last) for c, last in tb.log["r"][n["r"]:]]
            firsts = [r[0][0]] + [r[i + 1][0] for i in range(len(r) - 1) if r[i][1]]
            lasts = [c for c, last in r if last]
            assert (ar, firsts, lasts) == (want.ar, want.first, want.last), \
                (d, delay, ar, firsts, lasts, want)
            assert tb.log["rd"][-1][0] - t0 + 1 == want.cycles
        if delay:
            continue
        for d in descs:
            n = {k: len(v) for k, v in tb.log.items()}
            await check_write(tb, d, rng)
            t0 = tb.log["wr_cmd"][n["wr_cmd"]][0]
            want = G.write_timing(d, bb, RAM_B_LATENCY, DMA_WRITE_OUTSTANDING)
            aw = [c - t0 for c, _ in tb.log["aw"][n["aw"]:]]
            w = [(c - t0, last) for c, last in tb.log["w"][n["w"]:]]
            wf = [w[0][0]] + [w[i + 1][0] for i in range(len(w) - 1) if w[i][1]]
            wl = [c for c, last in w if last]
            b = [c - t0 for c, _ in tb.log["b"][n["b"]:]]
            assert (aw, wf, wl, b) == (want.aw, want.w_first, want.w_last, want.b), \
                (d, aw, wf, wl, b, want)


async def expect_refused(tb: Bench, eng: str, d: G.Descriptor, cause: Cause):
    n = {k: len(v) for k, v in tb.log.items()}
    bb = tb.bb
    assert G.cause(d, bb, *REGION) == cause, (d, cause)
    if eng == "rd":
        got = await tb.read([d])
        assert got == []
    else:
        await tb.wr_cmd.send(PayloadTransaction(payload=pack_desc(d)))
        await tb.wait_idle("wr", n["wr_cmd"] + 1)
    dut = tb.dut
    assert int(getattr(dut, f"{eng}_error").value) == 1
    assert int(getattr(dut, f"{eng}_cause").value) == cause, (d, cause)
    for ch in ("ar", "aw", "w"):
        assert len(tb.log[ch]) == n[ch], f"{ch} transaction for a refused descriptor"
    await tb.clear()
    assert int(getattr(dut, f"{eng}_error").value) == 0


@cocotb.test()
async def errors(dut):
    """Refused descriptors and SLVERR / DECERR answers: cause, clean stop, nothing written past
    the fault, and the engine works again after clear."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 3)
    bb = tb.bb
    await tb.begin()
    fill_random(tb, rng)
    refused = [
        (G.Descriptor(0x1000, 0, 1, 0), Cause.BAD_FIELD),
        (G.Descriptor(0x1000, 8, 0, 0), Cause.BAD_FIELD),
        (G.Descriptor(0x1000 + bb // 2, 8, 1, 0), Cause.DMA_ALIGN),
        (G.Descriptor(0x1000, 8, 2, bb + 2), Cause.DMA_ALIGN),
        (G.Descriptor(REGION[0] - bb, 8, 1, 0), Cause.DMA_REGION),
        (G.Descriptor(REGION[1] - bb, bb + 1, 1, 0), Cause.DMA_REGION),
        (G.Descriptor(REGION[1] - 4 * bb, bb, 3, 2 * bb), Cause.DMA_REGION),
    ]
    good = G.Descriptor(0x1000, 5 * bb + 3, 3, 8 * bb)
    for eng in ("rd", "wr"):
        for d, cause in refused:
            await expect_refused(tb, eng, d, cause)
            if eng == "rd":
                await check_reads(tb, [good])
            else:
                await check_write(tb, good, rng)
    # Bus errors: a fault in the middle of a multi-burst transfer.
    d = G.Descriptor(0x2000, 64 * bb, 4, 0x400 if bb <= 16 else 64 * bb)
    spans = G.bursts(d, bb)
    bad = len(spans) // 2
    for decerr in (False, True):
        for p in (0.0, 0.4):
            tb.set_pauses(rng, p)
            tb.decerr = decerr
            cause = Cause.DMA_DECERR if decerr else Cause.DMA_SLVERR
            fault_addr = spans[bad][0] + bb * (spans[bad][1] // 2)
            tb.mem.fault = range(fault_addr, fault_addr + 1)
            # Read: every word before the faulty beat, nothing after it.
            want = G.read_words(tb.mem[:fault_addr] + bytes(MEM_SIZE - fault_addr), 0, d, bb)
            n_words = sum(n for _a, n in spans[:bad]) + spans[bad][1] // 2
            got = await tb.read([d])
            assert got == want[:n_words], (decerr, p, len(got), n_words)
            assert (int(dut.rd_error.value), int(dut.rd_cause.value)) == (1, cause)
            await tb.clear()
            if not p:
                # A second descriptor taken behind the failing one is dropped with it.
                n0, n_cmds = len(tb.log["rd"]), len(tb.log["rd_cmd"]) + 2
                await tb.rd_cmd.send(PayloadTransaction(payload=pack_desc(d)))
                await tb.rd_cmd.send(PayloadTransaction(payload=pack_desc(good)))
                await tb.wait_idle("rd", n_cmds)
                assert tb.bursts("ar")[-1] in G.bursts(good, bb), "second descriptor not issued"
                assert len(tb.log["rd"]) - n0 == n_words, "words past the fault"
                assert int(dut.rd_cause.value) == cause
                await tb.clear()
            tb.mem.fault = range(0)
            await check_reads(tb, [good])
            # Write: the bursts before the failing one written, none after it.
            tb.mem.fault = range(fault_addr, fault_addr + 1)
            n_aw = len(tb.log["aw"])
            before = bytes(tb.mem)
            words = stream_words(d, bb, rng)
            full = G.write_memory(before, 0, d, words, bb)
            n_cmds = len(tb.log["wr_cmd"]) + 1
            await tb.wr_cmd.send(PayloadTransaction(payload=pack_desc(d)))
            for w in words:
                tb.wr.send_nowait(PayloadTransaction(payload=w))
            await tb.wait_idle("wr", n_cmds)
            assert (int(dut.wr_error.value), int(dut.wr_cause.value)) == (1, cause)
            assert tb.bursts("aw", n_aw) == spans[:bad + 1], "a burst issued after the fault"
            end = spans[bad][0] + spans[bad][1] * bb
            assert bytes(tb.mem[:spans[bad][0]]) == bytes(full[:spans[bad][0]])
            assert bytes(tb.mem[end:]) == before[end:], "written past the fault"
            # The producer drops the words the engine did not take (and its valid).
            tb.wr.clear()
            dut.wr__valid.value = 0
            await tb.clear()
            tb.mem.fault = range(0)
            await check_write(tb, good, rng)
    tb.decerr = False


@cocotb.test()
async def bandwidth(dut):
    """Read bandwidth: cycles of long reads (no pauses, fixed latency) equal golden.dma's.

    Cases ``[row_bytes, rows, delay, gap]`` (``gap`` bytes between rows) from ``EXION_DMA_CASES`` (bench/bench_dma.py), else two
    small ones; each result is appended to ``EXION_DMA_REPORT`` (JSON lines) when set."""
    tb = Bench(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 4)
    bb = tb.bb
    await tb.begin()
    fill_random(tb, rng)
    cases = json.loads(os.environ.get("EXION_DMA_CASES", "[[512, 4, 0, 0], [64, 16, 30, %d]]"
                                      % bb))
    for row_bytes, rows, delay, gap in cases:
        tb.delay = delay
        d = G.Descriptor(REGION[0], row_bytes, rows, -(-row_bytes // bb) * bb + gap)
        n_cmd = len(tb.log["rd_cmd"])
        await check_reads(tb, [d])
        cycles = tb.log["rd"][-1][0] - tb.log["rd_cmd"][n_cmd][0] + 1
        want = G.read_timing(d, bb, delay + RAM_READ_LATENCY, DMA_READ_OUTSTANDING)
        assert cycles == want.cycles, (d, delay, cycles, want.cycles)
        if os.environ.get("EXION_DMA_REPORT"):
            with open(os.environ["EXION_DMA_REPORT"], "a") as f:
                f.write(json.dumps({"row_bytes": row_bytes, "rows": rows, "gap": gap,
                                    "first": want.first[0],
                                    "latency": delay + RAM_READ_LATENCY, "bus_bytes": bb,
                                    "bytes": G.bytes_read(d, bb), "cycles": cycles,
                                    "golden_cycles": want.cycles}) + "\n")
