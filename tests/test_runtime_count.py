"""The count-only path (exion_tools/runtime/count_only.py, docs/runtime.md "Count-only runs"):
its counters equal those of the run that executes every command on the command-level model,
with the masks that run used; the fast path (golden data, counted commands) gives the model
backend's images and counters; the memoized blocks of a trace-driven run count what running
every block gives; the SMEM-half overlap changes cycles only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exion.config import preset
from exion_tools.runtime import dit as D
from exion_tools.runtime.backend import make_backend
from exion_tools.runtime.cli import MODELS
from exion_tools.runtime.count_only import (CountHost, CountRuntime, FastHost, MaskLog,
                                            RecordingRuntime, ReplayMasks, TraceMasks)
from exion_tools.runtime.counts import Stats
from exion_tools.runtime.lower import Host
from exion_tools.runtime.model import DiTRuntime


@pytest.fixture(scope="module")
def dit64_1():
    """The trained dit64's first block (every layer kind, real masks)."""
    w = D.load_npz(MODELS["dit64"])
    return dataclasses.replace(w, spec=dataclasses.replace(w.spec, depth=1))


def _rows(st: Stats) -> dict:
    return {k: v.as_dict(1) for k, v in st.rows.items()}


def _same(a: Stats, b: Stats) -> None:
    assert a.totals() == b.totals()
    assert _rows(a) == _rows(b)
    assert a.counts.counts == b.counts.counts and a.counts.cycles == b.counts.cycles


CASES = [("all", True, 4), ("all", False, 1), ("ep", True, 1), ("ffnr", True, 4),
         ("base", False, 1)]


@pytest.mark.parametrize("mode,overlap,rate", CASES)
def test_count_only_equals_model_backend(dit64_1, mode, overlap, rate):
    """Three iterations (dense, sparse, sparse FFN): every per-layer counter and action count
    of the count-only run, fed the masks the executing run used, equals the executing run's."""
    cfg = preset("exion", iterations=3, cau_rate=rate)
    st, log = Stats(cfg), MaskLog()
    RecordingRuntime(dit64_1, cfg, mode, Host(cfg, make_backend("model", cfg), st,
                                               overlap=overlap), log=log).sample([0], 0)
    sc = Stats(cfg)
    CountRuntime(dit64_1, cfg, mode, CountHost(cfg, sc, overlap=overlap),
                 masks=ReplayMasks(log)).sample([0], 0)
    assert st.totals()["commands"] > 0
    if mode != "base":
        assert log.ffn or log.eager
    _same(st, sc)


def test_fast_path_equals_model_backend(dit64_1):
    """Golden results with counted commands: the model backend's images and counters."""
    cfg = preset("exion", iterations=3, cau_rate=4)
    out = []
    for host in (lambda st: Host(cfg, make_backend("model", cfg), st, overlap=True),
                 lambda st: FastHost(cfg, st, overlap=True)):
        st = Stats(cfg)
        out.append((DiTRuntime(dit64_1, cfg, "all", host(st)).sample([0], 0), st))
    (a, sa), (b, sb) = out
    assert np.array_equal(a, b)
    _same(sa, sb)


def test_overlap_changes_cycles_only(dit64_1):
    """The SMEM halves: the same images and MACs, fewer cycles (SCHEDULE beside GEMM)."""
    cfg = preset("exion", iterations=2, ffn_reuse_n=1)
    res = []
    for overlap in (False, True):
        st = Stats(cfg)
        img = DiTRuntime(dit64_1, cfg, "all", FastHost(cfg, st, overlap=overlap)).sample([0], 0)
        res.append((img, st.totals()))
    (a, ta), (b, tb) = res
    assert np.array_equal(a, b)
    assert ta["macs_done"] == tb["macs_done"] and ta["commands"] == tb["commands"]
    assert tb["schedule_cycles"] < ta["schedule_cycles"]
    assert ta["cycles"] - tb["cycles"] == ta["schedule_cycles"] - tb["schedule_cycles"]


def test_trace_masks_block_memo():
    """A trace-driven count-only run of a 5-block shape (blocks mapped onto the trace's 4):
    the memoized blocks give the counters of running every block (no memo)."""
    spec = D.DiTSpec(image_size=32, patch=2, channels=1, hidden=64, depth=1, heads=2,
                     name="s")
    w = D.synthetic(spec, 0)
    cfg = preset("exion", iterations=4)
    out = []
    for memo in (True, False):
        st = Stats(cfg)
        rt = CountRuntime(w, cfg, "all", CountHost(cfg, st, overlap=True),
                          masks=TraceMasks(cfg.iterations, 5), depth=5)
        if not memo:
            rt.masks.block_key = lambda where, heads: None
        rt.sample([0], 0)
        out.append(st)
    _same(*out)
    t = out[0].totals()
    assert t["macs_skipped"] > 0 and t["schedule_cycles"] > 0


def test_run_cli_backends(capsys, tmp_path):
    """``exion run --backend fast`` writes the model backend's totals; ``--backend count``
    runs a shape from the trace masks and draws no images."""
    import json

    from cli_helpers import run
    tot = {}
    for be in ("model", "fast", "count"):
        out = tmp_path / be
        rc, so, se = run(capsys, "run", "--model", "tiny", "--iterations", "3", "--mode", "all",
                         "--backend", be, "--out", str(out))
        assert rc == 0, se
        tot[be] = json.loads((out / "run.json").read_text())["totals"]
        assert (out / "images.png").exists() == (be != "count")
    assert tot["model"] == tot["fast"]
    assert tot["count"]["cycles"] > 0 and tot["count"]["macs_skipped"] > 0


@pytest.mark.parametrize("argv, option", [
    (["--overlap", "maybe"], "--overlap"),
    (["--backend", "rtl", "--overlap", "on"], "--overlap on"),
])
def test_run_cli_refuses_overlap(capsys, tmp_path, argv, option):
    from cli_helpers import run
    out = tmp_path / "out"
    rc, so, se = run(capsys, "run", "--model", "tiny", "--iterations", "1", "--out", str(out),
                     *argv)
    assert rc == 2 and so == ""
    assert len(se.strip().splitlines()) == 1 and option in se and "Traceback" not in se
    assert not out.exists()
