"""The multi-core partition model (golden/multicore.py), the per-mode DiT counts
(golden/dit_modes.py) and ``exion evaluate`` (exion_tools/evaluate.py)."""

import csv
import json
import math

import numpy as np
import pytest

from exion.config import ConfigError, ExionConfig, preset
from golden import conmerge
from golden.dit_modes import MODES, Sparsity, iteration_kinds, model_counts
from golden.energy import ActionCounts
from golden.energy_counts import dense_gemm_counts, gemm_counts
from golden.multicore import PARTITIONS, Job, Other, run_job, run_other, split_ranges
from tests.cli_helpers import run

RNG = np.random.default_rng(17)


def _same(a: ActionCounts, b: ActionCounts):
    assert set(a.counts) == set(b.counts)
    for key, n in a.counts.items():
        assert n == pytest.approx(b.counts[key], rel=1e-12), key


def _shapes():
    """Seeded random GEMM shapes plus extremes (one row, one column, weights that do not
    fit WMEM)."""
    out = [(1, 1, 1), (16, 16, 16), (64, 128, 512), (40, 1152, 200), (17, 4608, 33)]
    out += [tuple(int(v) for v in RNG.integers(1, 200, 3)) for _ in range(4)]
    return out


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("shape", _shapes())
def test_one_core_equals_single_core_model(partition, shape):
    m, k, n = shape
    cfg = preset("exion")
    ref, rep = dense_gemm_counts(m, k, n, cfg)
    r = run_job(Job("g", m, k, n), cfg, partition, tile=False)
    assert r.cycles == rep.total_cycles
    _same(r.counts, ref)
    # count > 1 (heads): count times one GEMM, whatever the partition
    r4 = run_job(Job("g", m, k, n, count=3), cfg, partition, tile=False)
    assert r4.cycles == 3 * rep.total_cycles
    _same(r4.counts, ref * 3)


def test_one_core_sparse_mask_equals_single_core_model():
    cfg = preset("exion")
    mask = RNG.random((48, 96)) < 0.2
    sched = conmerge.schedule(mask, cfg, "greedy")
    ref, rep = gemm_counts(sched, mask, 64)
    r = run_job(Job("s", 48, 64, 96, masks=(mask,)), cfg, "tokens", tile=False)
    assert r.cycles == rep.total_cycles
    _same(r.counts, ref)


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("tile", [False, True])
def test_more_cores_never_slower_when_compute_bound(partition, tile):
    for m, k, n in [(256, 128, 512), (64, 32, 64), (100, 300, 70)]:
        for count in (1, 4):
            prev = math.inf
            for cores in (1, 2, 3, 4, 8, 24, 64):
                cfg = preset("exion", cores=cores, offchip_bytes_per_cycle=1.0e6)
                r = run_job(Job("g", m, k, n, count), cfg, partition, tile=tile, ports=False)
                assert r.bound == "compute"
                assert r.cycles <= prev, (m, k, n, count, cores)
                prev = r.cycles
            # enough units: the split really helps
            one = run_job(Job("g", m, k, n, count), preset("exion", offchip_bytes_per_cycle=1e6),
                          partition, tile=tile, ports=False)
            if (m >= 64 and partition == "tokens") or (n >= 64 and partition != "tokens"):
                assert prev < one.cycles


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("broadcast", [False, True])
def test_bandwidth_bound_is_limited_by_memory(partition, broadcast):
    m, k, n = 128, 256, 256
    slow = {c: run_job(Job("g", m, k, n, 2), preset("exion", cores=c,
                                                    offchip_bytes_per_cycle=0.5),
                       partition, broadcast=broadcast) for c in (1, 4, 16)}
    for c, r in slow.items():
        assert r.bound == "memory"
        assert r.cycles == pytest.approx(r.memory_cycles)
        # the time is the bytes over the shared bandwidth, whatever the cores
        assert r.cycles >= r.counts.counts[("offchip", "byte")] / 0.5
        assert r.cycles > r.compute_cycles
    # more cores add no bandwidth: never better than one core's bytes allow
    one_bytes = slow[1].counts.counts[("offchip", "byte")]
    for c in (4, 16):
        assert slow[c].cycles >= one_bytes / 0.5
        assert slow[c].counts.counts[("offchip", "byte")] >= one_bytes - 1e-9


