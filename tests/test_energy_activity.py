"""Activity counters of an RTL run against the energy model's action counts
(sim/tb_energy_activity.py), under Icarus and Verilator, with and without random pauses on
every bus and stream: a runtime command stream of a dense GEMM, an FFN_MASK GEMM, SCHEDULE +
sparse GEMMs, PREDICT, GELU, SOFTMAX (with and without a key mask), LAYERNORM and RESIDUAL,
replayed on the 4 x 4 core (and on the 8 x 3 one: merge
degree 3, one drain port, a CAU with two open blocks); every counted action must equal the
runtime's count for the same commands (exion_tools.runtime.counts), pauses or not."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from exion.limits import CAU_BEAT
from exion.util import atomic_write
from golden import cycle_model
from golden.energy import EnergyError
from golden.energy_counts import cfse_command_counts, dense_gemm_counts, predict_counts
from exion_tools.runtime.backend import ModelBackend
from exion_tools.runtime.counts import Stats
from exion_tools.runtime.lower import Host
from sim.runner import SIMULATORS, run_bench
from sim.tb_energy_activity import COMPARED
from tests.test_core import CONFIGS


def command_stream(cfg, seed: int = 7):
    """The recorded stream and the runtime's counts: a dense GEMM of two row groups (the
    second partial) and a partial channel block, the same with FFN_MASK, the sparse GEMM of
    its keep-mask, a PREDICT of both row groups, a GELU, a SOFTMAX of two row groups (the
    second partial), one with a key mask, a LAYERNORM of two row groups with adaLN and a
    gated RESIDUAL (partial IMEM words: channels not a multiple of ``lanes``)."""
    rng = np.random.default_rng(seed)
    backend = ModelBackend(cfg, record=True)
    stats = Stats(cfg)
    host = Host(cfg, backend, stats)
    m, k, n = cfg.rows + 2, 3 * cfg.lanes, 2 * cfg.cols + 1
    x = rng.integers(-40, 40, (m, k))
    w = rng.integers(-40, 40, (k, n))
    host.gemm(x, w, 6)
    _, keep = host.gemm(x, w, 6, ffn_th=(20, -20))
    host.sparse_gemm(x, w, keep, 6)
    q = rng.integers(-60, 60, (m, 2 * cfg.lanes))
    kk = rng.integers(-60, 60, (cfg.cols + 3, 2 * cfg.lanes))
    host.predict(q, kk, 0, 3)
    host.gelu(rng.integers(-200, 200, (cfg.rows, 2 * cfg.lanes + 1)))
    n = 2 * cfg.lanes + 3
    host.softmax(rng.integers(-3000, 3000, (cfg.rows + 1, n)))
    host.softmax(rng.integers(-3000, 3000, (cfg.rows, n)), rng.random((cfg.rows, n)) < 0.6)
    n = 2 * cfg.lanes + 1
    host.layernorm(rng.integers(-2000, 2000, (cfg.rows + 1, n)),
                   rng.integers(-300, 300, n), rng.integers(-300, 300, n))
    host.residual(rng.integers(-2000, 2000, (cfg.rows, n)),
                  rng.integers(-2000, 2000, (cfg.rows, n)), 700)
    counts = {f"{c}.{a}": int(v) for (c, a), v in stats.counts.counts.items()}
    return backend.log, counts


def run_activity(cfg, sim: str, pause: float, result: Path | None = None) -> dict:
    """Replay :func:`command_stream` on the RTL with the activity monitor; returns the
    bench's result (``rtl`` and ``model`` counts)."""
    log, counts = command_stream(cfg)
    with tempfile.TemporaryDirectory(prefix="exion_activity_") as tmp:
        lp, ep = Path(tmp) / "log.pkl", Path(tmp) / "expect.json"
        rp = result or Path(tmp) / "result.json"
        atomic_write(lp, log.dumps())
        atomic_write(ep, json.dumps(counts))
        run_bench(cfg, "core", sim, "sim.tb_energy_activity",
                  extra_env={"EXION_RUNTIME_LOG": str(lp), "EXION_ACTIVITY_EXPECT": str(ep),
                             "EXION_ACTIVITY_RESULT": str(rp), "EXION_CORE_PAUSE": str(pause)})
        return json.loads(Path(rp).read_text())


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name, pause", [("4x4", 0.0), ("4x4", 0.3), ("8x3", 0.3)])
def test_energy_activity(sim, name, pause):
    res = run_activity(CONFIGS[name], sim, pause)
    # the bench asserted equality; the stream exercises every compared action
    missing = [k for k in COMPARED if not res["model"].get(k)]
    assert not missing, f"the stream does not exercise {missing}"
    assert res["rtl"] == {k: v for k, v in res["rtl"].items() if k in COMPARED
                          or k.startswith("window.")}


