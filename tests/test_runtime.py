"""The host runtime (exion_tools/runtime, docs/runtime.md): command streams on the core's
command-level model against a direct golden computation, the modes' work, the float DiT,
``exion run``'s outputs and refusals, and the same stream replayed on the RTL."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from exion.config import preset
from exion_tools.runtime import dit as D
from exion_tools.runtime.backend import make_backend
from exion_tools.runtime.counts import Stats
from exion_tools.runtime.golden_host import GoldenHost
from exion_tools.runtime.lower import Host
from exion_tools.runtime.model import CFSE_PLACES, MODES, DiTRuntime
from golden import cfse, eager, ffn_reuse, intsem
from sim.runner import SIMULATORS

from cli_helpers import run

#: The 4x4 core of tests/test_core_fuzz.py (same fields: the Verilator build is shared).
SMALL = preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
               omem_bank_bytes=96, schedule_depth=8, name="exion")
#: A DiT small enough for the RTL: 16 tokens, hidden 16, 2 heads of 8, FFN 64, one block.
MINI = D.DiTSpec(image_size=8, patch=2, hidden=16, depth=1, heads=2, freq_dim=16, name="mini")


def _sample(cfg, spec, mode, host_cls=None, iterations=3, seed=1, cfse_at="chip"):
    cfg = cfg.replace(iterations=iterations, ffn_reuse_n=1, ep_k=0.25)
    st = Stats(cfg)
    host = host_cls(cfg, st) if host_cls else Host(cfg, make_backend("model", cfg), st)
    rt = DiTRuntime(D.synthetic(spec, seed), cfg, mode, host, cfse=cfse_at)
    return rt.sample([3, 7], seed), st


@pytest.mark.parametrize("cfse_at", CFSE_PLACES)
@pytest.mark.parametrize("mode", MODES)
def test_runtime_bit_exact_against_golden(mode, cfse_at):
    """Whole samples (three iterations: dense, sparse, dense) through the commands equal the
    same layers computed directly with the golden functions, bit for bit; with the CFSE on
    chip every GELU, softmax, LayerNorm and residual is a command (no host CFSE work)."""
    got, st = _sample(SMALL, MINI, mode, cfse_at=cfse_at)
    want, _ = _sample(SMALL, MINI, mode, GoldenHost, cfse_at=cfse_at)
    assert np.array_equal(got, want)
    t = st.totals()
    assert t["commands"] > 0
    if cfse_at == "chip":
        assert t["host_elements"] == 0 and t["cfse_cycles"] > 0
    else:
        assert t["host_elements"] > 0 and t["cfse_cycles"] == 0


def test_shift_add_equals_golden():
    """The runtime's eager projections (``DiTRuntime.shift_add``: ``lod_approx`` operands
    through an exact integer matmul, weights' approximations kept) equal
    ``golden.eager.shift_add_matmul`` term by term, on random codes and the extremes."""
    rng = np.random.default_rng(3)
    qm = intsem.qmax(SMALL.data_width)
    for steps in (1, 2):
        cfg = SMALL.replace(iterations=2, lod_steps=steps)
        rt = DiTRuntime(D.synthetic(MINI, 0), cfg, "ep",
                        Host(cfg, make_backend("model", cfg), Stats(cfg)))
        for k, n in ((16, 8), (128, 32), (5, 1)):
            a = rng.integers(-qm - 1, qm + 1, (7, k))
            a[0] = -qm - 1
            a[1] = qm
            a[2] = 0
            b = rng.integers(-qm, qm + 1, (k, n))
            want = eager.shift_add_matmul(a, b, steps)
            assert np.array_equal(rt.shift_add(a, b), want)
            assert np.array_equal(rt.shift_add(a, b, key=("t", k)), want)
            assert np.array_equal(rt.shift_add(a, b, key=("t", k)), want)   # cached weights


def test_host_gemm_tiles():
    """Dense GEMMs over several weight tiles and a partial row group, FFN_MASK read back, and a
    sparse GEMM over several mask chunks: equal to the golden functions."""
    cfg = SMALL
    rng = np.random.default_rng(5)
    host = Host(cfg, make_backend("model", cfg), Stats(cfg))
    x = rng.integers(-2047, 2048, (11, 37))
    w = rng.integers(-2047, 2048, (37, 150))
    y, keep = host.gemm(x, w, 14, ffn_th=(3, -5))
    want = intsem.requantize(intsem.int_matmul(x, w, cfg.lanes, cfg.acc_width), 14, 12)
    assert np.array_equal(y, want)
    assert np.array_equal(keep, ffn_reuse.keep_mask_int(want, 3, -5))
    m = rng.random((11, 150)) < 0.3
    assert np.array_equal(host.sparse_gemm(x, w, m, 14), np.where(m, want, 0))
    d = host.stats.totals()
    assert d["macs_done"] == 11 * 150 * 37 + int(m.sum()) * 37
    assert d["macs_skipped"] == int((~m).sum()) * 37


def test_modes_skip_work():
    """base skips nothing; ffnr skips FC1 MACs only; ep skips attention MACs only; every
    mode's done + skipped MACs equal base's."""
    totals, by_layer = {}, {}
    for mode in MODES:
        _, st = _sample(SMALL, MINI, mode)
        totals[mode] = st.totals()
        by_layer[mode] = {}
        for r in st.table():
            by_layer[mode][r["layer"]] = by_layer[mode].get(r["layer"], 0) + r["macs_skipped"]
    assert totals["base"]["macs_skipped"] == 0
    for mode in MODES:
        t = totals[mode]
        assert t["macs_done"] + t["macs_skipped"] == totals["base"]["macs_done"], mode
    assert by_layer["ffnr"]["fc1"] > 0
    assert set(k for k, v in by_layer["ffnr"].items() if v) == {"fc1"}
    assert set(k for k, v in by_layer["ep"].items() if v) <= {"qkv", "qk", "pv"}
    assert by_layer["ep"]["qk"] > 0
    assert totals["all"]["macs_skipped"] > max(totals["ffnr"]["macs_skipped"],
                                               totals["ep"]["macs_skipped"])


def _float_eps(w, img, t, y):
    """The DiT of workload/model.py in float64 numpy."""
    sp = w.spec

    def lin(n, x):
        a, b = w.linear(n)
        return x @ a + b

    def ln(x):
        return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)

    def silu(x):
        return x / (1 + np.exp(-x))
    c = lin("t_mlp.2", silu(lin("t_mlp.0", D.timestep_embedding(t, sp.freq_dim)[None])))
    c = silu(c + w.w["y_embed.weight"][y])
    x = lin("patch_embed", D.patchify(img, sp.patch)) \
        + D.sincos_pos_embed(sp.hidden, sp.image_size // sp.patch)
    d, dh = sp.hidden, sp.head_dim
    for i in range(sp.depth):
        b = f"blocks.{i}."
        b1, s1, g1, b2, s2, g2 = lin(b + "ada", c)[0].reshape(6, d)
        h = ln(x) * (1 + s1) + b1
        q, k, v = (lin(b + "attn." + n, h) for n in "qkv")
        o = []
        for hd in range(sp.heads):
            sl = slice(hd * dh, (hd + 1) * dh)
            s = q[:, sl] @ k[:, sl].T / math.sqrt(dh)
            p = np.exp(s - s.max(1, keepdims=True))
            o.append(p / p.sum(1, keepdims=True) @ v[:, sl])
        x = x + g1 * lin(b + "attn.proj", np.concatenate(o, 1))
        h = ln(x) * (1 + s2) + b2
        x = x + g2 * lin(b + "ffn.fc2", ffn_reuse.gelu(lin(b + "ffn.fc1", h)))
    sh, sc = lin("ada_f", c)[0].reshape(2, d)
    return D.unpatchify(lin("out", ln(x) * (1 + sc) + sh), sp.patch, sp.channels)


def test_trained_dit_close_to_float():
    """The trained dit64 at INT12 on the default core: the predicted noise within 5 % (relative
    RMS) of the float model's at three timesteps (measured: 0.8 to 1.3 %)."""
    cfg = preset("exion")
    w = D.load_npz(D.__file__.rsplit("/", 3)[0] + "/data/dit_digits.npz")
    img = D.initial_noise(w.spec, 0, 1)[0]
    rt = DiTRuntime(w, cfg, "base", Host(cfg, make_backend("model", cfg), Stats(cfg)))
    for t in (999, 500, 100):
        ref = _float_eps(w, img, t, 3)
        got = rt.forward(img, t, 3, 0, 0)
        err = np.sqrt(np.mean((got - ref) ** 2) / np.mean(ref ** 2))
        assert err < 0.05, (t, err)


