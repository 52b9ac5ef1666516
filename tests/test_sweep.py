"""``exion sweep`` on Dask (exion_tools/sweep.py, sweep_point.py, sweep_report.py).

A 2-worker LocalCluster (processes) that this module starts and stops runs tiny points (area
model, one keep-mask): a worker is killed while it runs a point and every result still
arrives (Dask reschedules); a second run takes every point from the cache, which a file per
task start proves (no new start); a point that fails is reported while the others finish;
bad arguments exit 2 with one line and write nothing.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import pytest

from exion.config import preset
from exion_tools import sweep
from exion_tools.sweep_point import area_model, dit_energy, ffn_masks, point_key, run_point
from exion_tools.sweep_report import pareto

# The workers cannot import this file: the task wrapper below travels by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

OPTS = {"objectives": ["area", "cycles"], "area": "model", "masks": 1}
VICTIM = {"rows": 4, "cols": 4}     # its first worker is killed while it runs
FAILING = {"rows": 2, "cols": 4}    # raises


def recorded(log: str, config: dict, opts: dict, workdir: str) -> dict:
    """The task under test: :func:`run_point`, plus a file ``<key>.<pid>.<ns>`` per start;
    the victim's first run waits (at most 60 s) until the test has killed its worker."""
    key = Path(workdir).name
    Path(log, f"{key}.{os.getpid()}.{time.time_ns()}").touch()
    if {k: config[k] for k in VICTIM} == VICTIM:
        deadline = time.monotonic() + 60
        while not Path(log, "released").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if {k: config[k] for k in FAILING} == FAILING:
        raise RuntimeError("injected failure")
    return run_point(config, opts, workdir)


def starts(log: Path) -> dict[str, list[int]]:
    """key -> pids of the task starts recorded so far."""
    found = sorted((int(ns), key, int(pid)) for key, pid, ns in
                   (p.name.split(".") for p in log.iterdir() if p.name != "released"))
    out: dict[str, list[int]] = {}
    for _, key, pid in found:  # in order of start
        out.setdefault(key, []).append(pid)
    return out


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster
    import logging
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.CRITICAL) as c, \
            Client(c) as client:
        yield c, client


def _points():
    return sweep.build_points("exion", {"lanes": 4}, {"rows": [2, 4], "cols": [2, 4]},
                              opts=OPTS)


def test_kill_worker_cache_and_failure(cluster, tmp_path):
    _, client = cluster
    log = tmp_path / "log"
    log.mkdir()
    points = _points()
    victim = next(p for p in points if p.overrides["rows"] == 4 and p.overrides["cols"] == 4)
    killed = []

    def killer():  # kill the worker process the victim runs on, then let its rerun go on
        deadline = time.monotonic() + 60
        while victim.key not in starts(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = starts(log)[victim.key][0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        (log / "released").touch()

    t = threading.Thread(target=killer)
    t.start()
    task = functools.partial(recorded, str(log))
    rows, failed, counts = sweep.run_sweep(points, OPTS, tmp_path / "out", client, task=task)
    t.join()

    assert counts == {"points": 4, "cached": 0, "computed": 3, "failed": 1}
    assert [f["overrides"] for f in failed] == [{"lanes": 4, **FAILING}]
    assert failed[0]["error"] == "RuntimeError: injected failure"
    assert sorted((r["rows"], r["cols"]) for r in rows) == [(2, 2), (4, 2), (4, 4)]
    first = starts(log)
    # The victim started twice, the second time in another process: Dask rescheduled it.
    assert len(killed) == 1 and len(first[victim.key]) == 2
    assert first[victim.key][0] == killed[0] != first[victim.key][1]
    for r in rows:
        assert r["area_source"] == "model" and r["area_tr"] > 0 and r["latency_us"] > 0
    cache = tmp_path / "out" / "sweep"
    assert sorted(p.name for p in cache.glob("*.json")) == sorted(
        f"{p.key}.json" for p in points if p.overrides != {"lanes": 4, **FAILING})

    # Second run: every finished point from the cache (no start recorded), the failed one again.
    rows2, failed2, counts2 = sweep.run_sweep(points, OPTS, tmp_path / "out", client, task=task)
    assert counts2 == {"points": 4, "cached": 3, "computed": 0, "failed": 1}
    second = starts(log)
    fail_key = failed[0]["key"]
    assert {k: v for k, v in second.items() if k != fail_key} == \
        {k: v for k, v in first.items() if k != fail_key}
    assert len(second[fail_key]) == len(first[fail_key]) + 1
    assert rows2 == rows and failed2 == failed


def test_cli_on_a_running_cluster(cluster, tmp_path, capsys):
    c, _ = cluster
    out = tmp_path / "out"
    argv = ["--scheduler", c.scheduler_address, "--vary", "rows=2,4", "--set", "cols=2",
            "--set", "lanes=4", "--area", "model", "--masks", "1", "--out", str(out)]
    assert sweep.main(argv) == 0
    text = capsys.readouterr().out
    assert "2 points, 2 computed, 0 from the cache, 0 failed" in text
    with open(out / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["label"], r["rows"], r["cols"]) for r in table] == [("r2", "2", "2"),
                                                                   ("r4", "4", "2")]
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["points"]) == 2 and data["failed"] == []
    assert sweep.main(argv) == 0
    assert "2 points, 0 computed, 2 from the cache, 0 failed" in capsys.readouterr().out


