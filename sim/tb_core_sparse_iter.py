"""A whole FFN-Reuse loop on the core (hw/core.py) with the CAU overlapped: mask-memory halves.

Per row group ``g`` (halves ``A = 1 + g % 2``, ``B = 1 + (g + 1) % 2``) the core runs the
dense FC1 ``GEMM`` with ``FFN_MASK`` of group ``g + 1`` into mask half ``B`` while the
``SCHEDULE`` of group ``g`` reads mask half ``A``; then the ``SCHEDULE`` of group ``g + 1``
(SMEM half ``B``, mask half ``B``) runs beside the sparse ``GEMM`` of group ``g`` (SMEM half
``A``), whose weights (``golden.sdue.wmem_image`` of the group's schedule) were loaded into
WMEM buffer ``A`` while the previous group computed. The sparse GEMM writes the kept outputs
of the group's next-iteration tokens into the OMEM buffer that holds its dense outputs (the
FFN-Reuse cache), and a ``READ_OMEM`` returns them (docs/core.md, "Mask-memory halves").

Every command also goes to the command-level model (:class:`golden.core_model.CoreModel`):
every ``READ_OMEM`` frame must be bit-exact with it, ``CAU_BESIDE`` must grow (a
``SCHEDULE`` did run beside a ``GEMM`` / ``PREDICT``), ``BLOCKS_H1``, ``BLOCKS_H2``,
``CYCLES``, ``SCHED_CYCLES``, ``DONE``, ``CAUSE`` equal to it and ``BYTES_IN`` /
``BYTES_OUT`` to ``golden.cycle_model.stream_bytes``; the model's outputs are checked
against ``golden.ffn_reuse.reuse_fc1_int``, both mask halves (mask window) against the
golden keep-masks (``golden.ffn_reuse.keep_mask_int``) and both SMEM halves against the
ConMerge vectors of ``golden.conmerge.cau_schedule`` of the last two groups. ``mhalf`` = 3
is refused (``BAD_FIELD``) as the model says.

Environment: ``EXION_ITER_GROUPS`` (row groups, default 5), ``EXION_ITER_KC`` (lane chunks
of K, default 4), ``EXION_ITER_REPORT`` (a JSON file: wall cycles of the loop and the
per-group SCHEDULE cycles and blocks), ``EXION_ITER_RESIDENT=1`` (every ``SCHEDULE`` of the
FFN loop with the ``RESIDENT`` flag: the CAU's resident rule, ``cau_schedule(...,
resident=True)``, whose schedules the sparse GEMMs then run from their own weight images).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np

from exion.limits import MAX_HEAD_DIM
from exion.regmap import mask_half
from golden import conmerge, cycle_model, eager, ffn_reuse, intsem
from golden.sdue import dense_wmem_image, wmem_image
from sim.core_driver import CoreTB
from sim.tb_common import write_report
from sim.tb_core_overlap import Twin

#: Registers compared with the model after the loop.
COMPARED = ("BLOCKS_H1", "BLOCKS_H2", "CYCLES", "SCHED_CYCLES", "DONE", "CAUSE")
#: The FFN loop's SCHEDULEs with the RESIDENT flag (the resident rule).
RESIDENT = os.environ.get("EXION_ITER_RESIDENT", "0") == "1"


def _data(cfg, rng, groups, kc, n):
    """Weights, dense and next-iteration tokens per group, shift, thresholds and the golden
    keep-mask and schedule of every group (each fits an SMEM half and a WMEM buffer)."""
    k = kc * cfg.lanes
    hi = cfg.data_max // 2
    half = cfg.schedule_depth // 2
    w = rng.integers(-hi, hi + 1, (k, n))
    for _ in range(100):
        xs = [rng.integers(-hi, hi + 1, (cfg.rows, k)) for _ in range(groups)]
        xps = [np.clip(x + rng.integers(-2, 3, x.shape), -hi, hi) for x in xs]
        ys0 = intsem.int_matmul(xs[0], w, cfg.lanes, cfg.acc_width)
        shift = eager.auto_shift(ys0, cfg.data_width)
        ys = [intsem.requantize(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), shift,
                                cfg.data_width) for x in xs]
        q = np.quantile(np.concatenate([y.ravel() for y in ys]), [0.2, 0.75])
        th_lo, th_hi = int(q[0]), int(q[1])
        masks = [ffn_reuse.keep_mask_int(y, th_hi, th_lo) for y in ys]
        scheds = [conmerge.cau_schedule(mk, cfg, token_sort="none", resident=RESIDENT)
                  for mk in masks]
        if all(0 < len(s.blocks) <= half and len(s.blocks) * kc <= cfg.words("wmem")
               for s in scheds):
            return w, xs, xps, shift, th_hi, th_lo, masks, scheds
    raise AssertionError("no data whose schedules fit an SMEM half")


def _cv(mask, c):
    return sum(1 << r for r in range(mask.shape[0]) if mask[r, c])


async def check_halves(tb, half: int, mask, sched, label: str):
    """Mask half ``half`` (window) holds ``mask`` and SMEM half ``half`` the ConMerge vectors
    of ``sched`` (golden.schedule's packing)."""
    m, cfg = tb.map, tb.cfg
    first = mask_half(m.channels, half)[0]
    for c in range(mask.shape[1]):
        cv = 0
        for i in range(m.mask_words):
            cv |= await tb.read(m.mask_base + 4 * ((first + c) * m.mask_stride + i)) << (32 * i)
        assert cv == _cv(mask, c), f"{label}: mask channel {c}"
    sfirst = (half - 1) * (cfg.schedule_depth // 2)
    for b, want in enumerate(sched.words()):
        v = 0
        for i in range(m.smem_words):
            v |= await tb.read(m.smem_base + 4 * ((sfirst + b) * m.smem_stride + i)) << (32 * i)
        assert v & ((1 << m.block_bits) - 1) == want, f"{label}: SMEM vector {b}"


@cocotb.test()
async def ffn_loop(dut):
    """FFN-Reuse loop, CAU overlapped: outputs, registers, mask halves, SMEM halves, bytes."""
    tb = await CoreTB.started(dut)
    cfg = tb.cfg
    groups = int(os.environ.get("EXION_ITER_GROUPS", "5"))
    kc = min(int(os.environ.get("EXION_ITER_KC", "4")), cfg.words("imem"))
    part = mask_half(tb.map.channels, 1)[1]
    n = min(16, part)
    assert cfg.wmem_buffers >= 3 and cfg.imem_buffers >= 2 and cfg.omem_buffers >= 2
    rng = np.random.default_rng(53)
    w, xs, xps, shift, th_hi, th_lo, masks, scheds = _data(cfg, rng, groups, kc, n)
    twin = Twin(tb)

    def ffn(g):
        return dict(flags=("FFN_MASK",), kc=kc, shift=shift, ch_base=0, n_ch=n, ibuf=0,
                    wbuf=0, obuf=g % 2, n_rows=cfg.rows, wbase=0, th_hi=th_hi, th_lo=th_lo,
                    mhalf=1 + g % 2)

    def sparse(g):
        return dict(flags=("SPARSE",), kc=kc, shift=shift, ibuf=1, wbuf=1 + g % 2,
                    obuf=g % 2, n_rows=cfg.rows, wbase=0, half=1 + g % 2)

    def sched(g):
        return dict(n_ch=n, half=1 + g % 2, mhalf=1 + g % 2,
                    flags=("RESIDENT",) if RESIDENT else ())

    report = {"groups": groups, "k": kc * cfg.lanes, "n_ch": n, "pause": tb.pause,
              "resident": RESIDENT,
              "schedule": [cycle_model.schedule_cycles([_cv(mk, c) for c in range(n)],
                                                       cfg=cfg, resident=RESIDENT)
                           for mk in masks],
              "blocks": [len(s.blocks) for s in scheds]}
    t0, beside0 = tb.cycle, await tb.read("CAU_BESIDE")
    await twin.load_wmem(0, dense_wmem_image(w, cfg))
    await twin.load_imem(0, xs[0])
    await twin.issue("GEMM", **ffn(0))
    await twin.load_wmem(1, wmem_image(w, scheds[0], cfg))
    await twin.load_imem(1, xps[0])
    await twin.issue("SCHEDULE", **sched(0))
    for g in range(groups):
        if g + 1 < groups:
            await twin.load_imem(0, xs[g + 1])
            await twin.issue("GEMM", **ffn(g + 1))          # beside SCHEDULE g: mask half B
        await twin.issue("GEMM", **sparse(g))
        if g + 1 < groups:
            await twin.issue("SCHEDULE", **sched(g + 1))    # beside GEMM g: SMEM half B
        await twin.read_omem(g % 2, n)
        if g + 1 < groups:
            await twin.load_wmem(1 + (g + 1) % 2, wmem_image(w, scheds[g + 1], cfg))
            await twin.load_imem(1, xps[g + 1])
    await twin.frames(n, "ffn loop")
    report["wall"] = tb.cycle - t0
    await twin.compare("ffn loop")
    report["cau_beside"] = await tb.read("CAU_BESIDE") - beside0
    assert report["cau_beside"] > 0, "no SCHEDULE ran beside a GEMM"
    for name in COMPARED:
        want = twin.model.regs.as_dict()[name]
        assert await tb.read(name) == want, f"{name} differs from the model"
    # the model is golden.ffn_reuse's FFN-Reuse FC1 on the dense iteration's cache
    for g in (groups - 2, groups - 1):
        y = intsem.requantize(intsem.int_matmul(xs[g], w, cfg.lanes, cfg.acc_width), shift,
                              cfg.data_width)
        exp = ffn_reuse.reuse_fc1_int(xps[g], w, masks[g], y, shift, cfg)
        got = twin.model.state.omem[g % 2, :, :n]
        assert np.array_equal(got, exp), f"group {g}: model != reuse_fc1_int"
    for g in (groups - 2, groups - 1):
        await check_halves(tb, 1 + g % 2, masks[g], scheds[g], f"group {g}")
    # mhalf = 3 is refused, as the model says; nothing else changes
    for op, fields in (("SCHEDULE", dict(n_ch=n, mhalf=3)), ("GEMM", dict(ffn(0), mhalf=3))):
        await twin.refused(op, "BAD_FIELD", **fields)
    await tb.check_traffic()
    write_report("EXION_ITER_REPORT", report)
    tb.dut._log.info("ffn loop: %s", report)


def _head(cfg, rng, kc, n_keys, topk):
    """Predicted queries and keys of one head whose predicted keep-mask's schedule fits an SMEM
    half, with that mask, its schedule and the PREDICT threshold."""
    d = kc * cfg.lanes
    hi = cfg.data_max // 3
    for _ in range(100):
        qp = rng.integers(-hi, hi + 1, (cfg.rows, d))
        kp = rng.integers(-hi, hi + 1, (n_keys, d))
        kp[int(rng.integers(n_keys))] = qp[0] * 2 // 3          # a dominant query
        s = eager.shift_add_matmul(qp, kp.T, cfg.lod_steps)
        srt = -np.sort(-s, axis=1)
        q_th = int(np.median(srt[:, 0] - srt[:, 1]))
        keep, _ = eager.select(s, q_th, topk / n_keys)
        sched = conmerge.cau_schedule(keep, cfg, token_sort="none")
        if 0 < len(sched.blocks) <= cfg.schedule_depth // 2:
            return qp, kp, q_th, keep, sched
    raise AssertionError("no head whose schedule fits an SMEM half")


@cocotb.test()
async def eager_heads(dut):
    """Eager heads, CAU overlapped: PREDICT of head h + 1 into one mask half beside the
    SCHEDULE of head h from the other, the SCHEDULE of h + 1 beside the sparse QK^T GEMM of h;
    outputs, registers, mask and SMEM halves, bytes against the model."""
    tb = await CoreTB.started(dut)
    cfg = tb.cfg
    heads = int(os.environ.get("EXION_ITER_GROUPS", "5"))
    kc = max(1, min(4, cfg.words("imem"), MAX_HEAD_DIM // cfg.lanes))
    n_keys = min(16, mask_half(tb.map.channels, 1)[1])
    topk = 3
    rng = np.random.default_rng(61)
    data = [_head(cfg, rng, kc, n_keys, topk) for _ in range(heads)]
    shift = eager.auto_shift(intsem.int_matmul(data[0][0], data[0][1].T, cfg.lanes,
                                               cfg.acc_width), cfg.data_width)
    twin = Twin(tb)
    # the sparse GEMMs write only kept outputs: the model starts from the RTL's OMEM (what
    # the test before this one left there)
    for buf in range(cfg.omem_buffers):
        twin.model.state.omem[buf] = await tb.read_omem(buf, 0, cfg.words("omem"))
        twin.model.regs.done += 1           # (that read, outside the model, counts in DONE)

    def predict(h):
        return dict(kc=kc, topk=topk, n_keys=n_keys, ibuf=h % 2, wbuf=0, n_rows=cfg.rows,
                    wbase=0, q_th=data[h][2], mhalf=1 + h % 2)

    def load_keys(h):       # PREDICT's key layout: key j in bank j % cols, stream 0
        return twin.load_wmem(0, dense_wmem_image(data[h][1].T, cfg))

    def load_image(h):      # the sparse GEMM's: the keys by the head's ConMerge vectors
        return twin.load_wmem(1 + h % 2, wmem_image(data[h][1].T, data[h][4], cfg))

    t0, beside0 = tb.cycle, await tb.read("CAU_BESIDE")
    await twin.load_imem(0, data[0][0])
    await load_keys(0)
    await twin.issue("PREDICT", **predict(0))
    await load_image(0)
    await twin.issue("SCHEDULE", n_ch=n_keys, half=1, mhalf=1)
    for h in range(heads):
        if h + 1 < heads:
            await twin.load_imem((h + 1) % 2, data[h + 1][0])
            await load_keys(h + 1)
            await twin.issue("PREDICT", **predict(h + 1))       # beside SCHEDULE h
        await twin.issue("GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=h % 2,
                         wbuf=1 + h % 2, obuf=h % 2, n_rows=cfg.rows, wbase=0, half=1 + h % 2)
        if h + 1 < heads:
            await load_image(h + 1)
            await twin.issue("SCHEDULE", n_ch=n_keys, half=1 + (h + 1) % 2,
                             mhalf=1 + (h + 1) % 2)            # beside GEMM h
        await twin.read_omem(h % 2, n_keys)
    await twin.frames(n_keys, "eager heads")
    wall = tb.cycle - t0
    await twin.compare("eager heads")
    beside = await tb.read("CAU_BESIDE") - beside0
    assert beside > 0, "no SCHEDULE ran beside a GEMM or PREDICT"
    want = twin.model.regs.as_dict()
    for name in COMPARED + ("DOMINANT_LO", "SKIP_K_LO", "SKIP_V_LO"):
        assert await tb.read(name) == want[name], f"{name} differs from the model"
    # the model's outputs are QK^T's kept entries (golden.intsem)
    h = heads - 1
    qp, kp, _, keep, sched = data[h]
    y = intsem.requantize(intsem.int_matmul(qp, kp.T, cfg.lanes, cfg.acc_width), shift,
                          cfg.data_width)
    assert np.array_equal(twin.model.state.omem[h % 2, :, :n_keys][keep], y[keep])
    for h in (heads - 2, heads - 1):
        await check_halves(tb, 1 + h % 2, data[h][3], data[h][4], f"head {h}")
    await twin.refused("PREDICT", "BAD_FIELD", **dict(predict(0), mhalf=3))
    await tb.check_traffic()
    tb.dut._log.info("eager heads: %d heads, %d keys, wall %d cycles, CAU beside %d",
                     heads, n_keys, wall, beside)
