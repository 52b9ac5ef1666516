"""The command-level core model (golden/core_model.py) against the golden functions, on seeded
random commands plus extremes: GEMM (dense, sparse, FFN_MASK), SCHEDULE, PREDICT, loads and
reads; every check row of golden/core_checks.py and every cause code reachable; a refused
command changes nothing but error, CAUSE and ERR_CMD. Pure Python (no simulator)."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from exion.config import preset
from exion.limits import QUEUE_DEPTH
from exion.regmap import CAUSES, encode
from golden import conmerge, cycle_model, eager, ffn_reuse, intsem
from golden.core_checks import (CHECKS, DISPATCH_CHECKS, RESIDENT_CHECKS, SMEM_OPS, Limits,
                                decode, first_failure, markdown_table)
from golden.core_model import OPS, CoreModel
from golden.core_state import BeatFifo, bits_of, bits_of_rows
from golden.sdue import dense_wmem_image, wmem_image
from sim.fuzz_commands import (BUFFERS_USED, DEST_BUFFERS, FLAG_BINS, bin_flags, buffer_fields,
                               buffer_goal, coverage_goal, flag_bin, random_command)
from tests.test_core import CONFIGS as RTL_CONFIGS

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = {
    "4x4": preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                  omem_bank_bytes=96, schedule_depth=8, name="exion"),
    "8x3": RTL_CONFIGS["8x3"],      # the RTL benches' (with the operand stage)
    "16x16": preset("exion", name="exion"),
}


def _rand(rng, shape, cfg, scale=1.0):
    hi = int(cfg.data_max * scale)
    return rng.integers(-hi, hi + 1, size=shape, dtype=np.int64)


def _run(m, op, *, imem=None, wmem=None, **fields):
    cause, outs = m.step(*encode(op, **fields), imem=imem, wmem=wmem)
    assert cause == 0 and not m.regs.error, f"{op} refused: cause {m.regs.cause}"
    assert not m.state.queue, f"{op} did not run"
    return outs


def _load_x(m, buf, x):
    cfg = m.cfg
    kc = intsem.lane_chunks(x.shape[1], cfg.lanes)
    full = np.zeros((cfg.rows, kc * cfg.lanes), np.int64)
    full[:x.shape[0], :x.shape[1]] = x
    _run(m, "LOAD_IMEM", base=0, count=kc, buf=buf, imem=full.reshape(-1, cfg.lanes))


def _load_w(m, buf, img, streams=0):
    """A WMEM image (cols, words, merge_degree, lanes) in stream order."""
    s = streams or m.cfg.merge_degree
    beats = np.asarray(img)[:, :, :s, :].transpose(0, 2, 1, 3).reshape(-1, m.cfg.lanes)
    _run(m, "LOAD_WMEM", base=0, count=img.shape[1], buf=buf, streams=streams, wmem=beats)


def _greedy(mask, cfg):
    return conmerge.cau_schedule(np.asarray(mask, bool), cfg, token_sort="none")


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dense_gemm_and_read(name, seed):
    """Dense GEMMs (random shapes, offsets, partial row groups, shifts incl. 0 and the
    extremes of the data range) equal golden.intsem; READ_OMEM returns them; CYCLES is
    golden.cycle_model.compute_cycles."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(seed)
    m = CoreModel(cfg)
    k = Limits.of(cfg)
    expect = np.zeros((cfg.omem_buffers, cfg.rows, k.omem_words), np.int64)
    for t in range(4):
        kc = int(rng.integers(1, min(k.imem_words, 8) + 1))
        n = int(rng.integers(1, min(k.omem_words, (k.wmem_words // kc) * cfg.cols, 40) + 1))
        ch_base = int(rng.integers(0, k.omem_words - n + 1))
        rows = int(rng.integers(1, cfg.rows + 1))
        extreme = t == 3
        x = _rand(rng, (rows, kc * cfg.lanes), cfg, 1.0 if extreme else 0.5)
        w = _rand(rng, (kc * cfg.lanes, n), cfg, 1.0 if extreme else 0.5)
        if extreme:                          # saturating accumulation and requantization
            x[:] = -cfg.data_max - 1
            w[:, ::2] = -cfg.data_max - 1
        shift = [0, cfg.acc_width - 1, int(rng.integers(0, 12)), 0][t]
        ib, wb, ob = (int(rng.integers(b)) for b in (cfg.imem_buffers, cfg.wmem_buffers,
                                                      cfg.omem_buffers))
        _load_x(m, ib, x)
        _load_w(m, wb, dense_wmem_image(w, cfg), streams=1)
        _run(m, "GEMM", kc=kc, shift=shift, ch_base=ch_base, n_ch=n, ibuf=ib, wbuf=wb, obuf=ob,
             n_rows=rows)
        acc = intsem.dpu_dot(x[:, None, :], w.T[None, :, :], cfg.lanes, cfg.acc_width)
        expect[ob, :rows, ch_base:ch_base + n] = intsem.requantize(acc, shift, cfg.data_width)
        assert m.regs.cycles == cycle_model.compute_cycles(-(-n // cfg.cols), kc * cfg.lanes,
                                                           cfg)
        outs = _run(m, "READ_OMEM", base=0, count=k.omem_words, buf=ob)
        assert np.array_equal(outs[0].frame.T, expect[ob])
    assert m.regs.done == 4 * 4


@pytest.mark.parametrize("name", ["4x4", "8x3"])
@pytest.mark.parametrize("seed", [1, 2])
def test_ffn_reuse_iteration(name, seed):
    """FFN_MASK GEMM -> keep_mask_int in the mask; SCHEDULE -> greedy ConMerge vectors in SMEM,
    schedule_cycles; sparse GEMM -> reuse_fc1_int (OMEM is the cache)."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(seed)
    m = CoreModel(cfg)
    k = Limits.of(cfg)
    kc = min(3, k.imem_words)
    n = min(2 * cfg.cols + 1, k.omem_words)
    x = _rand(rng, (cfg.rows, kc * cfg.lanes), cfg, 0.5)
    w = _rand(rng, (kc * cfg.lanes, n), cfg, 0.5)
    shift = 8
    _load_x(m, 0, x)
    _load_w(m, 0, dense_wmem_image(w, cfg))
    cache = intsem.requantize(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), shift,
                              cfg.data_width)
    th_hi, th_lo = int(np.median(cache)), int(np.min(cache)) - 1 + seed
    _run(m, "GEMM", flags=("FFN_MASK",), kc=kc, shift=shift, n_ch=n, ibuf=0, wbuf=0, obuf=0,
         n_rows=cfg.rows, th_hi=th_hi, th_lo=th_lo)
    mask = ffn_reuse.keep_mask_int(cache, th_hi, th_lo)
    assert 0 < mask.sum() < mask.size
    assert np.array_equal(m.state.mask[:n].T, mask)
    _run(m, "SCHEDULE", n_ch=n)
    sched = _greedy(mask, cfg)
    blocks = min(len(sched.blocks), cfg.schedule_depth)
    assert m.regs.blocks == blocks and m.state.smem[:blocks] == sched.words()[:blocks]
    cvs = [sum(1 << r for r in range(cfg.rows) if mask[r, ch]) for ch in range(n)]
    assert m.regs.cycles == cycle_model.schedule_cycles(cvs, cfg=cfg)
    assert len(sched.blocks) <= cfg.schedule_depth, "test data must fit SMEM"
    x2 = _rand(rng, x.shape, cfg, 0.5)
    _load_x(m, 0, x2)
    _load_w(m, 1, wmem_image(w, sched, cfg))
    _run(m, "GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=0, wbuf=1, obuf=0,
         n_rows=1)                       # n_rows does not limit a sparse GEMM
    assert np.array_equal(m.state.omem[0, :, :n],
                          ffn_reuse.reuse_fc1_int(x2, w, mask, cache, shift, cfg))
    assert m.regs.cycles == cycle_model.compute_cycles(blocks, kc * cfg.lanes, cfg)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_predict(name, seed):
    """PREDICT: golden.eager.shift_add_matmul scores, select (top-k count, gap test) and
    skippable_rows; the mask words it writes; predict_cycles. Extremes: one key, topk above
    the keys, q_th 0 and wider than the selector."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(seed)
    m = CoreModel(cfg)
    k = Limits.of(cfg)
    m.state.mask[:] = True                       # the whole words PREDICT writes are cleared
    kc = int(rng.integers(1, min(k.imem_words, 72 // cfg.lanes) + 1))
    n_keys = [1, int(rng.integers(2, min(64, k.channels, (k.wmem_words // kc) * cfg.cols) + 1)),
              min(64, k.channels, (k.wmem_words // kc) * cfg.cols)][seed - 1]
    rows = int(rng.integers(1, cfg.rows + 1))
    q = _rand(rng, (rows, kc * cfg.lanes), cfg, 0.3)
    keys = _rand(rng, (n_keys, kc * cfg.lanes), cfg, 0.3)
    keys[0] = q[0]
    topk = [k.max_topk, 1, 2][seed - 1]
    s = eager.shift_add_matmul(q, keys.T, cfg.lod_steps)
    q_th = [0, (1 << 64) - 1, int(np.median(np.abs(s)))][seed - 1]
    _load_x(m, 1 % cfg.imem_buffers, q)
    _load_w(m, 0, dense_wmem_image(keys.T, cfg), streams=1)
    _run(m, "PREDICT", kc=kc, topk=topk, n_keys=n_keys, ibuf=1 % cfg.imem_buffers, wbuf=0,
         n_rows=rows, q_th=q_th)
    q_eff = q_th & ((1 << m._score_width()) - 1)
    keep, dom = eager.select(s, q_eff, min(topk, n_keys) / n_keys)
    got = m.state.mask[:n_keys].T
    assert np.array_equal(got[:rows], keep) and not got[rows:].any()
    words = -(-n_keys // 8) * 8
    assert not m.state.mask[n_keys:words].any() and m.state.mask[words:].all()
    full_keep = np.zeros((cfg.rows, n_keys), bool)
    full_keep[:rows] = keep
    full_dom = np.zeros(cfg.rows, bool)
    full_dom[:rows] = dom
    _, sk, sv = eager.skippable_rows(full_keep, full_dom)
    bits = lambda v: sum(1 << int(i) for i in np.flatnonzero(v))  # noqa: E731
    assert (m.regs.dominant, m.regs.skip_k, m.regs.skip_v) == (bits(full_dom), bits(sk), bits(sv))
    assert m.regs.cycles == cycle_model.predict_cycles(
        n_keys, kc, operand_stages=cfg.operand_stages)


def test_schedule_cycles_empty_mask():
    """An all-zero mask: the CAU emits no block, so the overhead's last SMEM write cycle does
    not happen (found by the random command streams; golden.cycle_model has the case)."""
    beats = cycle_model.cau_cycles(cycle_model.group_beats([0] * 41, 8))
    assert cycle_model.schedule_cycles([0] * 41) == beats + cycle_model.SCHEDULE_OVERHEAD - 1
    beats = cycle_model.cau_cycles(cycle_model.group_beats([0, 3], 8))
    assert cycle_model.schedule_cycles([0, 3]) == beats + cycle_model.SCHEDULE_OVERHEAD


def _snapshot(m):
    st = m.state
    return (st.imem.copy(), st.wmem.copy(), st.omem.copy(), st.mask.copy(), list(st.smem),
            len(st.queue), m.regs.cycles, m.regs.blocks, m.regs.done, m.regs.dominant,
            m.regs.skip_k, m.regs.skip_v)


def _same(a, b):
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in zip(a, b))


@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_every_check_and_refusal_changes_nothing(name):
    """Seeded random commands reach every row of the check table (and its cause); a refused
    command changes only error, CAUSE, ERR_CMD; while error is set commands are dropped and
    the first cause stays; a clear lets commands through again. ``RESIDENT``'s rows of a
    GEMM (``RESIDENT_CHECKS``) too."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(7)
    k = Limits.of(cfg)
    m = CoreModel(cfg)
    m.state.omem[:] = rng.integers(-5, 5, m.state.omem.shape)
    hit = Counter()
    for _ in range(12000):      # the rarest rows (a CFSE n_ch = 0) come about 5 times
        args, word = random_command(rng, cfg, blocks=3, p_bad=0.6)
        cmd = decode([args[f"ARG{i}"] for i in range(6)], word)
        before = _snapshot(m)
        cause = m.issue(args, word)
        if cmd.op is None:
            hit["BAD_OPCODE"] += 1
        else:
            # a GEMM with RESIDENT: its opcode's rows, then RESIDENT_CHECKS' ("R", i)
            rows = [(i, c) for i, c in enumerate(CHECKS[cmd.op])]
            if cmd.op == "GEMM" and cmd.resident:
                rows += [(("R", i), c) for i, c in enumerate(RESIDENT_CHECKS)]
            row = next(((i, c) for i, c in rows if c.fails(cmd, k)), None)
            hit[(cmd.op, row and row[0])] += 1
            assert cause == (0 if row is None else CAUSES[row[1].cause])
        if cause:
            assert _same(before, _snapshot(m)), f"refused {word:#x} changed the state"
            assert (m.regs.error, m.regs.cause, m.regs.err_cmd) == (1, cause, word)
            a2, w2 = encode("READ_OMEM", base=0, count=1, buf=0)
            assert m.issue(a2, w2) == 0 and len(m.state.queue) == before[5]
            assert m.regs.cause == cause, "the first cause must stay"
            m.clear_error()
            assert (m.regs.error, m.regs.cause) == (0, 0)
        m.state.queue.clear()
    # with one drain port every ch_base is a multiple of it: that row cannot fail
    never = {"drain ports"} if cfg.drain_ports == 1 else set()
    # (LOAD_SMEM / STORE_SMEM: not in the random stream, tests/test_core_smem.py)
    rows = [(op, i, c) for op, checks in CHECKS.items() for i, c in enumerate(checks)
            if op not in SMEM_OPS]
    rows += [("GEMM", ("R", i), c) for i, c in enumerate(RESIDENT_CHECKS)]
    missing = [(op, i, c.cause) for op, i, c in rows
               if hit[(op, i)] == 0 and not any(w in c.when for w in never)]
    assert not missing and hit["BAD_OPCODE"], f"check rows never reached: {missing}"


def test_queue_full_overflow_and_dispatch_check():
    """The causes that need a sequence: QUEUE_FULL (stated by the caller), SMEM_OVERFLOW (a
    dense mask larger than SMEM; BLOCKS = SMEM depth, the first vectors kept), the sparse
    GEMM's dispatch check (dropped, ERR_CMD = opcode and flags, later commands still run)."""
    cfg = CONFIGS["4x4"]
    m = CoreModel(cfg)
    a, w = encode("LOAD_IMEM", base=0, count=1, buf=0)
    for _ in range(QUEUE_DEPTH + 1):
        assert m.issue(a, w) == 0
    assert m.run() == [] and len(m.state.queue) == QUEUE_DEPTH + 1     # no data yet
    # STATUS: the first load in its engine waiting for data, QUEUE_DEPTH behind it
    assert m.state.status() == {"busy": 1, "error": 0, "load_busy": 1, "exec_busy": 0,
                                "read_busy": 0, "queue_full": 1, "level": QUEUE_DEPTH}
    assert m.read("STATUS") == 0b100101 | QUEUE_DEPTH << 8
    assert m.issue(a, w, queue_full=True) == CAUSES["QUEUE_FULL"]
    assert len(m.state.queue) == QUEUE_DEPTH + 1
    m.clear_error()
    m.push_imem(np.ones((cfg.rows * (QUEUE_DEPTH + 1), cfg.lanes)))
    assert len(m.run()) == QUEUE_DEPTH + 1 and m.regs.done == QUEUE_DEPTH + 1
    assert m.read("STATUS") == 0
    n = m.state.map.channels
    m.state.mask[:n] = True
    cause, outs = m.step(*encode("SCHEDULE", n_ch=n))
    assert cause == 0
    sched = _greedy(np.ones((cfg.rows, n), bool), cfg)
    assert len(sched.blocks) > cfg.schedule_depth
    assert outs[0].fault == "SMEM_OVERFLOW"
    assert m.regs.error and m.regs.cause == CAUSES["SMEM_OVERFLOW"]
    assert m.regs.err_cmd == 0x11 and m.regs.blocks == cfg.schedule_depth
    assert m.state.smem == sched.words()[:cfg.schedule_depth]
    m.clear_error()
    done = m.regs.done
    a, w = encode("GEMM", flags=("SPARSE",), kc=2, n_rows=1,
                  wbase=cfg.words("wmem") - cfg.schedule_depth * 2 + 1)
    a2, w2 = encode("READ_OMEM", base=0, count=2, buf=1)
    assert m.issue(a, w | 0xAB0000) == 0 and m.issue(a2, w2) == 0
    outs = m.run()
    assert [o.ran for o in outs] == [False, True] and outs[0].fault == "ADDR_RANGE"
    assert m.regs.cause == CAUSES["ADDR_RANGE"] and m.regs.err_cmd == w & 0xFFFF
    assert m.regs.done == done + 1


def test_register_interface():
    """The same command through register writes (ARGn, CMD), the mask window (multi-word
    vectors written on their last word) and reads of registers and windows."""
    cfg = preset("exion", rows=40, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                 omem_bank_bytes=96, schedule_depth=8, name="exion")
    m = CoreModel(cfg)
    mp = m.state.map
    assert mp.mask_words == 2
    cv = (1 << 39) | 5
    m.write(mp.mask_base + 4 * (3 * mp.mask_stride), cv & 0xFFFFFFFF)
    assert m.state.mask_cv(3) == 0, "written only with its last word"
    m.write(mp.mask_base + 4 * (3 * mp.mask_stride + 1), cv >> 32)
    assert m.state.mask_cv(3) == cv
    assert m.read(mp.mask_base + 4 * (3 * mp.mask_stride + 1)) == cv >> 32
    args, word = encode("SCHEDULE", n_ch=4)
    for name, v in args.items():
        m.write(name, v)
    assert m.write("CMD", word) == 0 and m.read("STATUS") & 1
    m.run()
    assert m.read("BLOCKS") == 1 and m.read("DONE") == 1 and m.read("STATUS") == 0
    assert m.read(mp.smem_base) == m.state.smem[0] & 0xFFFFFFFF
    assert m.read("ID") == 0x45584E01 and m.read("CFG_ROWS") == 40 and m.read(0x7C) == 0


def test_coverage_goal_matches_tables():
    """The coverage goal of the fuzzing is derived from the check tables: every cause of
    every opcode's table appears, and no impossible pair (a load never gets TILE)."""
    goal = coverage_goal()
    for op, checks in CHECKS.items():
        if op in SMEM_OPS:      # MEM only: not in the memoryless fuzz (tests/test_core_smem.py)
            assert not any(g[0] == op for g in goal)
            continue
        for c in checks:
            assert any(g[0] == op and g[2] == c.cause for g in goal)
    assert not any(g[0].startswith("LOAD") and g[2] == "TILE" for g in goal)
    assert ("GEMM", "SPARSE", DISPATCH_CHECKS["GEMM"][0].cause) in goal
    for c in RESIDENT_CHECKS:
        assert ("GEMM", "SPARSE+RESIDENT", c.cause) in goal
    for fb in ("SPARSE+RESIDENT", "none", "SPARSE"):
        assert ("GEMM", fb, "NONE") in goal and ("GEMM", fb, "QUEUE_FULL") in goal
    # RESIDENT without SPARSE, or SPARSE with FFN_MASK: always refused
    assert not any(g[0] == "GEMM" and g[2] in ("NONE", "QUEUE_FULL") and
                   ("SPARSE+FFN" in g[1] or "RESIDENT" in g[1] and "SPARSE" not in g[1])
                   for g in goal)
    for fb in FLAG_BINS["SCHEDULE"]:
        assert {("SCHEDULE", fb, c) for c in ("NONE", "QUEUE_FULL", "SMEM_OVERFLOW")} <= goal
    assert flag_bin("GEMM", 0x310) == "SPARSE+FFN_MASK" and flag_bin("SCHEDULE", 0x311) == "-"
    assert flag_bin("GEMM", 0x2110) == "SPARSE+RESIDENT" and flag_bin("GEMM", 0x2010) == "RESIDENT"
    assert flag_bin("SCHEDULE", 0x2011) == "RESIDENT" and flag_bin("LOAD_IMEM", 0x2001) == "-"
    for op, bins in FLAG_BINS.items():
        for fb in bins:
            _, word = encode(op, flags=bin_flags(op, fb))
            assert flag_bin(op, word) == fb


def test_coverage_goal_is_what_issue_gives():
    """Seeded random commands of the fuzz (the 4x4 of FUZZ_CONFIG and the 8x3; some with the
    opcode and flag bin given, as the bench's directed part draws them), checked at issue by
    the model: every (opcode, flag bin, cause) they get is in the coverage goal, and every
    triple of the goal an issue check decides is got (the others: QUEUE_FULL, which the queue
    decides; SMEM_OVERFLOW, which comes when the command runs)."""
    goal = coverage_goal()
    for name in ("4x4", "8x3"):
        cfg = CONFIGS[name]
        rng = np.random.default_rng(11)
        k = Limits.of(cfg)
        got = set()
        for i in range(6000):
            # a third as the directed part of the bench draws them: opcode and flag bin given
            op, fb = [(None, None), ("SCHEDULE", None), ("GEMM", None)][i % 3]
            if op and i % 2:
                fb = FLAG_BINS[op][int(rng.integers(len(FLAG_BINS[op])))]
            args, word = random_command(rng, cfg, blocks=(3, 1, 2), p_bad=0.5, op=op,
                                        flags=fb and bin_flags(op, fb))
            cmd = decode([args[f"ARG{j}"] for j in range(6)], word)
            got.add((cmd.op or "?", flag_bin(cmd.op, word), first_failure(cmd, k) or "NONE"))
        assert got <= goal, f"{name}: triples outside the goal: {sorted(got - goal)}"
        # (a plain sparse GEMM's ADDR_RANGE: its dispatch check's, or ibase's at issue)
        issue = {g for g in goal if g[2] not in ("QUEUE_FULL", "SMEM_OVERFLOW")}
        assert issue - got == set(), f"{name}: goal triples never drawn: {sorted(issue - got)}"


def test_buffer_goal_covers_every_buffer_field():
    """The (opcode, memory, buffer, state) bins name every buffer field of every opcode that
    has one (the CFSE commands' ``ibuf`` / ``obuf`` / ``xbuf`` / ``mbuf`` too), for every
    buffer of the configuration (``PREDICT_PROJ``'s destination ``dbuf`` in IMEM or WMEM
    by its ``KEYS`` flag), and a sampled command names the same bins."""
    from exion.fields import ARG_FIELDS
    cfg = CONFIGS["4x4"]
    goal = buffer_goal(cfg)
    bufs = {"ibuf", "wbuf", "obuf", "xbuf", "mbuf", "dbuf"}
    for op in OPS:
        used = {f.name for f in ARG_FIELDS if op in f.ops and f.name in bufs}
        if op in ("LOAD_IMEM", "LOAD_WMEM", "READ_OMEM"):
            used = {fld for _, fld in BUFFERS_USED[op]}          # the one ``buf`` field
        if op == "PREDICT":
            used.discard("obuf")        # an exec field PREDICT ignores (it writes the mask)
        if op in DEST_BUFFERS:          # PREDICT_PROJ's destination, IMEM or WMEM
            assert {fld for _, fld in DEST_BUFFERS[op]} == {"dbuf"} and "dbuf" in used
            used.discard("dbuf")
        assert {fld for _, fld in BUFFERS_USED.get(op, ())} == used, op
    assert all(("PREDICT_PROJ", f"{mem}.dbuf", b, s) in goal for mem in ("imem", "wmem")
               for b in range(2) for s in ("free", "behind"))
    for op in ("GELU", "SOFTMAX", "RESIDUAL", "LAYERNORM"):
        assert ("RESIDUAL", "imem.xbuf", 1, "behind") in goal
        assert all((op, "omem", b, s) in goal for b in range(cfg.omem_buffers)
                   for s in ("free", "behind"))
    assert len(goal) == 2 * sum(
        {"imem": cfg.imem_buffers, "wmem": cfg.wmem_buffers, "omem": cfg.omem_buffers}[mem]
        for table in (BUFFERS_USED, DEST_BUFFERS)
        for used in table.values() for mem, _ in used)
    args, word = encode("LAYERNORM", n_ch=4, n_rows=1, ibuf=1, obuf=0, mbuf=1)
    got = buffer_fields(decode([args[f"ARG{i}"] for i in range(6)], word))
    assert got == [("imem", "imem", 1), ("omem", "omem", 0), ("omem.mbuf", "omem", 1)]
    for keys, mem in ((False, "imem"), (True, "wmem")):
        args, word = encode("PREDICT_PROJ", kc=1, n_ch=4, n_rows=1, ibuf=0, wbuf=0, dbuf=1,
                            flags=["KEYS"] if keys else [])
        got = buffer_fields(decode([args[f"ARG{i}"] for i in range(6)], word))
        assert got[-1] == (f"{mem}.dbuf", mem, 1)


def test_beat_fifo_and_bits_of_rows():
    """The stream FIFO gives beats back in order across the arrays they came in; the
    conflict vectors of many mask rows at once equal one by one (64 rows: bit 63)."""
    f = BeatFifo(2)
    f.extend(np.arange(6).reshape(3, 2))
    f.extend(np.zeros((0, 2), np.int64))
    f.extend(np.arange(6, 10))
    assert len(f) == 5
    assert f.take(2).tolist() == [[0, 1], [2, 3]]
    assert f.take(2).tolist() == [[4, 5], [6, 7]] and len(f) == 1
    with pytest.raises(ValueError):
        f.take(2)
    assert f.take(0).shape == (0, 2) and f.take(1).tolist() == [[8, 9]] and len(f) == 0
    rng = np.random.default_rng(4)
    for rows in (1, 4, 16, 63, 64):
        m = rng.random((9, rows)) < 0.5
        m[0] = True
        assert bits_of_rows(m) == [bits_of(r) for r in m]


def test_every_opcode_has_a_row_and_docs_table():
    from exion.regmap import OPCODES
    assert set(OPS) == set(OPCODES) == set(CHECKS)
    doc = (ROOT / "docs" / "core-model.md").read_text()
    assert markdown_table() in doc, "docs/core-model.md: regenerate the check table"


def test_predict_64_keys_register_bits():
    """64 keys: SKIP_V / SKIP_K bit 63 (a Python integer, not an int64 that overflows; the
    random command streams found this)."""
    cfg = CONFIGS["4x4"]
    m = CoreModel(cfg)
    _run(m, "PREDICT", kc=1, topk=2, n_keys=64, ibuf=0, wbuf=0, n_rows=cfg.rows, q_th=0)
    kept = (1 << 2) - 1                     # all scores 0: no gap, keys 0 and 1 kept
    assert m.regs.skip_v == m.regs.skip_k == ((1 << 64) - 1) ^ kept
    assert m.read("SKIP_V_HI") == 0xFFFFFFFF and m.regs.dominant == 0


def test_smem_halves():
    """SCHEDULE / sparse GEMM with the half field: each half holds schedule_depth // 2 vectors
    from its first address, BLOCKS_H1 / BLOCKS_H2 count them, a split SCHEDULE writes
    SCHED_CYCLES but not CYCLES, a GEMM of a half runs that half's vectors (the same outputs as
    the whole-SMEM order), its dispatch check uses that half's count, a half overflows at
    depth // 2, and the whole-SMEM commands keep their meaning."""
    cfg = CONFIGS["8x3"]
    rng = np.random.default_rng(17)
    H = cfg.schedule_depth // 2
    kc = 2
    k, n = kc * cfg.lanes, 12
    masks = [rng.random((cfg.rows, n)) < 0.3 for _ in range(2)]
    scheds = [_greedy(mk, cfg) for mk in masks]
    assert all(0 < len(s.blocks) <= H for s in scheds)
    x = _rand(rng, (cfg.rows, k), cfg, 0.5)
    w = _rand(rng, (k, n), cfg, 0.5)
    serial, split = CoreModel(cfg), CoreModel(cfg)
    for m in (serial, split):
        _load_x(m, 0, x)
    outs = {}
    for half in (1, 2):
        mk, sched = masks[half - 1], scheds[half - 1]
        img = wmem_image(w, sched, cfg)
        for m, h in ((serial, 0), (split, half)):
            m.state.mask[:n] = mk.T
            _run(m, "SCHEDULE", n_ch=n, half=h)
            _load_w(m, half - 1, img)
        cvs = [int(sum(1 << r for r in range(cfg.rows) if mk[r, c])) for c in range(n)]
        assert split.regs.sched_cycles == cycle_model.schedule_cycles(cvs, cfg=cfg)
        assert split.regs.blocks_of(half) == len(sched.blocks)
        first = (half - 1) * H
        assert split.state.smem[first:first + len(sched.blocks)] == sched.words()
        # the serial model runs its GEMM now (one SMEM); the split one after both SCHEDULEs
        _run(serial, "GEMM", flags=("SPARSE",), kc=kc, shift=4, n_rows=cfg.rows,
             wbuf=half - 1, obuf=half - 1)
        outs[half] = serial.state.omem[half - 1].copy()
    assert split.regs.blocks == 0 and split.regs.cycles == 0, "split SCHEDULE left CYCLES"
    assert split.read("BLOCKS_H1") == len(scheds[0].blocks)
    assert split.read("BLOCKS_H2") == len(scheds[1].blocks)
    assert split.read("SCHED_CYCLES") == split.regs.sched_cycles
    for half in (1, 2):
        _run(split, "GEMM", flags=("SPARSE",), kc=kc, shift=4, n_rows=cfg.rows,
             wbuf=half - 1, obuf=half - 1, half=half)
        assert split.regs.cycles == cycle_model.compute_cycles(len(scheds[half - 1].blocks),
                                                               k, cfg)
        assert np.array_equal(split.state.omem[half - 1], outs[half])
        y = intsem.requantize(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), 4,
                              cfg.data_width)
        mk = masks[half - 1]
        assert np.array_equal(outs[half][:, :n][mk], y[mk])
    # dispatch check with the half's count: BLOCKS_H2 * kc past WMEM from this wbase
    nb = split.regs.blocks_of(2)
    a, word = encode("GEMM", flags=("SPARSE",), kc=kc, n_rows=1, half=2,
                     wbase=cfg.words("wmem") - nb * kc + 1)
    assert split.issue(a, word) == 0
    assert [o.fault for o in split.run()] == ["ADDR_RANGE"]
    split.clear_error()
    # a half overflows at depth // 2; the whole SMEM at depth
    split.state.mask[:] = True
    cause, outs_ = split.step(*encode("SCHEDULE", n_ch=split.state.map.channels, half=2))
    assert outs_[0].fault == "SMEM_OVERFLOW" and split.regs.blocks_of(2) == H
    assert split.state.smem[:len(scheds[0].blocks)] == scheds[0].words(), "lower half kept"
    split.clear_error()
    # half = 3 is refused for both commands
    for op, f in (("SCHEDULE", dict(n_ch=n)), ("GEMM", dict(flags=("SPARSE",), kc=1, n_rows=1))):
        assert split.issue(*encode(op, half=3, **f)) == CAUSES["BAD_FIELD"]
        split.clear_error()
