"""Activity counters of an RTL run against the energy model's action counts
(sim/tb_energy_activity.py), under Icarus and Verilator, with and without random pauses on
every bus and stream: a runtime command stream of a dense GEMM, an FFN_MASK GEMM, SCHEDULE +
sparse GEMMs, PREDICT and GELU, replayed on the 4 x 4 core (and on the 8 x 3 one: merge
degree 3, one drain port, a CAU with two open blocks); every counted action must equal the
runtime's count for the same commands (exion_tools.runtime.counts), pauses or not."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from exion.util import atomic_write
from golden.energy_counts import dense_gemm_counts, predict_counts
from exion_tools.runtime.backend import ModelBackend
from exion_tools.runtime.counts import Stats
from exion_tools.runtime.lower import Host
from sim.runner import SIMULATORS, run_bench
from sim.tb_energy_activity import COMPARED
from tests.test_core import CONFIGS


def command_stream(cfg, seed: int = 7):
    """The recorded stream and the runtime's counts: a dense GEMM of two row groups (the
    second partial) and a partial channel block, the same with FFN_MASK, the sparse GEMM of
    its keep-mask, a PREDICT of both row groups and a GELU."""
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
