"""cocotb bench of the EXION core, driven only through its host interface (sim/core_driver.py).

AXI4-Lite by ``cocotbext-axi``'s master (an independent implementation of the protocol), bulk
data by its AXI-Stream source and sink. Every expected value comes from the golden model:
``golden.intsem`` (GEMM), ``golden.ffn_reuse`` (FFN-Reuse), ``golden.eager`` (prediction),
``golden.conmerge`` / ``golden.schedule`` (the CAU's ConMerge vectors), ``golden.sdue``
(WMEM images of a schedule) and ``golden.cycle_model`` (the CYCLES register).

``EXION_CORE_TESTS`` (comma-separated) picks tests; ``EXION_CORE_REPORT`` names a JSON file
that receives the measured cycles (used by bench/bench_core.py). Every AXI4-Lite channel and
every stream pauses at random (cocotbext-axi pause generators, seeded), each cycle with the
probability ``EXION_CORE_PAUSE`` (default 0.2; the bench sets 0 for its wall-clock figures):
results and the cycle registers must not depend on it.
"""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

from exion.regmap import CAUSES, ID_VALUE, MAX_HEAD_DIM, QUEUE_DEPTH, REGISTERS, RESPONSES, encode
from golden import conmerge, cycle_model, eager, ffn_reuse, intsem
from golden.sdue import wmem_image
from sim.core_driver import CoreTB
from sim.tb_common import write_report

ROOT = Path(__file__).resolve().parent.parent

_REPORT: dict = {}


def _selected(name: str) -> bool:
    chosen = os.environ.get("EXION_CORE_TESTS", "")
    return not chosen or name in chosen.split(",")


def _record(key, value):
    _REPORT[key] = value
    write_report("EXION_CORE_REPORT", _REPORT)


def _rand(rng, shape, cfg, scale=1.0):
    hi = int(cfg.data_max * scale)
    return rng.integers(-hi, hi + 1, size=shape, dtype=np.int64)


async def _setup(dut) -> CoreTB:
    """Reset, then read every OMEM buffer into the mirror (memories keep their contents
    across the tests of one simulation; reset clears registers only)."""
    tb = await CoreTB.started(dut)
    for buf in range(tb.cfg.omem_buffers):
        tb.omem[buf] = await tb.read_omem(buf, 0, tb.cfg.words("omem"))
    return tb


def _cau(mask, cfg):
    return conmerge.cau_schedule(np.asarray(mask, bool), cfg, token_sort="none")


# -- tests ---------------------------------------------------------------------------------

@cocotb.test(skip=not _selected("registers"))
async def registers(dut):
    """ID, configuration registers, argument registers read back, idle status."""
    tb = await _setup(dut)
    assert await tb.read("ID") == ID_VALUE
    for name, value in tb.map.config_registers().items():
        got = await tb.read(name)
        assert got == value, f"{name}: {got} != {value}"
    for i in range(6):
        await tb.write(f"ARG{i}", 0x1234567 * (i + 1))
        assert await tb.read(f"ARG{i}") == (0x1234567 * (i + 1)) & 0xFFFFFFFF
    s = await tb.status()
    assert s["busy"] == 0 and s["error"] == 0 and s["level"] == 0
    assert await tb.read("DONE") == tb.cfg.omem_buffers     # the reads of _setup
    assert await tb.read(0x38) == 0   # unmapped
    await tb.check_traffic()            # the reads of _setup


