"""Resident weights on the core (hw/core.py): a sparse ``GEMM`` with ``SPARSE | RESIDENT``.

A channel window's weights are loaded once in the resident layout
(``golden.sdue.resident_wmem_image``: channel ``j`` in bank ``j % cols``, stream ``(j //
cols) % merge_degree``, words ``wbase + (j // (cols * merge_degree)) * kc ..``) and every
row group's sparse ``GEMM`` reads them in place: stream ``d`` of bank ``c`` at its slot's
class (``golden.sdue.block_weights``). Every command also goes to the command-level model
(:class:`golden.core_model.CoreModel`): every ``READ_OMEM`` frame must be bit-exact with it
and ``BLOCKS``, ``CYCLES``, ``SCHED_CYCLES``, ``DONE``, ``CAUSE`` and ``BYTES_IN`` /
``BYTES_OUT`` (``golden.cycle_model.stream_bytes``) equal to it.

* ``gather_window``: the window loaded from a plain channel-major matrix through the master
  port in one ``LOAD_WMEM MEM | GATHER | RESIDENT`` (``golden.core_gather.resident_blocks``):
  the model's WMEM equals the resident image, memory and registers equal the model's after
  every step, the row groups' outputs the dense product at the kept positions; without
  ``GATHER`` it is refused, past WMEM dropped at its take (``ADDR_RANGE``).
* ``window``: masks whose ConMerge schedule happens to obey the resident rule (channel ``j``
  kept on the rows ``r % merge_degree == (j // cols) % merge_degree`` only, whole classes
  kept: the CAU merges the streams of a class into one block in order); the model's outputs
  at the kept positions equal ``golden.sdue.sdue_outputs`` (the dense product), and a model
  that reads block ``b`` at words ``b * kc`` (a plain sparse GEMM on the same WMEM) does not.
* ``any_schedule``: random masks, an ordinary ``SCHEDULE``, random WMEM contents and a
  window ``n_ch`` below the schedule's channels (slots past it idle): whatever the model
  says, also where ``wbase + BLOCKS * kc`` runs past WMEM (not dropped: the range of a
  resident GEMM is its window's, checked at issue).
* ``refusals``: ``RESIDENT`` without ``SPARSE``, on other opcodes, ``n_ch`` 0 or past OMEM,
  the window past WMEM (cause codes as the model says; nothing else changes).
* ``groups_at_ibase``: activations resident: several row groups side by side in one IMEM
  buffer (group ``g`` at words ``ibase_g ..``, the last one ending at IMEM's last word), and
  a dense ``GEMM`` and a ``SPARSE | RESIDENT`` ``GEMM`` per group read them in turn with
  ``ibase``; resident outputs equal the dense product at the kept positions
  (``golden.sdue.sdue_outputs``), and a model reading word 0 differs; ``ibase + kc`` one past
  IMEM is refused (``ADDR_RANGE``, dense and sparse; nothing else changes).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotbext.axi import AxiStreamFrame

from exion.regmap import CAUSES, encode
from golden import conmerge
from golden.core_model import CoreModel
from golden.sdue import resident_beats, resident_wmem_image, sdue_outputs
from sim.core_driver import CoreTB
from sim.tb_common import pack
from sim.tb_core_gather import W_AT, GatherTB
from sim.tb_core_overlap import Twin

RES = ("SPARSE", "RESIDENT")


async def started(dut):
    """A driver and its twin model, the model's OMEM and DONE as the RTL's (memories keep
    what an earlier test of the simulation left there)."""
    tb = await CoreTB.started(dut)
    twin = Twin(tb)
    for buf in range(tb.cfg.omem_buffers):
        twin.model.state.omem[buf] = await tb.read_omem(buf, 0, tb.cfg.words("omem"))
        twin.model.regs.done += 1           # (that read, outside the model, counts in DONE)
    return tb, twin


async def load_wmem(twin, buf: int, base: int, beats, count: int):
    """One ``LOAD_WMEM`` of ``count`` words per bank and stream at ``base`` (both sides)."""
    await twin.issue("LOAD_WMEM", base=base, count=count, buf=buf, streams=0)
    twin.model.push_wmem(beats)
    await twin.tb.src_w.send(AxiStreamFrame([pack(v, twin.cfg.data_width) for v in beats]))


def rule_mask(cfg, n: int, classes, k: int):
    """Channels ``[0, n)`` of the given classes kept on the first ``k`` rows ``r`` with
    ``r % merge_degree == (j // cols) % merge_degree``: equal popcounts, the streams of a
    class disjoint, the ones of one stream in conflict."""
    C, D, R = cfg.cols, cfg.merge_degree, cfg.rows
    m = np.zeros((R, n), bool)
    for j in range(n):
        if j // (C * D) in classes:
            d = (j // C) % D
            m[[r for r in range(R) if r % D == d][:k], j] = True
    return m


def obeys_rule(sched, cfg) -> bool:
    C, D = cfg.cols, cfg.merge_degree
    return all(ch < 0 or (ch % C == c and (ch // C) % D == d)
               for b in sched.blocks for c in range(C) for d in range(D)
               for ch in (b.slots[c, d],))


@cocotb.test()
async def gather_window(dut):
    """``LOAD_WMEM MEM | GATHER | RESIDENT`` lays a plain channel-major matrix out resident in
    one command (first in the simulation: the model and the core start from zero memories);
    two row groups' sparse GEMMs read it, outputs through the master port."""
    t = GatherTB(dut, 0.3, cocotb.RANDOM_SEED + 21)
    cfg = t.cfg
    C, D, R, L = cfg.cols, cfg.merge_degree, cfg.rows, cfg.lanes
    rng = np.random.default_rng(79)
    await t.begin()
    hi = cfg.data_max // 2
    k = min(2 * L + 3, t.tb.kc_max * L)
    n = min(2 * C * D + 3, cfg.words("omem"), t.tb.map.channels)
    w = rng.integers(-hi, hi + 1, (k, n))
    kc, stride = t.weights(w, gap=1)
    nq = -(-n // (C * D))
    wbase = cfg.words("wmem") - nq * kc
    assert await t.cmd("LOAD_WMEM", flags=("MEM", "GATHER", "RESIDENT"), buf=1, base=wbase,
                       count=kc, addr=W_AT, stride=stride, n_ch=n) == 0
    await t.check("resident gather")
    assert np.array_equal(t.model.state.wmem[1, :, wbase:], resident_wmem_image(w, cfg)), \
        "the model's gather is not the resident image"
    shift = 6
    for g, classes in enumerate(({1}, {0, 2})):
        x = rng.integers(-hi, hi + 1, (R, k))
        await t.load_imem(g % 2, x, 0x9000)
        mask = rule_mask(cfg, n, {q for q in classes if q < nq}, 1 + g % 2)
        sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
        assert obeys_rule(sched, cfg), f"group {g}: the schedule breaks the resident rule"
        await t.mask(mask)
        assert await t.cmd("SCHEDULE", n_ch=n) == 0
        assert await t.cmd("GEMM", flags=RES, kc=kc, shift=shift, n_ch=n, ibuf=g % 2, wbuf=1,
                           obuf=g % 2, n_rows=R, wbase=wbase) == 0
        desc = await t.read_omem(g % 2, n, 0xC000)
        await t.check(f"group {g}")
        y, on = sdue_outputs(x, w, sched, shift, cfg)
        assert np.array_equal(t.outputs(desc)[on], y[on]), f"group {g}: outputs differ"
    # without GATHER, and past WMEM (at its take, as a gather's BLOCKS)
    assert await t.cmd("LOAD_WMEM", flags=("MEM", "RESIDENT"), buf=1, base=0, count=kc,
                       addr=W_AT, stride=stride, n_ch=n) == CAUSES["BAD_FIELD"]
    await t.check("refused")
    await t.write("CTRL", 1)
    assert await t.cmd("LOAD_WMEM", flags=("MEM", "GATHER", "RESIDENT"), buf=1,
                       base=wbase + 1, count=kc, addr=W_AT, stride=stride, n_ch=n) == 0
    await t.check("dropped")
    assert t.model.regs.cause == CAUSES["ADDR_RANGE"]


@cocotb.test()
async def window(dut):
    """Weights loaded once, three row groups' schedules read them in place."""
    tb, twin = await started(dut)
    cfg = tb.cfg
    C, D, R, L = cfg.cols, cfg.merge_degree, cfg.rows, cfg.lanes
    rng = np.random.default_rng(71)
    kc = min(3, cfg.words("imem"))
    k = kc * L - 2
    nq = 3
    n = min(nq * C * D - 1, cfg.words("omem"), tb.map.channels)
    nq = -(-n // (C * D))
    wbase = cfg.words("wmem") - nq * kc - 1
    assert wbase >= 0, "the window must fit WMEM"
    hi = cfg.data_max // 2
    w = rng.integers(-hi, hi + 1, (k, n))
    await load_wmem(twin, 1, wbase, resident_beats(w, cfg), nq * kc)
    shift = 5
    for g, classes in enumerate(({1, 2}, {0, 2}, {2})):
        x = rng.integers(-hi, hi + 1, (R, k))
        mask = rule_mask(cfg, n, {q for q in classes if q < nq} or {nq - 1}, 1 + g % 2)
        sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
        assert obeys_rule(sched, cfg), f"group {g}: the schedule breaks the resident rule"
        await twin.load_imem(g % 2, x)
        await twin.write_mask(mask)     # (the group before has finished: its frame came)
        await twin.issue("SCHEDULE", n_ch=n)
        await twin.issue("GEMM", flags=RES, kc=kc, shift=shift, n_ch=n, ibuf=g % 2, wbuf=1,
                         obuf=g % 2, n_rows=R, wbase=wbase)
        await twin.read_omem(g % 2, n)
        await twin.frames(n, f"window, group {g}")
        # the model's outputs are the dense product at the kept positions
        y, on = sdue_outputs(x, w, sched, shift, cfg)
        got = twin.model.state.omem[g % 2, :, :n]
        assert np.array_equal(got[on], y[on]), f"group {g}: model != the dense product"
    await twin.compare("window")
    # ... which a plain sparse GEMM (block b at words b * kc) on the same memories misses
    plain = CoreModel(cfg)
    st, ps = twin.model.state, plain.state
    ps.wmem[:], ps.imem[:], ps.smem = st.wmem, st.imem, list(st.smem)
    plain.regs.blocks = twin.model.regs.blocks
    plain.step(*encode("GEMM", flags=("SPARSE",), kc=kc, shift=shift, ibuf=g % 2, wbuf=1,
                       obuf=0, n_rows=R, wbase=wbase))
    assert not np.array_equal(ps.omem[0, :, :n][on], y[on]), \
        "the check cannot tell the resident address from b * kc"
    await tb.check_traffic()


@cocotb.test()
async def any_schedule(dut):
    """Random masks and WMEM, windows narrower than the schedules: the model's result."""
    tb, twin = await started(dut)
    cfg = tb.cfg
    C, D, R, L = cfg.cols, cfg.merge_degree, cfg.rows, cfg.lanes
    Dw = cfg.words("wmem")
    rng = np.random.default_rng(73)
    hi = cfg.data_max // 2
    ns = min(2 * C * D + 3, cfg.words("omem"), tb.map.channels)
    for t in range(3):
        kc = int(rng.integers(1, min(4, cfg.words("imem")) + 1))
        n = int(rng.integers(1, ns + 1)) if t else ns
        nq = -(-n // (C * D))
        # the last one: the window at WMEM's end (its boundary)
        wbase = Dw - nq * kc if t == 2 else int(rng.integers(0, Dw - nq * kc + 1))
        mask = rng.random((R, ns)) < rng.uniform(0.2, 0.7)
        await twin.write_mask(mask)
        await twin.issue("SCHEDULE", n_ch=ns, half=t % 2 * 2)
        beats = rng.integers(-hi, hi + 1, (C * D * nq * kc, L))
        await load_wmem(twin, t % cfg.wmem_buffers, wbase, beats, nq * kc)
        await twin.load_imem(0, rng.integers(-hi, hi + 1, (R, kc * L)))
        await twin.issue("GEMM", flags=RES, kc=kc, shift=int(rng.integers(3, 8)), n_ch=n,
                         ibuf=0, wbuf=t % cfg.wmem_buffers, obuf=t % 2, n_rows=R, wbase=wbase,
                         half=t % 2 * 2)
        await twin.read_omem(t % 2, cfg.words("omem"))
        await twin.frames(cfg.words("omem"), f"any schedule {t}")
        await twin.compare(f"any schedule {t}")
    await tb.check_traffic()


@cocotb.test()
async def refusals(dut):
    """RESIDENT refused where it means nothing or its window does not fit."""
    tb, twin = await started(dut)
    cfg = tb.cfg
    C, D = cfg.cols, cfg.merge_degree
    Dw, Do = cfg.words("wmem"), cfg.words("omem")
    g = dict(kc=2, shift=4, n_ch=C * D + 1, n_rows=cfg.rows, wbase=0)
    await twin.refused("GEMM", "BAD_FIELD", flags=("RESIDENT",), **g)
    await twin.refused("GEMM", "BAD_FIELD", flags=RES, **dict(g, n_ch=0))
    await twin.refused("GEMM", "ADDR_RANGE", flags=RES, **dict(g, n_ch=Do + 1))
    # two classes of 2 chunks from Dw - 3: one word past WMEM
    await twin.refused("GEMM", "ADDR_RANGE", flags=RES, **dict(g, wbase=Dw - 3))
    for op, fields in (("LOAD_IMEM", dict(base=0, count=1, buf=0)),
                       ("LOAD_WMEM", dict(base=0, count=1, buf=0)),
                       ("READ_OMEM", dict(base=0, count=1, buf=0)),
                       ("PREDICT", dict(kc=1, topk=1, n_keys=1, n_rows=1)),
                       ("GELU", dict(n_ch=1, n_rows=1))):
        await twin.refused(op, "BAD_FIELD", flags=("RESIDENT",), **fields)
    # the same window at its boundary is taken
    await twin.issue("GEMM", flags=RES, **dict(g, wbase=Dw - 4))
    await twin.compare("boundary")


async def load_imem_at(twin, buf: int, base: int, x):
    """One ``LOAD_IMEM`` of a row group's tokens ``x`` (rows, kc * lanes) at words ``base ..``
    of every bank (both sides)."""
    cfg = twin.cfg
    kc = x.shape[1] // cfg.lanes
    await twin.issue("LOAD_IMEM", base=base, count=kc, buf=buf)
    lanes = x.reshape(cfg.rows * kc, cfg.lanes)                  # bank by bank, word by word
    twin.model.push_imem(lanes)
    await twin.tb.src_i.send(AxiStreamFrame([pack(v, cfg.data_width) for v in lanes]))


@cocotb.test()
async def groups_at_ibase(dut):
    """Row groups side by side in IMEM buffer 0; each group's GEMMs read it at its ibase."""
    tb, twin = await started(dut)
    cfg = tb.cfg
    C, D, R, L = cfg.cols, cfg.merge_degree, cfg.rows, cfg.lanes
    Di, Dw = cfg.words("imem"), cfg.words("wmem")
    rng = np.random.default_rng(83)
    kc = max(1, min(3, Di // 4))
    bases = [0, kc, 2 * kc, Di - kc]            # the last at IMEM's end (its boundary)
    n = min(2 * C * D, cfg.words("omem"), tb.map.channels)
    nq = -(-n // (C * D))
    wbase = Dw - nq * kc
    hi = cfg.data_max // 2
    w = rng.integers(-hi, hi + 1, (kc * L, n))
    await load_wmem(twin, 1, wbase, resident_beats(w, cfg), nq * kc)
    xs = [rng.integers(-hi, hi + 1, (R, kc * L)) for _ in bases]
    for base, x in zip(bases, xs):
        await load_imem_at(twin, 0, base, x)
    mask = rule_mask(cfg, n, set(range(nq)), 1)
    sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
    assert obeys_rule(sched, cfg), "the schedule breaks the resident rule"
    await twin.write_mask(mask)
    await twin.issue("SCHEDULE", n_ch=n)
    shift = 5
    nd = nq * C             # dense: blocks of stream 0 inside the window's words
    for g, base in enumerate(bases):
        await twin.issue("GEMM", kc=kc, shift=shift, n_ch=nd, ibuf=0, wbuf=1, obuf=0,
                         n_rows=R, wbase=wbase, ibase=base)
        await twin.issue("GEMM", flags=RES, kc=kc, shift=shift, n_ch=n, ibuf=0, wbuf=1,
                         obuf=1, n_rows=R, wbase=wbase, ibase=base)
        await twin.read_omem(0, n)
        await twin.read_omem(1, n)
        await twin.frames(n, f"group {g} at ibase {base}")
        y, on = sdue_outputs(xs[g], w, sched, shift, cfg)
        got = twin.model.state.omem[1, :, :n]
        assert np.array_equal(got[on], y[on]), f"group {g}: model != the dense product"
    await twin.compare("groups at ibase")
    # ... which a GEMM reading word 0 (ibase ignored) misses for the last group
    plain = CoreModel(cfg)
    st, ps = twin.model.state, plain.state
    ps.wmem[:], ps.imem[:], ps.smem = st.wmem, st.imem, list(st.smem)
    plain.regs.blocks = twin.model.regs.blocks
    plain.step(*encode("GEMM", flags=RES, kc=kc, shift=shift, n_ch=n, ibuf=0, wbuf=1, obuf=1,
                       n_rows=R, wbase=wbase))
    assert not np.array_equal(ps.omem[1, :, :n][on], y[on]), \
        "the check cannot tell ibase from word 0"
    # one word past IMEM: refused, dense and sparse
    g = dict(kc=kc, shift=shift, n_ch=nd, ibuf=0, wbuf=1, obuf=0, n_rows=R, wbase=wbase,
             ibase=Di - kc + 1)
    await twin.refused("GEMM", "ADDR_RANGE", **g)
    await twin.refused("GEMM", "ADDR_RANGE", flags=RES, **g)
    await twin.refused("GEMM", "ADDR_RANGE", flags=("SPARSE",), **dict(g, ibase=0xFFFF))
    await tb.check_traffic()
