"""The command-level model's CFSE commands (golden/core_cfse.py) against the CFSE's golden
functions (golden/cfse.py) applied by hand: the OMEM-row / IMEM-word layouts, the code
conversions, rows >= n_rows untouched, the GELU keep-mask (golden.ffn_reuse.build_keep_mask),
the softmax key mask, CYCLES (golden.cycle_model.cfse_command_cycles) and an FC1 -> GELU ->
FC2 chain; seeded random cases plus extremes. Pure Python (no simulator)."""

import numpy as np
import pytest

from exion import cfse_format as F
from exion.regmap import encode
from golden import cfse, cycle_model, ffn_reuse, intsem
from golden.core_model import CoreModel
from golden.sdue import dense_wmem_image
from tests.test_core_model import CONFIGS

OPS = ["GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX"]


def _run(m, op, *, imem=None, wmem=None, **fields):
    cause, _ = m.step(*encode(op, **fields), imem=imem, wmem=wmem)
    assert cause == 0 and not m.regs.error and not m.state.queue, f"{op} did not run"


def _load_x(m, buf, x):
    """Rows ``x`` (rows, words * lanes) into IMEM ``buf`` from word 0."""
    L = m.cfg.lanes
    _run(m, "LOAD_IMEM", base=0, count=x.shape[1] // L, buf=buf, imem=x.reshape(-1, L))


def _load_w(m, buf, w):
    """Weights ``w`` (K, N) in the dense layout (stream 0) into WMEM ``buf``."""
    img = dense_wmem_image(w, m.cfg)[:, :, :1, :]
    _run(m, "LOAD_WMEM", base=0, count=img.shape[1], buf=buf, streams=1,
         wmem=img.transpose(0, 2, 1, 3).reshape(-1, m.cfg.lanes))


def test_conversions():
    q = np.array([-2048, -1, 0, 1, 2047])
    assert cfse.code_to_act(q, 0).tolist() == q.tolist()
    assert cfse.code_to_act(q, 4).tolist() == [-32768, -16, 0, 16, 32752]
    assert cfse.code_to_act(q, 15).tolist() == [-32768, -32768, 0, 32767, 32767]
    v = np.array([-32768, -3, -2, -1, 0, 1, 2, 3, 32767])
    assert cfse.act_to_code(v, 1, 12).tolist() == [-2048, -1, -1, 0, 0, 1, 1, 2, 2047]
    assert cfse.act_to_code(v, 0, 12).tolist() == [-2048, -3, -2, -1, 0, 1, 2, 3, 2047]
    assert cfse.act_to_code(v, 15, 12).tolist() == [-1, 0, 0, 0, 0, 0, 0, 0, 1]
    rng = np.random.default_rng(3)
    v = rng.integers(F.ACT_MIN, F.ACT_MAX + 1, 1000)
    for s in range(16):         # the rounding and saturation of golden.intsem.requantize
        assert np.array_equal(cfse.act_to_code(v, s, 12), intsem.requantize(v, s, 12))
    with pytest.raises(ValueError, match=r"in_shift = 16 is out of range \[0, 15\]"):
        cfse.code_to_act(q, 16)
    with pytest.raises(ValueError, match=r"out_shift = -1 is out of range \[0, 15\]"):
        cfse.act_to_code(v, -1, 12)


def _model(name, rng):
    m = CoreModel(CONFIGS[name])
    m.state.omem[:] = rng.integers(-2048, 2048, m.state.omem.shape)
    m.state.imem[:] = rng.integers(-2048, 2048, m.state.imem.shape)
    return m


def _imem_row(m, buf, r, base, n):
    """Channels 0..n-1 of IMEM buffer ``buf`` row ``r`` from word ``base``, and the padding."""
    L = m.cfg.lanes
    words = -(-n // L)
    flat = m.state.imem[buf, r, base:base + words].reshape(-1)
    return flat[:n], flat[n:]


@pytest.mark.parametrize("name", ["4x4", "8x3"])
@pytest.mark.parametrize("op", OPS)
def test_command_against_golden(name, op):
    rng = np.random.default_rng(OPS.index(op))
    cfg = CONFIGS[name]
    Do, Di, L = cfg.words("omem"), cfg.words("imem"), cfg.lanes
    for trial in range(12):
        m = _model(name, rng)
        n_max = min(64, Do, Di * L)
        n = [1, n_max][trial] if trial < 2 else int(rng.integers(1, n_max + 1))
        f = dict(n_ch=n, ch_base=int(rng.integers(0, Do - n + 1)),
                 base=int(rng.integers(0, Di - -(-n // L) + 1)), ibuf=1, obuf=0,
                 n_rows=int(rng.integers(1, cfg.rows + 1)), in_shift=int(rng.integers(0, 6)),
                 out_shift=int(rng.integers(0, 8)), xbuf=0, mbuf=1,
                 ffn_mask=1, ffn_th=int(rng.integers(0, 2000)), key_mask=int(trial % 2),
                 gate=int(rng.choice([1024, -500, 32767])),
                 sc_base=int(rng.integers(0, Do - n + 1)), sh_base=int(rng.integers(0, Do - n + 1)))
        if op == "SOFTMAX" and f["key_mask"]:
            m.state.mask[:] = rng.random(m.state.mask.shape) < 0.5
        before = m.state.imem.copy()
        mask_before = m.state.mask.copy()
        x_in = m.state.imem.copy()
        _run(m, op, **f)
        rows = m.state.omem[0, :, f["ch_base"]:f["ch_base"] + n]
        act = cfse.code_to_act(rows, f["in_shift"])
        for r in range(cfg.rows):
            got, pad = _imem_row(m, 1, r, f["base"], n)
            if r >= f["n_rows"]:
                assert np.array_equal(m.state.imem[1, r], before[1, r]), "row >= n_rows written"
                continue
            if op == "GELU":
                y = cfse.gelu(act[r])
            elif op == "RESIDUAL":
                x = x_in[0, r, f["base"]:].reshape(-1)[:n]
                y = cfse.residual_add(cfse.code_to_act(x, f["in_shift"]), act[r],
                                      np.full(n, f["gate"]))
            elif op == "LAYERNORM":
                mod = m.state.omem[1, 0]
                y = cfse.layernorm_adaln(
                    act[r], cfse.code_to_act(mod[f["sc_base"]:f["sc_base"] + n], f["in_shift"]),
                    cfse.code_to_act(mod[f["sh_base"]:f["sh_base"] + n], f["in_shift"]))
            else:
                keep = mask_before[f["ch_base"]:f["ch_base"] + n, r] if f["key_mask"] else None
                y = cfse.softmax(act[r], keep)
            assert np.array_equal(got, cfse.act_to_code(y, f["out_shift"], cfg.data_width))
            assert not pad.any(), "the last word's lanes past n_ch must be 0"
        # everything else of IMEM unchanged
        other = before.copy()
        other[1, :f["n_rows"], f["base"]:f["base"] + -(-n // L)] = \
            m.state.imem[1, :f["n_rows"], f["base"]:f["base"] + -(-n // L)]
        assert np.array_equal(m.state.imem, other)
        if op == "GELU":
            h = cfse.gelu(act[:f["n_rows"]])
            want = np.zeros((cfg.rows, n), bool)
            want[:f["n_rows"]] = ffn_reuse.build_keep_mask(h, threshold=f["ffn_th"])
            assert np.array_equal(m.state.mask[f["ch_base"]:f["ch_base"] + n].T, want)
        else:
            assert np.array_equal(m.state.mask, mask_before), f"{op} wrote the mask"
        assert m.regs.cycles == cycle_model.cfse_command_cycles(op, n, f["n_rows"])


def test_cycles_formulas():
    c = cycle_model.cfse_command_cycles
    assert c("GELU", 16, 4) == 23 and c("RESIDUAL", 8, 1) == 13
    # the row units take every row at once: SOFTMAX 3 n + 61, LAYERNORM max(3 n, n + 79) + n + 8
    assert c("SOFTMAX", 16, 4) == c("SOFTMAX", 16, 1) == 109
    assert c("SOFTMAX", 64, 16) == 253
    assert c("LAYERNORM", 1, 1) == 89
    assert c("LAYERNORM", 11, 3) == c("LAYERNORM", 11, 1) == 109   # statistics bound
    assert c("LAYERNORM", 39, 4) == 165 and c("LAYERNORM", 40, 4) == 168   # reads bound
    assert c("LAYERNORM", 256, 16) == 1032
    with pytest.raises(ValueError, match="n = 0"):
        c("GELU", 0, 1)
    with pytest.raises(ValueError, match="op = 'EXP'"):
        c("EXP", 1, 1)


@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_ffn_chain_on_chip(name):
    """FC1 (GEMM) -> GELU (OMEM -> IMEM, keep-mask) -> FC2 (GEMM) in the model equals the
    golden functions composed by hand."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(5)
    L = cfg.lanes
    k1, hid = 2 * L, 4 * L
    m = CoreModel(cfg)
    x = rng.integers(-1000, 1001, (cfg.rows, k1))
    w1 = rng.integers(-1000, 1001, (k1, hid))
    w2 = rng.integers(-1000, 1001, (hid, k1))
    _load_x(m, 0, x)
    _load_w(m, 0, w1)
    _run(m, "GEMM", kc=k1 // L, shift=12, n_ch=hid, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
    _run(m, "GELU", ch_base=0, n_ch=hid, base=0, ibuf=1, obuf=0, n_rows=cfg.rows, in_shift=2,
         out_shift=2, ffn_mask=1, ffn_th=200)
    _load_w(m, 1, w2)
    _run(m, "GEMM", kc=hid // L, shift=12, n_ch=k1, ibuf=1, wbuf=1, obuf=1, n_rows=cfg.rows)
    fc1 = intsem.requantize(intsem.int_matmul(x, w1, L, cfg.acc_width), 12, cfg.data_width)
    h = cfse.gelu(cfse.code_to_act(fc1, 2))
    g = cfse.act_to_code(h, 2, cfg.data_width)
    fc2 = intsem.requantize(intsem.int_matmul(g, w2, L, cfg.acc_width), 12, cfg.data_width)
    assert np.array_equal(m.state.omem[1, :, :k1], fc2)
    keep = m.state.mask[:hid].T
    assert np.array_equal(keep, ffn_reuse.build_keep_mask(h, threshold=200))
    assert 0 < keep.sum() < keep.size
    cause, _ = m.step(*encode("GELU", n_ch=0, n_rows=1))
    assert cause == 5
