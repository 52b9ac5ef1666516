"""Random command streams on the core, held to the command-level model after every command.

Seeded random sequences of legal and illegal commands (sim/fuzz_commands.py), random host
mask writes, error clears, queue-full episodes, resets in the middle of a burst and bursts of
commands written back to back (any opcode after any other: loads, reads and execute commands
overlap), driven through ``CoreTB`` (sim/core_driver.py) with random pauses on every AXI4-Lite
channel and on the three streams. After each command or burst the bench waits for the core
to go idle (a watchdog fails a hang) and compares with
:class:`golden.core_model.CoreModel`: the ``READ_OMEM`` frames, every ``STATUS`` bit and the
queue level, ``CAUSE``, ``ERR_CMD``, ``DONE``, ``CYCLES``, ``BLOCKS``, ``BLOCKS_H1`` /
``BLOCKS_H2``, ``SCHED_CYCLES`` (``SCHEDULE`` and ``GEMM`` name an SMEM half a third of the
time, so a split ``SCHEDULE`` runs beside the ``GEMM`` ahead of it in bursts), ``DOMINANT`` /
``SKIP_K`` / ``SKIP_V``, and after a command that writes them the mask window and SMEM. At
the end of a seed every OMEM buffer is read back. What an overlapped burst can and cannot be
compared on is docs/core-model.md ("What an overlapped burst compares").

Functional coverage with ``cocotb-coverage``: (opcode, flags, cause), every triple the check
tables allow (``sim.fuzz_commands.coverage_goal``), and (opcode, memory, buffer, free /
behind) of accepted commands (``sim.fuzz_commands.buffer_goal``; ``PREDICT_PROJ``'s
destination as ``imem.dbuf`` / ``wmem.dbuf`` by its ``KEYS`` flag); the report and the holes
are printed. The stream is biased so that the short seed set of ``make test`` leaves no hole:
a queue-full episode writes a few refused commands while the queue is full (the opcode and
flag turns come round in a few episodes), and while the buffer cover point has a hole half of
the bursts aim at one (``Fuzz.steered``: a command using the buffer, then one of the hole's
opcode naming it).

Bugs these streams found, now fixed: the SDUE requantized a GEMM's last block while it
drained with the exec engine's *current* shift (``shift_hazard``); a GEMM of few lane chunks
right behind one of many replaced the long one's switch fields and tag before its capture, and
the core never finished (``short_after_long``, golden.cycle_model.command_gap); a sparse GEMM
of no blocks finished before the GEMM ahead of it, whose CYCLES then came last
(``empty_behind_gemm``).

Environment: ``EXION_FUZZ_SEEDS`` (comma-separated seeds, default ``1``),
``EXION_FUZZ_COMMANDS`` (commands per seed, default 400), ``EXION_FUZZ_STRICT`` (``0``: only
loads and reads after a GEMM in a burst), ``EXION_FUZZ_WATCHDOG_NS`` (default 200000),
``EXION_FUZZ_EXPECT_FULL`` (``1``: fail on any hole; tests/test_core_fuzz.py sets it
for the short seed set), ``EXION_FUZZ_DUMP`` (``1``: on a hang, log the engines' internal
signals; Icarus shows them all, Verilator only the top's), ``EXION_FUZZ_REPORT`` (a JSON file that receives the counts
and the coverage).
"""

from __future__ import annotations

import logging
import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotb_coverage.coverage import coverage_db
from cocotbext.axi import AxiStreamFrame

from exion.regmap import encode
from golden import cycle_model
from sim.core_driver import CoreTB
from sim.fuzz_core import STRICT, Fuzz
from sim.tb_common import pack, start, write_report