@cocotb.test(skip=not _selected("control_port"))
async def control_port(dut):
    """The AXI4-Lite control port as docs/core.md specifies it: byte strobes (none: nothing
    changes, CMD issues nothing; ARGn merge bytes; CMD, CTRL and the mask window take whole
    words only, SLVERR otherwise), addresses inside a word (bits 1:0 select bytes), read-only
    registers (SLVERR), unmapped addresses (DECERR, reads 0)."""
    tb = await _setup(dut)
    rm = tb.map
    rng = np.random.default_rng(66)
    ok, slverr, decerr = RESPONSES["OKAY"], RESPONSES["SLVERR"], RESPONSES["DECERR"]
    arg = REGISTERS["ARG1"]
    # byte merging into an argument register, every strobe pattern, seeded values
    value = int(rng.integers(0, 1 << 32))
    await tb.write(arg, value)
    for strb in range(16):
        new = int(rng.integers(0, 1 << 32))
        assert await tb.write_strobed(arg, new, strb) == ok
        mask = sum(0xFF << (8 * b) for b in range(4) if strb >> b & 1)
        value = (value & ~mask) | (new & mask)
        assert await tb.read(arg) == value, f"ARG1 after strobes {strb:#x}"
    # byte writes and reads through the master's byte API (unaligned addresses)
    await tb.axil.write(arg + 2, b"\xab")
    value = (value & ~0xFF0000) | 0xAB0000
    assert (await tb.axil.read(arg + 1, 2)).data == value.to_bytes(4, "little")[1:3]
    assert await tb.read(arg) == value
    tb.args = {}
    done0 = await tb.read("DONE")
    args, word = encode("READ_OMEM", base=0, count=1, buf=0)
    for name, v in args.items():
        await tb.write(name, v)
    # CMD: no strobe issues nothing; some strobes: SLVERR, nothing; all: the command runs
    assert await tb.write_strobed(REGISTERS["CMD"], word, 0) == ok
    assert await tb.write_strobed(REGISTERS["CMD"], word, 0x3) == slverr
    s = await tb.status()
    assert s["level"] == 0 and not s["busy"] and not s["error"], s
    assert await tb.read("DONE") == done0
    assert await tb.write_strobed(REGISTERS["CMD"] + 1, word, 0xF) == ok   # its word
    tb.record(args, word)
    tb.check_omem(0, await tb.recv_omem(1), 0, "READ_OMEM issued at CMD + 1")
    await tb.expect_ok()
    assert await tb.read("DONE") == done0 + 1
    # CTRL: a partial write does not clear the error
    await tb.write("CMD", 0x7F)
    assert await tb.read("CAUSE") == CAUSES["BAD_OPCODE"]
    assert await tb.write_strobed(REGISTERS["CTRL"], 1, 0x1) == slverr
    assert (await tb.status())["error"]
    assert await tb.write_strobed(REGISTERS["CTRL"], 1, 0) == ok
    assert (await tb.status())["error"]
    assert await tb.write_strobed(REGISTERS["CTRL"], 1, 0xF) == ok
    assert not (await tb.status())["error"]
    # mask window: whole words only
    ch = int(rng.integers(0, rm.channels))
    addr = rm.mask_base + 4 * (ch * rm.mask_stride + rm.mask_words - 1)
    before = await tb.read(addr)
    assert await tb.write_strobed(addr, ~before, 0x1) == slverr
    assert await tb.read(addr) == before
    # read-only registers and the SMEM window: SLVERR, unchanged
    for name in ("ID", "STATUS", "CYCLES", "BUSY_CYCLES", "CFG_ROWS"):
        v = await tb.read(name)
        assert await tb.write_strobed(REGISTERS[name], ~v, 0xF) == slverr, name
        if name in ("ID", "CFG_ROWS"):
            assert await tb.read(name) == v, name
    assert await tb.write_strobed(rm.smem_base, 1, 0xF) == slverr
    # unmapped: DECERR both ways, reads 0; an unaligned address inside a register is mapped
    mapped = set(REGISTERS.values())
    holes = [a for a in range(0, 0x100, 4) if a not in mapped]
    for a in [holes[0], holes[-1], *rng.choice(holes, 3)]:
        a = int(a) + int(rng.integers(0, 4))
        r = await tb.axil.read(a, 1)
        assert r.resp == decerr and r.data == b"\0", f"read {a:#x}: {r}"
        assert await tb.write_strobed(a, 0xFFFFFFFF, 0xF) == decerr, f"write {a:#x}"
    assert (await tb.axil.read(REGISTERS["ID"] + 3, 1)).resp == ok
    assert await tb.read("ID") == ID_VALUE
    await tb.expect_ok()
    await tb.check_traffic()