def test_cli_local_cluster(tmp_path, capsys):
    """Without --scheduler the sweep starts (and stops) its own LocalCluster."""
    out = tmp_path / "out"
    assert sweep.main(["--workers", "1", "--vary", "merge_degree=1,2", "--set", "rows=2",
                       "--set", "cols=2", "--set", "lanes=4", "--area", "model",
                       "--masks", "1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "2 points, 2 computed" in captured.out
    assert "local cluster, 1 workers x 1 threads" in captured.err
    assert (out / "sweep.csv").read_text().count("\n") == 3
    # Everything cached: no cluster is started at all.
    assert sweep.main(["--workers", "1", "--vary", "merge_degree=1,2", "--set", "rows=2",
                       "--set", "cols=2", "--set", "lanes=4", "--area", "model",
                       "--masks", "1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "2 points, 0 computed, 2 from the cache" in captured.out
    assert "local cluster" not in captured.err


@pytest.mark.parametrize("argv, message", [
    (["--vary", "rows=0"], "point r0: rows = 0 is out of range [1, 64]"),
    (["--vary", "rows=a"], "--vary 'rows=a': rows must be an integer in [1, 64], not 'a'"),
    (["--vary", "colz=1"], "--vary 'colz=1': 'colz' is not a configuration field"),
    (["--vary", "rows="], "--vary 'rows=': empty value"),
    (["--vary", "rows"], "--vary 'rows': expected FIELD=V1,V2,..."),
    (["--vary", "rows=2", "--vary", "rows=4"], "rows is varied twice"),
    (["--vary", "rows=2", "--set", "rows=4"], "rows is also given by --set"),
    (["--set", "lanes=3"], "lanes = 3 must be a power of two"),
    (["--workers", "0"], "--workers = 0 is out of range [1, 256]"),
    (["--threads", "65"], "--threads = 65 is out of range [1, 64]"),
    (["--masks", "-1"], "--masks = -1 is out of range [0, 4096]"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--scheduler excludes --workers"),
    (["--objectives", "area,power"], "--objectives = 'area,power': each must be one of"),
    (["--quick", "--vary", "rows=2"], "--quick excludes --vary"),
    (["--area", "fast"], "argument --area: invalid choice: 'fast'"),
    (["--preset", "nope"], "--preset = 'nope' is not one of"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    try:
        rc = sweep.main(argv + ["--out", str(out)])
    except SystemExit as e:
        rc = e.code
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("exion sweep: error: ") \
        and message in lines[0], captured.err
    assert not out.exists()


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert sweep.main(["--quick", "--area", "model", "--out", str(f)]) == 2
    assert capsys.readouterr().err == \
        f"exion sweep: error: --out {str(f)!r}: is a file, not a folder\n"


def test_point_is_pure_and_keyed(tmp_path):
    cfg = preset("exion", rows=2, cols=2, lanes=4, adder_stages=1).to_dict()
    a = run_point(cfg, OPTS, str(tmp_path / "a"))
    b = run_point(cfg, OPTS, str(tmp_path / "b"))
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    # FFN-Reuse never costs cycles; the compute cycles of a dense GEMM are the cycle model's.
    assert a["reuse_cycles"] <= a["dense_cycles"] and a["fc1_reuse_cycles"] <= a["fc1_cycles"]
    assert point_key(cfg, OPTS) != point_key({**cfg, "rows": 4}, OPTS)
    assert point_key(cfg, OPTS) != point_key(cfg, {**OPTS, "area": "synth"})
    assert point_key(cfg, OPTS) == point_key({**cfg, "name": "other"}, OPTS)


def test_area_model_against_synthesis():
    # Synthesized by exion sweep --area synth (docs/sweep.md): 16 x 16 core 90.12 M
    # transistors, 4 x 4 x 16 lanes 15.10 M, 2 x 2 x 4 lanes 6.14 M.
    for ov, tr in (({}, 90.12e6), ({"rows": 4, "cols": 4}, 15.10e6),
                   ({"rows": 2, "cols": 2, "lanes": 4, "adder_stages": 1}, 6.14e6)):
        assert area_model(preset("exion", **ov))["area_tr"] == pytest.approx(tr, rel=0.03)


def test_pareto():
    rows = [{"a": 1, "b": 5}, {"a": 2, "b": 2}, {"a": 3, "b": 3}, {"a": 2, "b": 2}]
    assert pareto(rows, "a", "b") == [True, True, False, True]


def test_default_grid_and_new_fields():
    points = sweep.build_points("exion", {}, {})
    assert len(points) == len(sweep.GRID) == 10
    # Any configuration field can be varied by name, without code for it.
    pts = sweep.build_points("exion", {}, {"offchip_bytes_per_cycle": [8.0, 64.0]})
    assert [p.config["offchip_bytes_per_cycle"] for p in pts] == [8.0, 64.0]


def test_bus_width_limits_the_offchip_rate(tmp_path):
    # A 64-bit port (8 B a cycle) is narrower than the 32 B a cycle of memory: slower.
    opts = {"objectives": ["cycles"], "masks": 1}
    wide, narrow = (run_point(preset("exion", rows=8, cols=8, bus_width=w).to_dict(), opts,
                              str(tmp_path / str(w))) for w in (256, 64))
    assert narrow["reuse_cycles"] == wide["reuse_cycles"]
    assert narrow["reuse_total"] > wide["reuse_total"]


def test_energy_objective(tmp_path):
    # The energy column is the energy model's price of the same run: FFN-Reuse (sparse FC1 on
    # real keep-masks) costs less than dense, a narrower port moves the same bytes for longer
    # (more leakage, same dynamic energy), and the column is what golden.energy gives.
    opts = {"objectives": ["energy"], "masks": 2}
    cfg = preset("exion", rows=4, cols=4, lanes=4)
    out = run_point(cfg.to_dict(), opts, str(tmp_path / "a"))
    assert 0 < out["energy"] < out["energy_dense"]
    assert 0.5 < out["energy_offchip_share"] < 1
    assert out == {**out, **dit_energy(cfg, ffn_masks(2))}
    narrow = run_point(cfg.replace(bus_width=64).to_dict(), opts, str(tmp_path / "b"))
    assert narrow["energy"] > out["energy"]