@cocotb.test()
async def fuzz(dut):
    """Seeded random command streams, compared with the command-level model after each."""
    seeds = [int(s) for s in os.environ.get("EXION_FUZZ_SEEDS", "1").split(",") if s.strip()]
    n = int(os.environ.get("EXION_FUZZ_COMMANDS", "400"))
    tb = CoreTB(dut)
    for name in ("s_axil", "s_axis_imem", "s_axis_wmem", "m_axis"):
        logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)
    await start(dut)
    await ClockCycles(dut.clk, 2)
    total, checked, bursts, resets, steers = 0, 0, 0, 0, 0
    prev = None             # the previous seed's Fuzz: its model goes on with the next seed
    for seed in seeds:
        # a fresh model per seed needs a core in the same state: reset it (memories keep
        # their contents, so the model inherits them from the previous seed's model)
        if prev is not None:
            dut.rst.value = 1
            await ClockCycles(dut.clk, 3)
            dut.rst.value = 0
            await ClockCycles(dut.clk, 2)
            tb.args = {}
        fz = Fuzz(tb, seed)
        if prev is not None:
            prev.model.reset()
            fz.model = prev.model
        fz.pauses(seed)
        await fz.run_seed(n)
        total += fz.commands
        checked += fz.checked
        bursts += fz.bursts
        resets += fz.resets
        steers += fz.steers
        prev = fz
    cov = coverage_db["core.op_flags_cause"]
    holes = [b for b, hits in cov.detailed_coverage.items() if hits == 0]
    log = dut._log
    log.info("fuzz: %d commands issued over seeds %s, %d comparisons with the model "
             "(%d after bursts of back-to-back commands, %d of them aimed at buffer cover-point "
             "holes), %d resets mid-command%s", total, seeds, checked, bursts, steers, resets,
             " (overlapped bursts)" if STRICT else "")
    coverage_db.report_coverage(log.info, bins=False)
    log.info("fuzz: (opcode, flags, cause) coverage %d of %d bins (%.1f %%)",
             cov.coverage, cov.size, cov.cover_percentage)
    log.info("fuzz: holes: %s", ", ".join(map(str, holes)) or "none")
    bcov = coverage_db["core.buffer_state"]
    bholes = [b for b, hits in bcov.detailed_coverage.items() if hits == 0]
    log.info("fuzz: (opcode, memory, buffer, free / behind) coverage %d of %d bins (%.1f %%)",
             bcov.coverage, bcov.size, bcov.cover_percentage)
    log.info("fuzz: holes: %s", ", ".join(map(str, bholes)) or "none")
    if os.environ.get("EXION_FUZZ_EXPECT_FULL") == "1":
        # the short seed set of make test (tests/test_core_fuzz.py): the stream is a function
        # of the seed and the model alone, so it reaches every bin on every run
        assert not holes and not bholes, (f"coverage holes: {holes + bholes}; the stream's "
                                           "bias (sim/fuzz_core.py) no longer reaches them")
    write_report("EXION_FUZZ_REPORT", {
        "seeds": seeds, "commands": total, "comparisons": checked, "bursts": bursts,
        "aimed": steers, "resets": resets, "strict": STRICT,
        "buffer_covered": bcov.coverage, "buffer_bins": bcov.size,
        "buffer_holes": [list(map(str, h)) for h in bholes],
        "covered": cov.coverage, "bins": cov.size, "holes": [list(h) for h in holes],
        "hits": {"/".join(k): v for k, v in cov.detailed_coverage.items()}}, sort_keys=False)


@cocotb.test()
async def shift_hazard(dut):
    """Two GEMMs back to back with different shifts: the first one's last block drains while
    the second one runs and must keep its own shift (the SDUE takes the shift with each
    block; this bug was found by the random streams and fixed)."""
    tb = CoreTB(dut)
    await start(dut)
    await ClockCycles(dut.clk, 2)
    fz = Fuzz(tb, 5)
    cfg = tb.cfg
    kc = 4
    rng = fz.rng
    hi = cfg.data_max // 2
    x = rng.integers(-hi, hi + 1, (cfg.rows * kc, cfg.lanes))
    w = rng.integers(-hi, hi + 1, (cfg.cols * 2 * kc, cfg.lanes))
    for op, data, kw in (("LOAD_IMEM", x, dict(buf=0, count=kc)),
                         ("LOAD_WMEM", w, dict(buf=0, count=2 * kc, streams=1))):
        args, word = encode(op, base=0, **kw)
        fz.model.issue(args, word)
        await tb.issue_raw(args, word, wait_room=False)
        (fz.model.push_imem if op == "LOAD_IMEM" else fz.model.push_wmem)(data)
        src = tb.src_i if op == "LOAD_IMEM" else tb.src_w
        await src.send(AxiStreamFrame([pack(b, cfg.data_width) for b in data]))
    for obuf, shift in ((0, 14), (1, 0)):
        args, word = encode("GEMM", kc=kc, shift=shift, n_ch=2 * cfg.cols, ibuf=0, wbuf=0,
                            obuf=obuf, n_rows=cfg.rows)
        await fz.command(args, word)
    try:
        await fz.settle("loads and two GEMMs back to back")
    except AssertionError as e:
        raise RuntimeError(f"shift_hazard: unexpected difference before the read: {e}") from e
    args, word = encode("READ_OMEM", base=0, count=2 * cfg.cols, buf=0)
    await fz.command(args, word)
    await fz.settle("READ_OMEM of the first GEMM's outputs")