def test_runtime_counts_equal_the_cycle_model_counts():
    """The chain RTL = runtime = cycle model: a dense GEMM and a PREDICT issued by the
    runtime count, on chip, what golden.energy_counts says for the same shapes."""
    cfg = CONFIGS["4x4"]
    rng = np.random.default_rng(3)
    for m, k, n in [(cfg.rows + 2, 3 * cfg.lanes, 2 * cfg.cols + 1), (cfg.rows, 5, 3)]:
        stats = Stats(cfg)
        host = Host(cfg, ModelBackend(cfg), stats)
        host.gemm(rng.integers(-9, 9, (m, k)), rng.integers(-9, 9, (k, n)), 2)
        want, _ = dense_gemm_counts(m, k, n, cfg, loads=False)
        for key in [("dpu", a) for a in ("mult", "tree_add", "acc_add", "ff_bit")] + [
                ("imem", "read"), ("wmem", "read"), ("omem", "write"), ("smem", "read")]:
            assert stats.counts.counts[key] == want.counts[key], (m, k, n, key)
    stats = Stats(cfg)
    host = Host(cfg, ModelBackend(cfg), stats)
    q, keys, dh = cfg.rows + 2, cfg.cols + 3, 2 * cfg.lanes
    host.predict(rng.integers(-9, 9, (q, dh)), rng.integers(-9, 9, (keys, dh)), 0, 3)
    want = predict_counts(q, keys, dh, cfg)
    for key, n in want.counts.items():
        assert stats.counts.counts[key] == n, key


def test_cfse_command_counts():
    """The CFSE commands' counts as the RTL does them (the activity bench holds the runtime's,
    which are these, to the RTL): every row unit runs, OMEM read in 1 / 1 / 3 / 4 passes,
    whole IMEM words into the rows < n_rows, RESIDUAL's x from IMEM, a masked SOFTMAX's keep
    bits with every read; bad arguments are named."""
    cfg = CONFIGS["4x4"]            # rows 4, lanes 4
    beat = CAU_BEAT
    c = cfse_command_counts("softmax", 11, 3, cfg, key_mask=True)
    assert c.counts == {("cfse", "softmax"): 44, ("omem", "read"): 132,
                        ("imem", "write"): 9, ("mask", "read"): 33 * beat}
    assert c.cycles == cycle_model.cfse_command_cycles("SOFTMAX", 11, 3)
    assert ("mask", "read") not in cfse_command_counts("softmax", 11, 3, cfg).counts
    assert cfse_command_counts("layernorm", 9, 1, cfg).counts == {
        ("cfse", "layernorm"): 36, ("omem", "read"): 144, ("imem", "write"): 3}
    assert cfse_command_counts("residual", 9, 4, cfg).counts == {
        ("cfse", "residual"): 36, ("omem", "read"): 36, ("imem", "write"): 12,
        ("imem", "read"): 36}
    assert cfse_command_counts("gelu", 4, 2, cfg, ffn_mask=True).counts == {
        ("cfse", "gelu"): 16, ("omem", "read"): 16, ("imem", "write"): 2, ("mask", "write"): 4}
    for args, msg in ((("exp", 4, 1), "op = 'exp'"), (("gelu", 0, 1), "n_ch = 0"),
                      (("gelu", 4, 5), "n_rows = 5")):
        with pytest.raises(EnergyError, match=msg):
            cfse_command_counts(*args, cfg)
