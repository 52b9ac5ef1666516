"""The eager predictor's projection (``PREDICT_PROJ``): the command-level model against
``golden.eager`` (pure Python), the cycle formula, and the RTL against the model
(sim/tb_core_predproj.py) under Icarus and Verilator with random pauses on every bus and
stream."""

import numpy as np
import pytest

from exion.regmap import encode
from golden import cycle_model, eager, intsem
from golden.core_model import CoreModel
from golden.sdue import dense_wmem_image
from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


def _model_with(cfg, x, w, wbuf=0):
    m = CoreModel(cfg)
    L = cfg.lanes
    m.state.imem[0, :, :x.shape[1] // L] = x.reshape(cfg.rows, -1, L)
    img = dense_wmem_image(w, cfg)
    m.state.wmem[wbuf, :, :img.shape[1]] = img
    return m


def _issue(m, **f):
    flags = f.pop("flags", ())
    args, word = encode("PREDICT_PROJ", flags=flags, **f)
    assert m.issue(args, word) == 0, f"refused: cause {m.regs.cause}"
    m.run()


@pytest.mark.parametrize("name", ["4x4", "8x3"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_model_is_golden_eager(name, seed):
    """Q' and K' written by the model equal golden.eager.predict_scores's qp / kp (the same
    shifts), in the layouts PREDICT reads; PROJ_SAT counts what the shift saturated; CYCLES
    is predict_proj_cycles."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(seed)
    L, R, C = cfg.lanes, cfg.rows, cfg.cols
    kc = int(rng.integers(1, cfg.words("imem") // 2 + 1))
    dh = int(rng.integers(1, 3 * L))
    kcp = -(-dh // L)
    hi = cfg.data_max
    x = rng.integers(-hi - 1, hi + 1, (R, kc * L))
    x[int(rng.integers(R))] = 0                                  # a zero row
    wq = rng.integers(-hi - 1, hi + 1, (kc * L, dh))
    wk = rng.integers(-hi - 1, hi + 1, (kc * L, dh))
    shift_q = [0, 13, 20][seed - 1]
    shift_k = 14
    ref = eager.predict_scores(x, wq, wk, steps=cfg.lod_steps, shift_q=shift_q,
                               shift_k=shift_k, width=cfg.data_width)
    m = _model_with(cfg, x, wq)
    _issue(m, kc=kc, n_ch=dh, n_rows=R, ibuf=0, wbuf=0, dbuf=1, dbase=0, shift=shift_q)
    got = m.state.imem[1, :, :kcp].reshape(R, kcp * L)
    assert np.array_equal(got[:, :dh], ref.qp) and not got[:, dh:].any()
    sat = np.count_nonzero(intsem.requantize(ref.q_acc, shift_q, 62) != ref.qp)
    assert m.regs.proj_sat == sat
    assert m.regs.cycles == cycle_model.predict_proj_cycles(
        dh, kc, L, R, False, operand_stages=cfg.operand_stages)
    m.state.wmem[0, :, :dense_wmem_image(wk, cfg).shape[1]] = dense_wmem_image(wk, cfg)
    key_base = int(rng.integers(0, 2 * C))
    n_rows = int(rng.integers(1, R + 1))
    _issue(m, flags=("KEYS",), kc=kc, n_ch=dh, n_rows=n_rows, ibuf=0, wbuf=0, dbuf=1,
           dbase=1, key_base=key_base, shift=shift_k)
    for r in range(n_rows):
        j = key_base + r
        lo = 1 + (j // C) * kcp
        key = m.state.wmem[1, j % C, lo:lo + kcp, 0].reshape(-1)
        assert np.array_equal(key[:dh], ref.kp[r]) and not key[dh:].any()
    assert m.regs.cycles == cycle_model.predict_proj_cycles(
        dh, kc, L, n_rows, True, operand_stages=cfg.operand_stages)


def test_cycles_formula():
    # per lane chunk of outputs: 3 pipeline cycles and its writes
    assert cycle_model.predict_proj_cycles(32, 8, 16, 16, False) == 32 * 8 + 2 * (3 + 1)
    assert cycle_model.predict_proj_cycles(32, 8, 16, 16, True) == 32 * 8 + 2 * (3 + 16)
    assert cycle_model.predict_proj_cycles(1, 1, 4, 1, True) == 1 + 3 + 1
    with pytest.raises(ValueError, match="n_ch = 0"):
        cycle_model.predict_proj_cycles(0, 1, 4, 1, False)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_core_predproj(sim, name):
    """4x4 (cols a power of two) and 8x3 (K' bank and word of a key by a division by 3, more
    rows than columns); the builds are tests/test_core.py's."""
    run_bench(CONFIGS[name], "core", sim, "sim.tb_core_predproj")


def test_runtime_eager_on_chip_bit_exact():
    """The runtime with eager prediction on chip (exion_tools/runtime/lower_eager.py:
    PREDICT_PROJ with the shift found from PROJ_SAT, then PREDICT on the core's buffers)
    gives the same samples as with the projections on the host, bit for bit, and the
    host computes no projection."""
    from exion_tools.runtime import dit as D
    from exion_tools.runtime import lower_eager
    from exion_tools.runtime.backend import make_backend
    from exion_tools.runtime.counts import Stats
    from exion_tools.runtime.lower import Host
    from exion_tools.runtime.model import DiTRuntime
    from tests.test_runtime import MINI, SMALL

    cfg = SMALL.replace(iterations=1, ffn_reuse_n=1, ep_k=0.25)
    out, ops = {}, {}
    for place in ("host", "chip"):
        st = Stats(cfg)
        host = Host(cfg, make_backend("model", cfg), st)
        rt = DiTRuntime(D.synthetic(MINI, 1), cfg, "ep", host)
        rt.placement["eager_projection"] = place
        log = []
        real = host.backend.command
        host.backend.command = lambda op, **f: (log.append(op), real(op, **f))[1]
        out[place] = rt.sample([3], 1)
        ops[place] = log
    assert lower_eager.chip_ok(Host(cfg, make_backend("model", cfg), Stats(cfg)),
                               MINI.tokens, MINI.hidden, MINI.hidden // MINI.heads)
    assert np.array_equal(out["chip"], out["host"])
    assert "PREDICT_PROJ" in ops["chip"] and "PREDICT_PROJ" not in ops["host"]
    assert ops["chip"].count("PREDICT") == ops["host"].count("PREDICT")