def test_split_ranges_and_other():
    assert split_ranges(5, 3) == [(0, 2), (2, 4), (4, 5)]
    assert split_ranges(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    c = ActionCounts(cycles=101).add("cfse", "gelu", 1616)
    assert run_other(Other("x", c, 1000), preset("exion")).cycles == 101
    assert run_other(Other("x", c, 1000), preset("exion24")).cycles == math.ceil(101 / 24)
    assert run_other(Other("x", c, 2), preset("exion24")).cycles == math.ceil(101 / 2)


def test_bad_job_and_partition():
    with pytest.raises(ConfigError, match=r"m = 0 is out of range \[1, inf\)"):
        Job("g", 0, 1, 1)
    with pytest.raises(ConfigError, match="mask shape"):
        Job("g", 2, 1, 2, masks=(np.ones((2, 3), bool),))
    with pytest.raises(ConfigError, match="partition = 'rows' is not one of"):
        run_job(Job("g", 1, 1, 1), preset("exion"), "rows")
    with pytest.raises(ConfigError, match=r"cores = 65 is out of range \[1, 64\]"):
        ExionConfig(cores=65)


def _sparsity(t=64, f=512, heads=4):
    ffn = tuple(RNG.random((t, f)) < 0.2 for _ in range(2))
    eg = tuple(RNG.random((t, t)) < 0.05 for _ in range(heads))
    return Sparsity(ffn, eg, 0.4, 0.35, 0.3)


def test_modes_on_the_trained_dit_shape():
    sp = _sparsity()
    assert iteration_kinds("ffnr", 100, 2) == {True: 34, False: 66}
    assert iteration_kinds("ep", 50, 2) == {True: 50, False: 0}
    for name in ("exion", "exion4", "exion24"):
        cfg = preset(name)
        r = {m: model_counts("dit-digits", m, 6, cfg, sp, "heads") for m in MODES}
        macs = {m: r[m].counts.counts[("dpu", "mult")] for m in MODES}
        # sparsity removes multiplies; 'all' removes the most
        assert macs["ffnr"] < macs["base"] and macs["ep"] < macs["base"]
        assert macs["all"] < min(macs["ffnr"], macs["ep"])
        assert ("predictor", "lane_op") in r["ep"].counts.counts
        assert ("predictor", "lane_op") not in r["base"].counts.counts
        assert ("cau", "cycle") in r["ffnr"].counts.counts
    # more cores: faster on the same model
    one = model_counts("dit-digits", "base", 6, preset("exion", offchip_bytes_per_cycle=85.0),
                       sp, "heads")
    four = model_counts("dit-digits", "base", 6, preset("exion4"), sp, "heads")
    assert four.cycles < one.cycles


# -- the command line -------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--partition", "rows"], "--partition = 'rows' is not one of tokens, channels, heads"),
    (["--iterations", "0"], "--iterations = 0 is out of range [1, 1000]"),
    (["--iterations", "50,x"], "--iterations = 'x' is not an integer in [1, 1000]"),
    (["--models", "sd"], "--models = 'sd' is not one of dit-digits, dit-xl/2"),
    (["--samples", "65"], "--samples = 65 is out of range [1, 64]"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--out", ""], "--out: empty value"),
])
def test_bad_arguments_exit_2_and_write_nothing(args, message, capsys, tmp_path):
    out = tmp_path / "ev"
    rc, stdout, err = run(capsys, "evaluate", "--out", str(out), *args)
    assert rc == 2
    assert err.strip().count("\n") == 0 and message in err and "Traceback" not in err
    assert err.startswith("exion evaluate: error: ")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_out_that_is_a_file(capsys, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    rc, _, err = run(capsys, "evaluate", "--out", str(f))
    assert rc == 2 and "--out" in err and "is a file, not a folder" in err
    assert f.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_outputs_exist_and_parse(capsys, tmp_path):
    out = tmp_path / "ev"
    rc, stdout, err = run(capsys, "evaluate", "--out", str(out), "--models", "dit-digits",
                          "--iterations", "4", "--samples", "1")
    assert rc == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["energy_breakdown.png", "energy_efficiency.png", "evaluate.csv",
                     "evaluate.json", "partition.csv", "speedup.png"]
    res = json.loads((out / "evaluate.json").read_text())
    rows = res["rows"]
    assert len(rows) == 2 * len(MODES)
    for r in rows:
        assert r["latency_ms"] > 0 and r["energy_mj"] > 0
        assert r["action_counts"]["dpu.mult"] > 0 and r["cycles"] > 0
        assert sum(r["energy_j_by_component"].values()) * 1e3 == pytest.approx(r["energy_mj"])
        assert r["speedup"] == pytest.approx(r["gpu_latency_ms"] / r["latency_ms"])
        assert r["energy_efficiency"] == pytest.approx(r["gpu_energy_mj"] / r["energy_mj"])
    assert set(res["ranges"]) == {"exion4", "exion24"}
    with open(out / "evaluate.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) and float(table[0]["energy_mj"]) > 0
    with open(out / "partition.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 2 * len(PARTITIONS) * 2
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ranges, ours" in stdout and "paper 42.6-1090.9x" in stdout
    assert list(tmp_path.iterdir()) == [out]  # no temporary folder left behind


@pytest.mark.parametrize("partition", PARTITIONS)
def test_chunking_and_broadcast_never_move_more_bytes(partition):
    """The two choices of the model only ever remove traffic (and do, where weights do not
    fit WMEM)."""
    for m, k, n, count in [(64, 4608, 256, 1), (48, 1152, 300, 1), (32, 72, 256, 4)]:
        cfg = preset("exion4")
        b = {(t, c): run_job(Job("g", m, k, n, count), cfg, partition, tile=t, broadcast=c)
             .counts.counts[("offchip", "byte")] for t in (False, True) for c in (False, True)}
        assert b[(True, True)] <= b[(True, False)] <= b[(False, False)]
        assert b[(True, True)] <= b[(False, True)] <= b[(False, False)]
        if k == 4608 and partition != "tokens":
            assert b[(True, True)] < b[(False, False)]


@pytest.mark.parametrize("cores", [1, 4, 24])
def test_a_core_port_limits_what_the_shared_memory_does_not(cores):
    """With a shared bandwidth far above the ports, each core's AXI4 port (bus_width / 8
    bytes per cycle) sets the time; without the port limit the compute does."""
    job = Job("g", 256, 1152, 1152)
    for bus in (32, 64, 128):
        cfg = preset("exion", cores=cores, offchip_bytes_per_cycle=1e6, bus_width=bus)
        r = run_job(job, cfg, "channels")
        free = run_job(job, cfg, "channels", ports=False)
        assert r.cycles >= free.cycles
        per_core = r.counts.counts[("offchip", "byte")] / cores  # at least a core's share
        assert r.cycles >= per_core / (bus // 8) - 1
        if bus == 32:
            assert r.bound == "memory" and r.cycles > free.cycles