async def run_dense_gemm(tb: CoreTB, rng, groups: int, k: int, n: int, shift: int,
                         label: str, *, tiles: int = 1, partial: bool = True,
                         check: bool = True) -> dict:
    """``X (M x K) @ W (K x tiles*n)``: ``tiles`` weight tiles of ``n`` channels (one WMEM
    buffer each), ``groups`` row groups of ``rows`` tokens (the last one partial when
    ``partial``). Weight-stationary: tile by tile, every row group per tile, one GEMM command
    each. Everything overlaps: the next tile's weights stream into another WMEM buffer
    (``s_axis_wmem``) and the next group's tokens into another IMEM buffer (``s_axis_imem``)
    while the array computes, outputs stream out of the other OMEM buffer; program order
    loads the next group before reading the previous one.

    Returns wall cycles (first GEMM issued to last output read), useful MACs, blocks per
    GEMM, the cycles of the first tile's load, and the cycle each output frame arrived.
    """
    cfg = tb.cfg
    m_tokens = groups * cfg.rows - (1 if partial and groups > 1 and cfg.rows > 1 else 0)
    x = _rand(rng, (m_tokens, k), cfg, 0.5)
    ws = [_rand(rng, (k, n), cfg, 0.5) for _ in range(tiles)]
    kc = intsem.lane_chunks(k, cfg.lanes)
    nbi, nbw, nbo = cfg.imem_buffers, cfg.wmem_buffers, cfg.omem_buffers
    xs = [x[g * cfg.rows:(g + 1) * cfg.rows] for g in range(groups)]
    steps = [(j, g) for j in range(tiles) for g in range(groups)]
    t_w = tb.cycle
    await tb.load_wmem(0, tb.dense_wmem(ws[0]), streams=1)  # dense blocks read stream 0 only
    await tb.load_imem(0, xs[0])
    await tb.expect_ok()
    t0 = tb.cycle
    # Outputs are checked by a reader task so that the host never waits for a frame before
    # issuing the next command (each READ's expectation is a snapshot taken at its issue).
    expected = []
    frame_times = []

    async def reader():
        for i in range(len(steps)):
            got = await tb.recv_omem(n)
            frame_times.append(tb.cycle)
            if check:
                step, exp = expected[i]
                bad = np.argwhere(got != exp)
                assert not len(bad), (f"{label} (tile, group) {step}: {len(bad)} OMEM words "
                                      f"differ, first {tuple(bad[0])}")
        return tb.cycle

    task = cocotb.start_soon(reader())
    for i in range(len(steps) + 1):
        if i < len(steps):
            j, g = steps[i]
            await tb.issue("GEMM", kc=kc, shift=shift, ch_base=0, n_ch=n, ibuf=i % nbi,
                           wbuf=j % nbw, obuf=i % nbo, n_rows=len(xs[g]), wbase=0)
            if g == 0 and j + 1 < tiles:
                await tb.load_wmem((j + 1) % nbw, tb.dense_wmem(ws[j + 1]), streams=1)
        if i + 1 < len(steps):
            await tb.load_imem((i + 1) % nbi, xs[steps[i + 1][1]])
        if i:
            expected.append((steps[i - 1], tb.omem[(i - 1) % nbo, :, :n].copy()))
            await tb.issue("READ_OMEM", base=0, count=n, buf=(i - 1) % nbo)
        if i < len(steps):
            tb.gemm_expect(i % nbo, xs[g], ws[j], shift)
    wall = await task - t0
    await tb.expect_ok()
    nblk = -(-n // cfg.cols)
    assert await tb.read("CYCLES") == cycle_model.compute_cycles(nblk, k, cfg)
    return {"wall": wall, "macs": tiles * int(m_tokens) * k * n, "blocks": nblk,
            "first_load": t0 - t_w, "frame_times": [t - t0 for t in frame_times]}


@cocotb.test(skip=not _selected("dense_gemm"))
async def dense_gemm(dut):
    """Dense GEMM larger than one tile: several row groups (last one partial), several column
    blocks (last one partial), K not a multiple of the lanes; double-buffered IMEM/OMEM."""
    tb = await _setup(dut)
    cfg = tb.cfg
    rng = np.random.default_rng(5)
    k = min(3 * cfg.lanes + 1, tb.kc_max * cfg.lanes)
    kc = intsem.lane_chunks(k, cfg.lanes)
    n = min(3 * cfg.cols + 2, cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    r = await run_dense_gemm(tb, rng, 3, k, n, 5, "dense", tiles=2)
    _record("dense_gemm", dict(r, k=k, n=n))
    # Extremes: most negative operands on every lane, saturating accumulators.
    lo = cfg.data_min
    x = np.full((cfg.rows, cfg.lanes * tb.kc_max), lo, np.int64)
    w = np.full((cfg.lanes * tb.kc_max, cfg.cols), lo, np.int64)
    await tb.load_wmem(1 % cfg.wmem_buffers, tb.dense_wmem(w))
    await tb.load_imem(0, x)
    await tb.issue("GEMM", kc=tb.kc_max, shift=0, n_ch=cfg.cols, ibuf=0,
                   wbuf=1 % cfg.wmem_buffers, obuf=0, n_rows=cfg.rows)
    tb.gemm_expect(0, x, w, 0)
    tb.check_omem(0, await tb.read_omem(0, 0, cfg.cols), 0, "most negative")
    await tb.expect_ok()
    await tb.check_traffic()


@cocotb.test(skip=not _selected("back_to_back"))
async def back_to_back(dut):
    """GEMMs queued back to back (behind a load they wait for), of two reduction lengths and
    three shifts: no idle SDUE cycle between them (BUSY_CYCLES grows by
    golden.cycle_model.gemm_sequence_cycles), each command's outputs requantized with its own
    shift although they drain under the next command's blocks."""
    tb = await _setup(dut)
    cfg = tb.cfg
    rng = np.random.default_rng(13)
    Bw, Bo = cfg.wmem_buffers, cfg.omem_buffers
    kcs = (1, tb.kc_max)
    n = min(2 * cfg.cols + 1, cfg.words("omem"), (cfg.words("wmem") // kcs[1]) * cfg.cols)
    x = _rand(rng, (cfg.rows, kcs[1] * cfg.lanes), cfg, 0.5)
    ws = [_rand(rng, (kc * cfg.lanes, n), cfg, 0.5) for kc in kcs]
    for i, w in enumerate(ws):
        await tb.load_wmem(i % Bw, tb.dense_wmem(w), streams=1)
    await tb.expect_ok()
    runs = [(0, 5), (0, 9), (1, 6)]         # (weights, shift) of each GEMM
    busy0 = await tb.read("BUSY_CYCLES")
    # the load waits for its stream data and holds the GEMMs behind it in the queue
    await tb.issue("LOAD_IMEM", base=0, count=kcs[1], buf=0)
    for i, (j, shift) in enumerate(runs):
        await tb.issue("GEMM", kc=kcs[j], shift=shift, n_ch=n, ibuf=0, wbuf=j % Bw,
                       obuf=i % Bo, n_rows=cfg.rows)
    words = tb.lane_words(x)
    await tb.src_i.send(AxiStreamFrame([w for bank in words for w in bank]))
    await tb.expect_ok()
    nblk = -(-n // cfg.cols)
    want = cycle_model.gemm_sequence_cycles([(nblk, kcs[j] * cfg.lanes) for j, _ in runs], cfg)
    busy = (await tb.read("BUSY_CYCLES") - busy0) & 0xFFFFFFFF
    assert busy == want, f"SDUE busy {busy} cycles for back-to-back GEMMs, model {want}"
    j, shift = runs[-1]
    assert await tb.read("CYCLES") == cycle_model.compute_cycles(nblk, kcs[j] * cfg.lanes, cfg)
    for i, (j, shift) in enumerate(runs):
        tb.gemm_expect(i % Bo, x[:, :kcs[j] * cfg.lanes], ws[j], shift)
    for b in range(min(Bo, len(runs))):
        tb.check_omem(b, await tb.read_omem(b, 0, n), 0, f"back-to-back GEMM, OMEM buffer {b}")
    _record("back_to_back", {"busy": busy, "model": want, "blocks": nblk, "kc": list(kcs)})
    await tb.check_traffic()


@cocotb.test(skip=not _selected("throughput"))
async def throughput(dut):
    """Many row groups over several full weight tiles: wall-clock MAC utilization with
    overlapped loads and reads (bench/bench_core.py reports it; the outputs are checked)."""
    tb = await _setup(dut)
    cfg = tb.cfg
    groups = int(os.environ.get("EXION_CORE_GROUPS", "6"))
    tiles = int(os.environ.get("EXION_CORE_TILES", "2"))
    kc = int(os.environ.get("EXION_CORE_KC", min(tb.kc_max, max(cfg.cols, 2))))
    k = kc * cfg.lanes
    n = min(cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    rng = np.random.default_rng(9)
    r = await run_dense_gemm(tb, rng, groups, k, n, 12, "throughput", tiles=tiles,
                             partial=False)
    _record("throughput", dict(r, groups=groups, tiles=tiles, k=k, n=n,
                               tokens=groups * cfg.rows))
    await tb.check_traffic()


@cocotb.test(skip=not _selected("ffn_reuse"))
async def ffn_reuse_loop(dut):
    """One FFN layer's FC1 through a short denoising loop: a dense iteration that builds the
    keep-mask on the way into OMEM, then N sparse iterations (CAU schedule, sparse GEMM into
    the same OMEM buffer, whose unkept words are the cache), checked iteration by iteration."""
    tb = await _setup(dut)
    cfg = tb.cfg
    rng = np.random.default_rng(21)
    n_iter = 1 + max(1, min(cfg.ffn_reuse_n, 3))
    k = int(os.environ.get("EXION_CORE_FFN_K", min(2 * cfg.lanes + 3, tb.kc_max * cfg.lanes)))
    kc = intsem.lane_chunks(k, cfg.lanes)
    n = int(os.environ.get("EXION_CORE_FFN_N", 5 * cfg.cols + 1))
    n = min(n, cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    w1 = _rand(rng, (k, n), cfg, 0.5)
    x = _rand(rng, (cfg.rows, k), cfg, 0.5)
    acc = intsem.int_matmul(x, w1, cfg.lanes, cfg.acc_width)
    shift = eager.auto_shift(acc, cfg.data_width)
    dense_q = intsem.requantize(acc, shift, cfg.data_width)
    keep = float(os.environ.get("EXION_CORE_FFN_KEEP", "0.3"))   # fraction of outputs kept
    th_hi = int(np.percentile(dense_q, 100 * (1 - 0.8 * keep)))
    th_lo = int(np.percentile(dense_q, 100 * 0.2 * keep))
    report = []
    obuf = 0
    await tb.load_wmem(0, tb.dense_wmem(w1))
    cache = mask = None
    for t in range(n_iter):
        if t:
            x = np.clip(x + rng.integers(-40, 41, size=x.shape), cfg.data_min, cfg.data_max)
        ibuf = t % cfg.imem_buffers
        await tb.load_imem(ibuf, x)
        if t == 0:
            await tb.issue("GEMM", flags=("FFN_MASK",), kc=kc, shift=shift, n_ch=n, ibuf=ibuf,
                           wbuf=0, obuf=obuf, n_rows=cfg.rows, th_hi=th_hi, th_lo=th_lo)
            await tb.expect_ok()
            cycles = await tb.read("CYCLES")
            assert cycles == cycle_model.compute_cycles(-(-n // cfg.cols), k, cfg)
            cache = tb.gemm_expect(obuf, x, w1, shift)
            mask = ffn_reuse.keep_mask_int(cache, th_hi, th_lo)
            assert 0 < mask.sum() < mask.size, "test data must give a mixed keep-mask"
            got_mask = await tb.read_mask(n)
            assert np.array_equal(got_mask, mask), "FFN keep-mask differs from golden"
            report.append({"t": t, "dense": True, "cycles": cycles})
        else:
            await tb.issue("SCHEDULE", n_ch=n)
            await tb.expect_ok()
            sched = _cau(mask, cfg)
            n_blocks = await tb.read("BLOCKS")
            assert n_blocks == len(sched.blocks), f"{n_blocks} blocks, golden {len(sched.blocks)}"
            words = await tb.read_smem(n_blocks)
            assert words == sched.words(), "SMEM ConMerge vectors differ from the golden CAU rule"
            cvs = [sum(1 << r for r in range(cfg.rows) if mask[r, ch]) for ch in range(n)]
            s_cycles = await tb.read("CYCLES")
            assert s_cycles == cycle_model.schedule_cycles(cvs, cfg=cfg), \
                f"SCHEDULE {s_cycles} cycles, model {cycle_model.schedule_cycles(cvs, cfg=cfg)}"
            wbuf = 1 % cfg.wmem_buffers
            await tb.load_wmem(wbuf, wmem_image(w1, sched, cfg))
            await tb.issue("GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=ibuf, wbuf=wbuf,
                           obuf=obuf, n_rows=cfg.rows)
            await tb.expect_ok()
            cycles = await tb.read("CYCLES")
            assert cycles == cycle_model.compute_cycles(n_blocks, k, cfg)
            exp = ffn_reuse.reuse_fc1_int(x, w1, mask, cache, shift, cfg)
            tb.omem[obuf, :, :n] = exp
            report.append({"t": t, "dense": False, "cycles": cycles, "schedule": s_cycles,
                           "blocks": n_blocks, "sparsity": float(1 - mask.mean())})
        got = await tb.read_omem(obuf, 0, n)
        tb.check_omem(obuf, got, 0, f"FFN iteration {t}")
    _record("ffn_reuse", report)
    await tb.check_traffic()


@cocotb.test(skip=not _selected("trace_ffn"))
async def trace_ffn(dut):
    """A real FFN-Reuse keep-mask (the trained DiT's FC1, data/traces): a dense FC1 row group
    against its sparse iteration (mask through the window, CAU schedule, sparse GEMM), outputs
    checked, cycles against golden.cycle_model."""
    from workload.traces import load_traces
    tb = await _setup(dut)
    cfg = tb.cfg
    kind = load_traces(ROOT / "data" / "traces")["ffn"]
    idx = int(os.environ.get("EXION_CORE_TRACE", "0"))
    d_model = int(kind.gemm.get("K", 128))
    kc = min(intsem.lane_chunks(d_model, cfg.lanes), tb.kc_max)
    k = min(d_model, kc * cfg.lanes)
    n = min(kind.cols, tb.map.channels, (cfg.words("wmem") // kc) * cfg.cols)
    mask = kind.mask(idx)[:cfg.rows, :n]
    rng = np.random.default_rng(77)
    x = _rand(rng, (cfg.rows, k), cfg, 0.5)
    w = _rand(rng, (k, n), cfg, 0.5)
    shift = eager.auto_shift(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), cfg.data_width)
    await tb.load_wmem(0, tb.dense_wmem(w), streams=1)
    await tb.load_imem(0, x)
    await tb.issue("GEMM", kc=kc, shift=shift, n_ch=n, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
    await tb.expect_ok()
    dense = await tb.read("CYCLES")
    assert dense == cycle_model.compute_cycles(-(-n // cfg.cols), k, cfg)
    tb.gemm_expect(0, x, w, shift)
    tb.check_omem(0, await tb.read_omem(0, 0, n), 0, "trace dense FC1")
    await tb.write_mask(mask)
    await tb.issue("SCHEDULE", n_ch=n)
    await tb.expect_ok()
    sched_cycles = await tb.read("CYCLES")
    sched = _cau(mask, cfg)
    n_blocks = await tb.read("BLOCKS")
    assert await tb.read_smem(n_blocks) == sched.words(), "SMEM differs from the golden CAU rule"
    wbuf, obuf = 1 % cfg.wmem_buffers, 1 % cfg.omem_buffers
    await tb.load_wmem(wbuf, wmem_image(w, sched, cfg))
    await tb.issue("GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=0, wbuf=wbuf, obuf=obuf,
                   n_rows=cfg.rows)
    await tb.expect_ok()
    sparse = await tb.read("CYCLES")
    assert sparse == cycle_model.compute_cycles(n_blocks, k, cfg)
    tb.gemm_expect(obuf, x, w, shift, mask=mask)
    tb.check_omem(obuf, await tb.read_omem(obuf, 0, n), 0, "trace sparse FC1")
    _record("trace_ffn", {"trace": idx, "k": k, "n": n, "sparsity": float(1 - mask.mean()),
                          "dense": dense, "sparse": sparse, "schedule": sched_cycles,
                          "blocks": n_blocks, "dense_blocks": -(-n // cfg.cols)})
    await tb.check_traffic()


@cocotb.test(skip=not _selected("eager"))
async def eager_head(dut):
    """One attention head: PREDICT (shift-add scores, exact selection) gives the keep-mask,
    dominant queries and skippable K/V rows; SCHEDULE + sparse GEMM compute QK^T's kept
    entries."""
    tb = await _setup(dut)
    cfg = tb.cfg
    rng = np.random.default_rng(33)
    kc = max(1, min(tb.kc_max, MAX_HEAD_DIM // cfg.lanes, 4))
    d = kc * cfg.lanes
    n_keys = min(24, cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    qp = _rand(rng, (cfg.rows, d), cfg, 0.3)
    kp = _rand(rng, (n_keys, d), cfg, 0.3)
    kp[3] = qp[0] * 2 // 3              # make some queries dominant
    s = eager.shift_add_matmul(qp, kp.T, cfg.lod_steps)
    srt = -np.sort(-s, axis=1)
    q_th = int(np.median(srt[:, 0] - srt[:, 1]))
    topk = 3
    keep, dom = eager.select(s, q_th, topk / n_keys)
    await tb.load_imem(0, qp)
    await tb.load_wmem(0, tb.dense_wmem(kp.T))
    await tb.issue("PREDICT", kc=kc, topk=topk, n_keys=n_keys, ibuf=0, wbuf=0, n_rows=cfg.rows,
                   q_th=q_th)
    await tb.expect_ok()
    p_cycles = await tb.read("CYCLES")
    p_model = cycle_model.predict_cycles(n_keys, kc, operand_stages=cfg.operand_stages)
    assert p_cycles == p_model, f"PREDICT {p_cycles} cycles, model {p_model}"
    got = await tb.read_mask(n_keys)
    assert np.array_equal(got, keep), "predicted keep-mask differs from golden select"
    skip_q, skip_k, skip_v = eager.skippable_rows(keep, dom)
    dom_reg = await tb.read("DOMINANT_LO") | await tb.read("DOMINANT_HI") << 32
    assert [(dom_reg >> r) & 1 for r in range(cfg.rows)] == list(skip_q.astype(int))
    for name, exp in (("SKIP_K", skip_k), ("SKIP_V", skip_v)):
        v = await tb.read(name + "_LO") | await tb.read(name + "_HI") << 32
        assert [(v >> j) & 1 for j in range(n_keys)] == list(exp.astype(int)), name
        assert v >> n_keys == 0, name
    # sparse QK^T with the exact operands
    q = _rand(rng, (cfg.rows, d), cfg, 0.5)
    kx = _rand(rng, (n_keys, d), cfg, 0.5)
    ibuf, wbuf, obuf = 1 % cfg.imem_buffers, 1 % cfg.wmem_buffers, 1 % cfg.omem_buffers
    await tb.load_imem(ibuf, q)
    await tb.issue("SCHEDULE", n_ch=n_keys)
    await tb.expect_ok()
    cvs = [sum(1 << r for r in range(cfg.rows) if keep[r, j]) for j in range(n_keys)]
    s_cycles = await tb.read("CYCLES")
    assert s_cycles == cycle_model.schedule_cycles(cvs, cfg=cfg), \
        f"SCHEDULE {s_cycles} cycles, model {cycle_model.schedule_cycles(cvs, cfg=cfg)}"
    sched = _cau(keep, cfg)
    n_blocks = await tb.read("BLOCKS")
    assert await tb.read_smem(n_blocks) == sched.words(), "SMEM differs from the golden CAU rule"
    await tb.load_wmem(wbuf, wmem_image(kx.T, sched, cfg))
    await tb.issue("GEMM", flags=("SPARSE",), kc=kc, shift=6, ibuf=ibuf, wbuf=wbuf, obuf=obuf,
                   n_rows=cfg.rows)
    await tb.expect_ok()
    g_cycles = await tb.read("CYCLES")
    assert g_cycles == cycle_model.compute_cycles(n_blocks, d, cfg)
    tb.gemm_expect(obuf, q, kx.T, 6, mask=keep)
    tb.check_omem(obuf, await tb.read_omem(obuf, 0, n_keys), 0, "sparse QK^T")
    _record("eager", {"predict": p_cycles, "schedule": s_cycles,
                      "gemm": g_cycles, "blocks": n_blocks, "keys": n_keys, "kc": kc,
                      "kept": int(keep.sum()), "dominant": int(dom.sum())})
    await tb.check_traffic()


@cocotb.test(skip=not _selected("errors"))
async def errors(dut):
    """Every cause code: the command is refused, error and cause are set, memories and the
    queue are unchanged, later commands are refused until the host clears the error, and the
    core then works normally."""
    tb = await _setup(dut)
    cfg = tb.cfg
    rng = np.random.default_rng(44)
    kc = min(2, tb.kc_max)
    k, n = kc * cfg.lanes, min(2 * cfg.cols, cfg.words("omem"))
    x = _rand(rng, (cfg.rows, k), cfg, 0.5)
    w = _rand(rng, (k, n), cfg, 0.5)
    mask = rng.random((cfg.rows, n)) < 0.5
    await tb.load_wmem(0, tb.dense_wmem(w))
    await tb.load_imem(0, x)
    await tb.issue("GEMM", kc=kc, shift=4, n_ch=n, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
    tb.gemm_expect(0, x, w, 4)
    await tb.write_mask(mask)
    await tb.expect_ok()
    done0 = await tb.read("DONE")
    cycles0 = await tb.read("CYCLES")
    Di, Dw, Do = cfg.words("imem"), cfg.words("wmem"), cfg.words("omem")
    gemm = dict(kc=kc, shift=4, n_ch=n, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
    cases = [
        ("BAD_OPCODE", *encode("GEMM", **gemm)[:1], 0x7F),
        ("ADDR_RANGE", *encode("LOAD_IMEM", base=Di - 1, count=2, buf=0)),
        ("ADDR_RANGE", *encode("LOAD_WMEM", base=0, count=Dw + 1, buf=0)),
        ("ADDR_RANGE", *encode("READ_OMEM", base=Do, count=1, buf=0)),
        ("ADDR_RANGE", *encode("GEMM", **dict(gemm, ch_base=Do - 1, n_ch=2))),
        ("ADDR_RANGE", *encode("SCHEDULE", n_ch=Do + 1)),
        ("TILE", *encode("GEMM", **dict(gemm, n_rows=cfg.rows + 1))),
        ("TILE", *encode("GEMM", **dict(gemm, kc=Di + 1))),
        ("TILE", *encode("PREDICT", kc=MAX_HEAD_DIM // cfg.lanes + 1, topk=1, n_keys=4,
                         n_rows=1)),
        ("TILE", *encode("PREDICT", kc=1, topk=1, n_keys=65, n_rows=1)),
        ("BAD_BUFFER", *encode("LOAD_IMEM", base=0, count=1, buf=cfg.imem_buffers)),
        ("BAD_BUFFER", *encode("READ_OMEM", base=0, count=1, buf=cfg.omem_buffers)),
        ("BAD_BUFFER", *encode("GEMM", **dict(gemm, wbuf=cfg.wmem_buffers))),
        ("BAD_FIELD", *encode("LOAD_WMEM", base=0, count=0, buf=0)),
        ("BAD_FIELD", *encode("LOAD_WMEM", base=0, count=1, buf=0,
                              streams=cfg.merge_degree + 1)),
        ("BAD_FIELD", *encode("GEMM", **dict(gemm, shift=cfg.acc_width))),
        ("BAD_FIELD", *encode("GEMM", flags=("SPARSE", "FFN_MASK"), **gemm)),
        ("BAD_FIELD", *encode("PREDICT", kc=1, topk=0, n_keys=4, n_rows=1)),
    ]
    if cfg.drain_ports > 1:  # FFN_MASK writes drain_ports mask entries of one word at a time
        cases.append(("BAD_FIELD", *encode("GEMM", flags=("FFN_MASK",),
                                           **dict(gemm, ch_base=1, n_ch=1))))
    for cause, args, word in cases:
        await tb.issue_raw(args, word, record=False)
        s = await tb.status()
        assert s["error"] and not s["busy"], f"{cause}: status {s}"
        got = await tb.read("CAUSE")
        assert got == CAUSES[cause], f"word {word:#x}: cause {got}, expected {CAUSES[cause]}"
        assert await tb.read("ERR_CMD") == word
        # refused while the error is set, even a good command; the cause stays
        await tb.issue("READ_OMEM", record=False, base=0, count=1, buf=0)
        assert (await tb.status())["level"] == 0 and await tb.read("CAUSE") == CAUSES[cause]
        await tb.write("CTRL", 1)
        s = await tb.status()
        assert not s["error"] and await tb.read("CAUSE") == 0
    assert await tb.read("DONE") == done0, "a refused command ran"
    # checked at dispatch: a sparse GEMM whose BLOCKS * kc run past WMEM (BLOCKS is known
    # only after the SCHEDULE before it); dropped, the commands after it still run
    await tb.issue("SCHEDULE", n_ch=n)
    await tb.expect_ok()
    blocks = await tb.read("BLOCKS")
    assert blocks >= 1
    args, word = encode("GEMM", flags=("SPARSE",), **dict(gemm, wbase=Dw - blocks * kc + 1))
    await tb.issue_raw(args, word)
    await tb.wait_idle()
    assert await tb.read("CAUSE") == CAUSES["ADDR_RANGE"] and await tb.read("ERR_CMD") == word
    await tb.write("CTRL", 1)
    done0 = await tb.read("DONE")
    cycles0 = await tb.read("CYCLES")
    assert await tb.read("CYCLES") == cycles0
    # queue full: a load waits for stream data, the queue fills behind it
    for i in range(QUEUE_DEPTH + 1):
        await tb.issue_raw(*encode("LOAD_IMEM", base=0, count=1, buf=1 % cfg.imem_buffers),
                           wait_room=False)
    s = await tb.status()
    assert not s["error"] and s["queue_full"] and s["level"] == QUEUE_DEPTH
    args, word = encode("LOAD_IMEM", base=0, count=1, buf=1 % cfg.imem_buffers)
    await tb.issue_raw(args, word, wait_room=False, record=False)
    assert (await tb.status())["error"] and await tb.read("CAUSE") == CAUSES["QUEUE_FULL"]
    await tb.write("CTRL", 1)
    await tb.src_i.send(AxiStreamFrame([0] * (cfg.rows * (QUEUE_DEPTH + 1))))
    await tb.expect_ok()
    # nothing the refused commands named was touched: OMEM, mask, IMEM/WMEM (recompute)
    tb.check_omem(0, await tb.read_omem(0, 0, n), 0, "OMEM after refused commands")
    assert np.array_equal(await tb.read_mask(n), mask), "mask changed by a refused command"
    obuf = 1 % cfg.omem_buffers
    await tb.issue("GEMM", **dict(gemm, obuf=obuf))
    tb.gemm_expect(obuf, x, w, 4)
    tb.check_omem(obuf, await tb.read_omem(obuf, 0, n), 0, "GEMM after the error cases")
    await tb.expect_ok()
    await tb.check_traffic()


@cocotb.test(skip=not _selected("reset"))
async def reset_mid_command(dut):
    """Reset in the middle of a GEMM: the core comes back idle and error-free and the next
    commands run correctly."""
    tb = await _setup(dut)
    cfg = tb.cfg
    rng = np.random.default_rng(55)
    kc = tb.kc_max
    k = kc * cfg.lanes
    n = min(cfg.words("omem"), (cfg.words("wmem") // kc) * cfg.cols)
    x = _rand(rng, (cfg.rows, k), cfg, 0.5)
    w = _rand(rng, (k, n), cfg, 0.5)
    await tb.load_wmem(0, tb.dense_wmem(w))
    await tb.load_imem(0, x)
    await tb.expect_ok()
    await tb.issue("GEMM", kc=kc, shift=7, n_ch=n, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
    await tb.issue("READ_OMEM", base=0, count=n, buf=0)
    await ClockCycles(dut.clk, max(3, cycle_model.compute_cycles(-(-n // cfg.cols), k, cfg) // 2))
    assert (await tb.status())["exec_busy"], "the GEMM finished before the reset"
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    tb.args, tb.issued, tb.done = {}, 0, 0     # reset cleared the argument registers
    tb.commands = []                           # and the byte counters
    await ClockCycles(dut.clk, 2)
    s = await tb.status()
    assert not s["busy"] and not s["error"] and s["level"] == 0, s
    assert await tb.read("DONE") == 0
    assert tb.dut.m_axis_tvalid.value == 0
    await tb.issue("GEMM", kc=kc, shift=7, n_ch=n, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
    tb.gemm_expect(0, x, w, 7)
    tb.check_omem(0, await tb.read_omem(0, 0, n), 0, "GEMM after reset")
    await tb.expect_ok()
    await tb.check_traffic()
