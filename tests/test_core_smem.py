"""The SMEM transfer engine (hw/core_smem.py): ``STORE_SMEM`` / ``LOAD_SMEM`` through the master
port, schedule reuse over FFN-Reuse's sparse iterations, under Icarus and Verilator on the two
small configurations of tests/test_core.py (shared builds), against cocotbext-axi's AxiRam with
random pauses on every channel (sim/tb_core_smem.py); and the golden side (golden/core_smem.py)
on its own: the checks, the memory image, the cycle functions."""

from collections import Counter

import numpy as np
import pytest

from exion.regmap import CAUSES, encode
from golden import conmerge, core_mem, core_smem
from golden.core_checks import CHECKS, SMEM_MEM_CHECKS, SMEM_OPS, Limits, decode
from golden.core_model import CoreModel
from golden.schedule import pack_block
from sim.fuzz_commands import random_command
from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_core_smem(sim, name):
    run_bench(CONFIGS[name], "core", sim, "sim.tb_core_smem")


@pytest.mark.rtl
def test_core_smem_bus32():
    """A 32-bit port: a block spans several bus words (the block register and the word
    select). Icarus only, the build of tests/test_core_dma.py's 32-bit case."""
    run_bench(CONFIGS["4x4"].replace(bus_width=32), "core", "icarus", "sim.tb_core_smem")


@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_smem_checks(name):
    """Seeded random LOAD_SMEM / STORE_SMEM commands (sim.fuzz_commands.random_command: legal
    draws, then fields pushed to an edge, the flags mixed) reach every row of their check
    tables, issue and master port (golden.core_checks); a refused one changes only error,
    CAUSE and ERR_CMD."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(3)
    k = Limits.of(cfg)
    m = CoreModel(cfg)
    m.write("REGION_BASE", 0x1000)
    m.write("REGION_END", 0x1000 + (1 << 10) * cfg.bus_bytes)
    hit = Counter()
    for _ in range(3000):
        op = SMEM_OPS[int(rng.integers(2))]
        args, word = random_command(rng, cfg, op=op, p_bad=0.6)
        if rng.random() < 0.2:      # misaligned, or below the region
            args["ARG4"] = int(rng.integers(0, 0x1000 // cfg.bus_bytes)) * cfg.bus_bytes \
                + int(rng.integers(0, 2)) * (cfg.bus_bytes // 2)
        cmd = decode([args[f"ARG{i}"] for i in range(6)], word)
        if cmd.op not in SMEM_OPS:      # (an unknown opcode drawn instead)
            continue
        before = (list(m.state.smem), m.regs.blocks, list(m.regs.blocks_half), m.regs.done,
                  bytes(m.port.mem))
        cause = m.issue(args, word)
        rows = [(i, c) for i, c in enumerate(CHECKS[cmd.op]) if c.fails(cmd, k)]
        if rows:
            hit[(op, rows[0][0])] += 1
            assert cause == CAUSES[rows[0][1].cause]
        elif cmd.mem:
            mrows = [(i, c) for i, c in enumerate(SMEM_MEM_CHECKS[op])
                     if c.fails(cmd, k, (m.regs.region_base, m.regs.region_end))]
            if mrows:
                hit[(op, "M", mrows[0][0])] += 1
            assert cause == (CAUSES[mrows[0][1].cause] if mrows else 0)
        if cause:
            assert before == (list(m.state.smem), m.regs.blocks, list(m.regs.blocks_half),
                              m.regs.done, bytes(m.port.mem)), "a refusal changed the state"
            assert (m.regs.error, m.regs.cause, m.regs.err_cmd) == (1, cause, word)
            m.clear_error()
        m.state.queue.clear()
    want = {(op, i) for op in SMEM_OPS for i in range(len(CHECKS[op]))}
    want |= {(op, "M", i) for op in SMEM_OPS for i in range(len(SMEM_MEM_CHECKS[op]))}
    assert not want - set(hit), f"check rows never reached: {sorted(want - set(hit), key=str)}"


@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_golden_round_trip(name):
    """The model alone: SCHEDULE a random mask, STORE_SMEM (the memory image = pack_block
    words), SCHEDULE another, LOAD_SMEM into the other half: the same words and count there;
    a bus fault in block 1 keeps block 0 (count 1) and no cycles; cycle functions: one bus
    word a cycle after the first burst's latency."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(11)
    m = CoreModel(cfg)
    m.port = core_mem.MemPort(bytearray(1 << 16))
    m.write("REGION_BASE", 0x1000)
    m.write("REGION_END", 0xF000)
    mask = rng.random((cfg.rows, 13)) < 0.5
    for ch in range(13):
        m.state.write_mask_cv(ch, sum(1 << r for r in range(cfg.rows) if mask[r, ch]))
    assert m.step(*encode("SCHEDULE", n_ch=13, half=1))[0] == 0
    n = m.regs.blocks_half[0]
    words = conmerge.cau_schedule(mask, cfg, token_sort="none").words()
    assert n == len(words) > 0 and m.state.smem[:n] == words
    assert m.step(*encode("STORE_SMEM", flags=("MEM",), half=1, addr=0x3000))[0] == 0
    image = core_smem.smem_image(cfg, [pack_block(b, cfg) for b in
                                       conmerge.cau_schedule(mask, cfg, token_sort="none").blocks])
    assert bytes(m.port.mem[0x3000:0x3000 + len(image)]) == image
    assert m.regs.smem_st_cycles == core_smem.store_smem_cycles(cfg, n, 2, 0x3000)
    assert m.step(*encode("LOAD_SMEM", flags=("MEM",), half=2, count=n, addr=0x3000))[0] == 0
    h = cfg.schedule_depth // 2
    assert m.state.smem[h:h + n] == words and m.regs.blocks_half == [n, n]
    assert m.regs.smem_ld_cycles == core_smem.load_smem_cycles(cfg, n, 2, 0x3000)
    wb = core_smem.block_words(cfg)
    assert core_smem.load_smem_cycles(cfg, 2) - core_smem.load_smem_cycles(cfg, 1) == wb
    # a bus fault in block 1's words: block 0 kept, the count 1, no cycles written
    m.port.fault = range(0x3000 + wb * cfg.bus_bytes, 0x3000 + wb * cfg.bus_bytes + 1)
    cyc = m.regs.smem_ld_cycles
    m.step(*encode("LOAD_SMEM", flags=("MEM",), half=0, count=n, addr=0x3000))
    assert m.regs.cause == CAUSES["DMA_SLVERR"] and m.regs.blocks == 1
    assert m.state.smem[0] == words[0] and m.regs.smem_ld_cycles == cyc