def test_run_cli_writes_report(capsys, tmp_path):
    out = tmp_path / "run"
    rc, so, se = run(capsys, "run", "--model", "tiny", "--iterations", "2", "--images", "2",
                     "--rows", "4", "--cols", "4", "--lanes", "4", "--out", str(out))
    assert rc == 0, se
    names = sorted(p.name for p in out.iterdir())
    assert names == ["images.npy", "images.png", "iterations.csv", "layers.csv", "run.json"]
    res = json.loads((out / "run.json").read_text())
    assert res["totals"]["cycles"] > 0 and res["energy"]["per_image_uj"] > 0
    assert sum(r["cycles"] for r in res["layers"]) == res["totals"]["cycles"]
    assert np.load(out / "images.npy").shape == (2, 1, 8, 8)
    assert "energy per image" in so and "utilization" in so
    assert "iterations" in se                                     # the progress bar


@pytest.mark.parametrize("argv, option", [
    (["--mode", "fast"], "--mode"),
    (["--backend", "gpu"], "--backend"),
    (["--cfse", "gpu"], "--cfse"),
    (["--images", "0"], "--images"),
    (["--images", "x"], "--images"),
    (["--model", "dit-zz"], "--model"),
    (["--model", "missing.npz"], "--model"),
    (["--labels", "1,2"], "--labels"),
    (["--blocks", "9"], "--blocks"),
    (["--data-width", "6", "--acc-width", "20"], "data_width"),
    (["--backend", "rtl"], "--backend rtl"),
    (["--rows", "0"], "rows"),
    (["--sim", "xsim"], "--sim"),
])
def test_run_cli_refuses(capsys, tmp_path, argv, option):
    out = tmp_path / "out"
    rc, so, se = run(capsys, "run", "--model", "tiny", "--iterations", "1", "--out", str(out),
                     *argv)
    assert rc == 2 and so == ""
    assert len(se.strip().splitlines()) == 1 and option in se and "Traceback" not in se
    assert not out.exists()


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_runtime_on_rtl(sim):
    """Two iterations of the mini DiT in mode ``all`` (PREDICT, sparse Q K^T, FFN_MASK, then
    SCHEDULE + sparse FC1) replayed on the RTL: every frame, register, mask and SMEM read and
    every CYCLES equal the model's. CFSE work on the host: the CFSE commands' replay is
    test_block_on_chip_rtl's (with them this run takes 4 times as long under Icarus)."""
    from exion_tools.runtime.rtl import replay
    cfg = SMALL.replace(iterations=2, ffn_reuse_n=1)
    be = make_backend("rtl", cfg)
    st = Stats(cfg)
    DiTRuntime(D.synthetic(MINI, 2), cfg, "all", Host(cfg, be, st), cfse="host").sample([5], 0)
    r = replay(be.log, sim)
    assert r["commands"] == st.totals()["commands"]
    assert sum(r["cycles"]) == st.totals()["cycles"]
    assert r["compared"] > r["commands"] // 2