@cocotb.test()
async def short_after_long(dut):
    """A GEMM of kc = 1 queued right behind one of the longest kc (both behind a load they
    wait for, so the execute engine prefetches the second): the short command's block must
    wait until the long one's last block is captured (golden.cycle_model.command_gap). Before
    the SDUE waited for that, the short block's switch fields and tag replaced the long one's
    before its capture: the long GEMM's outputs went to the wrong OMEM buffer and its
    completion was never seen, so the core stayed busy (found by the overlapped streams)."""
    tb = CoreTB(dut)
    await start(dut)
    await ClockCycles(dut.clk, 2)
    fz = Fuzz(tb, 7)
    cfg = tb.cfg
    kc = cfg.words("imem")
    args, word = encode("LOAD_WMEM", base=0, count=kc, buf=0, streams=1)
    await fz.command(args, word)
    await fz.settle("LOAD_WMEM")
    busy0 = await tb.read("BUSY_CYCLES")
    load, _ = await fz.command(*encode("LOAD_IMEM", base=0, count=kc, buf=0), send=False)
    for obuf, k in ((0, kc), (1, 1)):
        await fz.command(*encode("GEMM", kc=k, shift=3, n_ch=cfg.cols, ibuf=0, wbuf=0,
                                 obuf=obuf, n_rows=cfg.rows))
    await fz.send(load)
    await fz.settle("LOAD_IMEM, then GEMMs of kc = %d and kc = 1 back to back" % kc)
    busy = (await tb.read("BUSY_CYCLES") - busy0) & 0xFFFFFFFF
    want = cycle_model.gemm_sequence_cycles([(1, kc * cfg.lanes), (1, cfg.lanes)], cfg)
    assert busy == want, f"SDUE busy {busy} cycles for the two GEMMs, model {want}"
    for obuf in range(2):
        await fz.command(*encode("READ_OMEM", base=0, count=cfg.cols, buf=obuf))
        await fz.settle(f"READ_OMEM of OMEM buffer {obuf}")


@cocotb.test()
async def schedule_behind_gemm(dut):
    """A SCHEDULE of an all-zero mask channel (the shortest execute command) queued right
    behind a GEMM: it may start when the GEMM's last chunk is read, before that block has
    drained; CYCLES must still be the SCHEDULE's, the last command in program order."""
    tb = CoreTB(dut)
    await start(dut)
    await ClockCycles(dut.clk, 2)
    fz = Fuzz(tb, 8)
    cfg = tb.cfg
    kc = cfg.words("imem")
    await tb.write_mask(np.zeros((cfg.rows, 1), bool))
    fz.model.state.write_mask_cv(0, 0)
    load, _ = await fz.command(*encode("LOAD_IMEM", base=0, count=kc, buf=0), send=False)
    await fz.command(*encode("GEMM", kc=kc, shift=3, n_ch=cfg.cols, ibuf=0, wbuf=0, obuf=0,
                             n_rows=cfg.rows))
    await fz.command(*encode("SCHEDULE", n_ch=1))
    await fz.send(load)
    await fz.settle("LOAD_IMEM, then a GEMM and a SCHEDULE of an all-zero mask")


@cocotb.test()
async def empty_behind_gemm(dut):
    """A sparse GEMM while BLOCKS = 0 (no blocks) queued right behind a dense GEMM, then
    another dense GEMM behind it: the empty one is done after the first has drained (CYCLES
    0, the last command's in program order; it was written first and the dense GEMM's value
    replaced it), and the SDUE's run restarts after it (BUSY_CYCLES as
    golden.cycle_model.gemm_sequence_cycles gives)."""
    tb = CoreTB(dut)
    await start(dut)
    await ClockCycles(dut.clk, 2)
    fz = Fuzz(tb, 9)
    cfg = tb.cfg
    gemm = dict(shift=2, n_ch=2 * cfg.cols, ibuf=0, wbuf=0, n_rows=cfg.rows)
    for tail in ([], [2]):
        busy0 = await tb.read("BUSY_CYCLES")
        load, _ = await fz.command(*encode("LOAD_IMEM", base=0, count=4, buf=0), send=False)
        await fz.command(*encode("GEMM", kc=4, obuf=0, **gemm))
        await fz.command(*encode("GEMM", kc=4, obuf=1, flags=["SPARSE"], **gemm))
        for kc in tail:
            await fz.command(*encode("GEMM", kc=kc, obuf=1, **gemm))
        await fz.send(load)
        await fz.settle(f"LOAD_IMEM, dense GEMM, sparse GEMM of no blocks, GEMMs of kc {tail}")
        busy = (await tb.read("BUSY_CYCLES") - busy0) & 0xFFFFFFFF
        runs = [(2, 4 * cfg.lanes), (0, 4 * cfg.lanes)] + [(2, k * cfg.lanes) for k in tail]
        want = cycle_model.gemm_sequence_cycles(runs, cfg)
        assert busy == want, f"SDUE busy {busy} cycles for GEMMs {runs}, model {want}"
