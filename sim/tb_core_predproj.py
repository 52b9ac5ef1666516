"""The eager predictor's projection on the core (``PREDICT_PROJ``, hw/core_predict.py,
hw/core_predproj.py) against the command-level model (golden/core_model.py).

Every command goes to the core and to :class:`golden.core_model.CoreModel`; the host cannot
read IMEM or WMEM, so each projection is read back through the array: Q' (IMEM) by a dense
``GEMM`` with an identity weight and shift 0 (``OMEM[r, c] = Q'[r, c]``), K' (WMEM, the
dense layout) by ``GEMM`` s whose tokens are rows of the identity (``OMEM[r, j] =
K'[j, g * rows + r]``); the ``READ_OMEM`` frames must equal the model's, and ``CYCLES``,
``PROJ_SAT``, ``DONE``, ``CAUSE`` after each projection too. Cases: seeded random shapes
(reduction, head dimension, rows, destination, key base, shift), the most negative codes
everywhere, zero rows, the largest legal shift and shift 0; a projection beside a load of
the other buffer of the same memory (they share its write port); Q' and K' followed by a
``PREDICT`` on them (its keep-mask and registers against the model); every refusal row of
``golden.core_checks.CHECKS["PREDICT_PROJ"]`` with its cause. Random pauses on every bus and
stream (sim/core_driver.py, ``EXION_CORE_PAUSE``).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotbext.axi import AxiStreamFrame

from exion.limits import MAX_HEAD_DIM
from exion.regmap import CAUSES, encode
from golden.core_checks import CHECKS, Limits, decode
from golden.core_model import CoreModel
from sim.core_driver import CoreTB
from sim.tb_common import pack

#: Registers compared with the model after each step.
COMPARED = ("CYCLES", "PROJ_SAT", "DONE", "CAUSE", "DOMINANT_LO", "SKIP_K_LO", "SKIP_V_LO")


class Twin:
    """The core and the command-level model driven with the same commands."""

    def __init__(self, tb: CoreTB):
        self.tb, self.cfg = tb, tb.cfg
        self.model = CoreModel(tb.cfg)
        self.lim = Limits.of(tb.cfg)

    async def issue(self, op: str, **fields):
        args, word = encode(op, **fields)
        await self.tb.issue_raw(args, word)
        return self.model.issue(args, word)

    async def load_imem(self, buf: int, x):
        """``x`` (rows, kc * lanes) into IMEM words 0 ..; both sides."""
        cfg = self.cfg
        lanes = np.asarray(x, np.int64).reshape(cfg.rows * x.shape[1] // cfg.lanes, cfg.lanes)
        await self.issue("LOAD_IMEM", base=0, count=x.shape[1] // cfg.lanes, buf=buf)
        self.model.push_imem(lanes)
        await self.tb.src_i.send(AxiStreamFrame([pack(v, cfg.data_width) for v in lanes]))

    async def load_wmem(self, buf: int, w):
        """Dense-layout image of ``w`` (K, N), stream 0 only."""
        cfg = self.cfg
        img = self.tb.dense_wmem(w)
        await self.issue("LOAD_WMEM", base=0, count=img.shape[1], buf=buf, streams=1)
        lanes = img[:, :, 0, :].reshape(-1, cfg.lanes)            # bank, word
        self.model.push_wmem(lanes)
        await self.tb.src_w.send(AxiStreamFrame([pack(v, cfg.data_width) for v in lanes]))

    async def compare(self, label: str):
        await self.tb.wait_idle()
        self.model.run()
        want = self.model.regs.as_dict()
        for name in COMPARED:
            got = await self.tb.read(name)
            assert got == want[name], f"{label}: {name} = {got}, model {want[name]}"

    async def read_back(self, obuf: int, n: int, label: str):
        await self.issue("READ_OMEM", base=0, count=n, buf=obuf)
        outs = [o for o in self.model.run() if o.frame is not None]
        got = await self.tb.recv_omem(n)
        exp = outs[-1].frame.T
        bad = np.argwhere(got != exp)
        assert not len(bad), (f"{label}: {len(bad)} outputs differ from the model, first "
                              f"(row, channel) {tuple(bad[0])}: {got[tuple(bad[0])]} vs "
                              f"{exp[tuple(bad[0])]}")
        return got


def _data(rng, cfg, shape, kind: str):
    hi = cfg.data_max
    if kind == "negmax":
        return np.full(shape, -hi - 1, np.int64)
    x = rng.integers(-hi - 1, hi + 1, shape)
    if kind == "zero_rows":
        x[rng.random(shape[0]) < 0.5] = 0
    return x


async def _project(tw: Twin, rng, *, kc, n_ch, n_rows, keys, shift, kind, label,
                   dbase=0, key_base=0, beside=False):
    """One PREDICT_PROJ on fresh X / W, compared and read back."""
    cfg = tw.cfg
    L, R, C = cfg.lanes, cfg.rows, cfg.cols
    ibuf, wbuf = 0, 0
    dbuf = 1
    x = _data(rng, cfg, (R, kc * L), kind)
    w = _data(rng, cfg, (kc * L, n_ch), "rand" if kind == "zero_rows" else kind)
    await tw.load_imem(ibuf, x)
    await tw.load_wmem(wbuf, w)
    flags = ("KEYS",) if keys else ()
    cause = await tw.issue("PREDICT_PROJ", flags=flags, kc=kc, n_ch=n_ch, n_rows=n_rows,
                           ibuf=ibuf, wbuf=wbuf, dbuf=dbuf, dbase=dbase, key_base=key_base,
                           shift=shift)
    assert cause == 0, f"{label}: refused by the model ({cause})"
    if beside:      # a load of the other buffer of the destination memory, queued right after
        if keys:
            await tw.load_wmem(2 % cfg.wmem_buffers, _data(rng, cfg, (4 * L, C), "rand"))
        else:
            await tw.load_imem(0, _data(rng, cfg, (R, 2 * L), "rand"))
    await tw.compare(label)
    tw.tb.dut._log.info(f"{label}: CYCLES {tw.model.regs.cycles}, PROJ_SAT "
                        f"{tw.model.regs.proj_sat}")
    kcp = -(-n_ch // L)
    d = (dbase + kcp) * L
    if not keys:
        # identity GEMM over IMEM words 0 .. dbase + kcp - 1 of dbuf: OMEM = those codes
        await tw.load_wmem(2 % cfg.wmem_buffers, np.eye(d, dtype=np.int64))
        await tw.issue("GEMM", kc=dbase + kcp, shift=0, ch_base=0, n_ch=d, ibuf=dbuf,
                       wbuf=2 % cfg.wmem_buffers, obuf=0, n_rows=R, wbase=0)
        await tw.read_back(0, d, f"{label}: Q' read back")
        return
    n_keys = key_base + n_rows
    for g in range(-(-kcp * L // R)):
        eye = np.zeros((R, kcp * L), np.int64)
        for r in range(R):
            if g * R + r < kcp * L:
                eye[r, g * R + r] = 1
        await tw.load_imem(0, eye)
        await tw.issue("GEMM", kc=kcp, shift=0, ch_base=0, n_ch=n_keys, ibuf=0, wbuf=dbuf,
                       obuf=0, n_rows=R, wbase=dbase)
        await tw.read_back(0, n_keys, f"{label}: K' read back, dims {g * R}..")


@cocotb.test()
async def predict_proj(dut):
    """Random and extreme projections (Q' and K'), read back, against the model."""
    tb = await CoreTB.started(dut)
    cfg = tb.cfg
    tw = Twin(tb)
    lim = tw.lim
    L, R, C, Di, Dw = cfg.lanes, cfg.rows, cfg.cols, cfg.words("imem"), cfg.words("wmem")
    Do = cfg.words("omem")
    rng = np.random.default_rng(41)
    top = lim.proj_acc_width - 1
    cases = [
        dict(kc=2, n_ch=5, n_rows=R, keys=False, shift=14, kind="rand"),
        dict(kc=3, n_ch=2 * L, n_rows=R - 1, keys=True, shift=13, kind="rand", key_base=3,
             dbase=2),
        dict(kc=Di // 2, n_ch=L + 1, n_rows=R, keys=False, shift=top, kind="negmax"),
        dict(kc=Di // 2, n_ch=3, n_rows=R, keys=True, shift=0, kind="negmax", key_base=C),
        dict(kc=1, n_ch=1, n_rows=1, keys=True, shift=5, kind="zero_rows"),
        dict(kc=4, n_ch=2 * L - 1, n_rows=R, keys=False, shift=9, kind="zero_rows", beside=True),
        dict(kc=2, n_ch=L, n_rows=R, keys=True, shift=12, kind="rand", beside=True),
    ]
    for _ in range(4):      # seeded random shapes
        keys = bool(rng.random() < 0.5)
        kc = int(rng.integers(1, Di // 2 + 1))
        n_ch = int(rng.integers(1, min(MAX_HEAD_DIM // L * L, Do // 2, Dw // kc) + 1))
        cases.append(dict(kc=kc, n_ch=n_ch, n_rows=int(rng.integers(1, R + 1)), keys=keys,
                          shift=int(rng.integers(8, 18)), kind="rand",
                          key_base=int(rng.integers(0, 2 * C)) if keys else 0))
    for i, c in enumerate(cases):
        await _project(tw, rng, label=f"case {i} {c}", **c)
    # Q' at dbase > 0 next to one at word 0: one GEMM reads both
    await _project(tw, rng, kc=2, n_ch=L, n_rows=R, keys=False, shift=13, kind="rand",
                   label="Q' at dbase 0")
    await _project(tw, rng, kc=2, n_ch=L, n_rows=R, keys=False, shift=13, kind="rand",
                   dbase=1, label="Q' at dbase 1")
    await tb.expect_ok()


@cocotb.test()
async def projection_then_predict(dut):
    """Q' and K' by PREDICT_PROJ, then PREDICT on them: the host moves nothing between.
    The second K' saturates (shift 6): PROJ_SAT must stay through the PREDICT."""
    tb = await CoreTB.started(dut)
    cfg = tb.cfg
    tw = Twin(tb)
    L, R = cfg.lanes, cfg.rows
    rng = np.random.default_rng(43)
    kc, dh = 4, 2 * L
    x = _data(rng, cfg, (R, kc * L), "rand")
    wq = _data(rng, cfg, (kc * L, dh), "rand")
    wk = _data(rng, cfg, (kc * L, dh), "rand")
    await tw.load_imem(0, x)
    await tw.load_wmem(0, wq)
    await tw.load_wmem(1, wk)
    await tw.issue("PREDICT_PROJ", kc=kc, n_ch=dh, n_rows=R, ibuf=0, wbuf=0, dbuf=1, dbase=0,
                   shift=14)
    n_keys = 0
    for g in range(2):      # two row groups of keys (the second reuses X, shifted keys)
        await tw.issue("PREDICT_PROJ", flags=("KEYS",), kc=kc, n_ch=dh, n_rows=R, ibuf=0,
                       wbuf=1, dbuf=2 % cfg.wmem_buffers, dbase=0, key_base=g * R,
                       shift=14 - 8 * g)
        n_keys += R
    await tw.compare("projections")
    assert tw.model.regs.proj_sat > 0, "the last K' should saturate (PREDICT must keep it)"
    await tw.issue("PREDICT", kc=-(-dh // L), topk=2, n_keys=n_keys, ibuf=1, wbuf=2 %
                   cfg.wmem_buffers, n_rows=R, wbase=0, q_th=1 << 12)
    await tw.compare("PREDICT on the projections")
    got = await tb.read_mask(n_keys)
    exp = tw.model.state.mask[:n_keys].T
    assert np.array_equal(got, exp), "keep-mask differs from the model"
    # the shortest projection right behind a GEMM still draining: CYCLES and DONE follow
    # program order (the projection's), as in the model
    for keys in (False, True):
        await tw.issue("GEMM", kc=1, shift=0, ch_base=0, n_ch=1, ibuf=0, wbuf=0, obuf=0,
                       n_rows=R, wbase=0)
        await tw.issue("PREDICT_PROJ", flags=("KEYS",) if keys else (), kc=1, n_ch=1,
                       n_rows=1, ibuf=0, wbuf=0, dbuf=1, dbase=0, key_base=0, shift=3)
        await tw.compare(f"GEMM then PREDICT_PROJ (keys {keys})")


@cocotb.test()
async def refusals(dut):
    """Each check row of PREDICT_PROJ refuses with its cause (RTL and model), nothing runs."""
    tb = await CoreTB.started(dut)
    cfg = tb.cfg
    tw = Twin(tb)
    lim = tw.lim
    L, R, C, Di, Dw = cfg.lanes, cfg.rows, cfg.cols, cfg.words("imem"), cfg.words("wmem")
    good = dict(kc=2, n_ch=L, n_rows=R, ibuf=0, wbuf=0, dbuf=1, dbase=0, key_base=0, shift=3)
    bad = [  # (flags, changed fields), in the table's order
        (("RESIDENT",), {}), ((), dict(ibuf=cfg.imem_buffers)), ((), dict(wbuf=15)),
        ((), dict(dbuf=cfg.imem_buffers)), (("KEYS",), dict(dbuf=cfg.wmem_buffers)),
        ((), dict(dbuf=0)), (("KEYS",), dict(dbuf=0)),
        ((), dict(kc=0)), ((), dict(n_ch=0)), ((), dict(shift=lim.proj_acc_width)),
        ((), dict(kc=Di + 1)), ((), dict(kc=1153 // L + 1)), ((), dict(n_rows=0)),
        ((), dict(n_rows=R + 1)), ((), dict(n_ch=MAX_HEAD_DIM // L * L + 1)),
        ((), dict(kc=Di, n_ch=(Dw // Di + 1) * C)), ((), dict(dbase=Di - 1, n_ch=L + 1)),
        (("KEYS",), dict(key_base=(Dw // 2) * C, n_ch=2 * L)),
    ]
    rows_hit = set()
    for flags, change in bad:
        fields = {**good, **change}
        args, word = encode("PREDICT_PROJ", flags=flags, **fields)
        cmd = decode([args[f"ARG{i}"] for i in range(6)], word)
        row = next(i for i, c in enumerate(CHECKS["PREDICT_PROJ"]) if c.fails(cmd, lim))
        rows_hit.add(row)
        want = CAUSES[CHECKS["PREDICT_PROJ"][row].cause]
        assert tw.model.issue(args, word) == want
        await tb.issue_raw(args, word, record=False)
        assert await tb.read("CAUSE") == want, f"{fields} {flags}: cause, model {want}"
        assert await tb.read("ERR_CMD") == word
        await tb.write("CTRL", 1)
        tw.model.clear_error()
        await tw.compare(f"refused {change}")
    assert rows_hit == set(range(len(CHECKS["PREDICT_PROJ"]))), \
        f"check rows not reached: {set(range(len(CHECKS['PREDICT_PROJ']))) - rows_hit}"