def test_counts_match_energy_counts():
    """The runtime's action counts of one dense GEMM (16 tokens, K = 256, 256 channels, with
    FFN_MASK) equal golden.energy_counts' for its SDUE, memory reads and mask writes."""
    from golden.energy_counts import dense_gemm_counts
    cfg = preset("exion")
    rng = np.random.default_rng(3)
    st = Stats(cfg)
    Host(cfg, make_backend("model", cfg), st).gemm(rng.integers(-9, 9, (16, 256)),
                                                  rng.integers(-9, 9, (256, 256)), 4,
                                                  ffn_th=(0, -9))
    want, rep = dense_gemm_counts(16, 256, 256, cfg, ffn_mask=True, loads=False)
    for key, n in want.counts.items():
        assert st.counts.counts.get(key) == n, key
    assert st.totals()["cycles"] == rep.compute_cycles


#: One block small enough for the RTL: hidden 16, 2 heads of 8, FFN 32 (run on 8 tokens: two
#: row groups of the 4x4 core).
BLOCK = D.DiTSpec(image_size=8, patch=2, hidden=16, depth=1, heads=2, mlp_ratio=2, freq_dim=16,
                  name="block")


def _golden_block(plan, x, cfg):
    """The block of exion_tools.runtime.block computed directly: golden.intsem GEMMs and the
    golden.cfse functions through golden.core_cfse's code conversions."""
    W, L, fo = cfg.data_width, cfg.lanes, cfg.data_width - 6
    s = 10 - fo

    def act(q):
        return cfse.code_to_act(q, s)

    def code(v, sh=s):
        return cfse.act_to_code(v, sh, W)

    def mm(xc, w, shift, bias_word=False):
        xp = np.zeros((xc.shape[0], w.shape[0]), np.int64)
        xp[:, :xc.shape[1]] = xc
        if bias_word:
            xp[:, -L:] = 1 << (W - 2)
        return intsem.requantize(intsem.int_matmul(xp, w, L, cfg.acc_width), shift, W)

    def op(xc, o):
        return mm(xc, o.w, o.shift, o.w.shape[0] > -(-o.k // L) * L)
    n, d = x.shape
    hd = d // plan.heads
    m1, m2 = op(plan.c, plan.mod1)[0], op(plan.c, plan.mod2)[0]
    qkv = op(code(cfse.layernorm_adaln(act(x), act(m1[:d]), act(m1[d:]))), plan.qkv)
    o = []
    for h in range(plan.heads):
        q, k, v = (qkv[:, j * d + h * hd:j * d + (h + 1) * hd] for j in range(3))
        p = code(cfse.softmax(act(mm(q, k.T, fo))), 16 - W)
        o.append(mm(p, v, W - 1))
    o = code(cfse.residual_add(np.zeros((n, d), np.int64), act(np.concatenate(o, 1)), 1024))
    x1 = code(cfse.residual_add(act(x), act(op(o, plan.proj)), 1024))
    h2 = code(cfse.layernorm_adaln(act(x1), act(m2[:d]), act(m2[d:])))
    g = code(cfse.gelu(act(op(h2, plan.fc1))))
    return code(cfse.residual_add(act(x1), act(op(g, plan.fc2)), 1024))


def _block_run(backend, seed=4):
    """One block of BLOCK on 8 tokens, SMALL core: (output codes, golden codes, stats)."""
    from exion_tools.runtime.block import plan_block, run_block
    cfg = SMALL
    st = Stats(cfg)
    host = Host(cfg, backend, st)
    w = D.synthetic(BLOCK, seed)
    rng = np.random.default_rng(seed)
    c_act = rng.integers(-2048, 2048, (1, BLOCK.hidden))
    x = rng.integers(-300, 300, (8, BLOCK.hidden))
    plan = plan_block(w, 0, c_act, cfg, host)
    st.layer = "block"
    return run_block(host, plan, x), _golden_block(plan, x, cfg), st


def test_block_on_chip_bit_exact():
    """One DiT block as core commands only (LAYERNORM, GEMMs, SOFTMAX, RESIDUAL, GELU) equals
    the direct golden computation; the CFSE work is all commands (no host elements)."""
    got, want, st = _block_run(make_backend("model", SMALL))
    assert np.array_equal(got, want)
    assert np.abs(want).max() > 8                      # not a trivially small output
    t = st.totals()
    assert t["host_elements"] == 0 and t["cfse_cycles"] > t["cycles"] // 2


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_block_on_chip_rtl(sim):
    """The same block replayed on the RTL: every frame, register and CYCLES equal the
    model's, so the RTL's block output is the golden one."""
    from exion_tools.runtime.rtl import replay
    be = make_backend("rtl", SMALL)
    got, want, st = _block_run(be)
    assert np.array_equal(got, want)
    r = replay(be.log, sim)
    assert r["commands"] == st.totals()["commands"]
    assert sum(r["cycles"]) == st.totals()["cycles"]
