"""Trace format of the workload (workload/traces.py): numpy only, runs in the main regression."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    from workload import paths, traces
except ImportError:  # pytest run without the repository root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from workload import paths, traces

from golden.eager import topk_count  # noqa: E402  (numpy only)
from golden.ffn_reuse import keep_count  # noqa: E402


@pytest.mark.parametrize("cols", [1, 7, 8, 9, 64, 512])
def test_pack_unpack_round_trip(cols):
    rng = np.random.default_rng(cols)
    m = rng.random((3, 5, cols)) < 0.3
    bits = traces.pack_masks(m)
    assert bits.dtype == np.uint8 and bits.shape == (3, 5, -(-cols // 8))
    assert np.array_equal(traces.unpack_masks(bits, cols), m)


def test_bit_order_is_little():
    m = np.zeros((1, 1, 10), bool)
    m[0, 0, 0] = m[0, 0, 9] = True
    assert traces.pack_masks(m)[0, 0].tolist() == [1, 2]


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    ffn = rng.random((4, 64, 40)) < 0.2
    eag = rng.random((6, 16, 16)) < 0.1
    kinds = {
        "ffn": {"masks": ffn, "meta": np.arange(16).reshape(4, 4),
                "meta_columns": ["sample", "iteration", "timestep", "block"],
                "gemm": {"M": 64, "K": 8, "N": 40}},
        "eager": {"masks": eag, "meta": np.arange(30).reshape(6, 5),
                  "meta_columns": ["sample", "iteration", "timestep", "block", "head"]},
    }
    traces.save_traces(tmp_path, kinds, {"note": "test"})
    ts = traces.load_traces(tmp_path)
    assert ts.info == {"note": "test"}
    assert np.array_equal(ts["ffn"].masks(), ffn)
    assert np.array_equal(ts["eager"].masks(), eag)
    assert ts["ffn"].gemm == {"M": 64, "K": 8, "N": 40}
    meta, mask = next(iter(ts["eager"]))
    assert meta == {"sample": 0, "iteration": 1, "timestep": 2, "block": 3, "head": 4}
    assert np.array_equal(mask, eag[0])
    assert ts["ffn"].select(block=7).tolist() == [1]
    # tampering is detected
    idx = json.loads((tmp_path / "index.json").read_text())
    idx["kinds"]["ffn"]["sha256_bits"] = "0" * 64
    (tmp_path / "index.json").write_text(json.dumps(idx))
    with pytest.raises(ValueError, match="SHA-256"):
        traces.load_traces(tmp_path)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError):
        traces.pack_masks(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        traces.pack_masks(np.full((1, 2, 3), 2))
    with pytest.raises(ValueError):
        traces.save_traces(tmp_path, {"x": {"masks": np.zeros((2, 2, 2), bool),
                                            "meta": np.zeros((3, 1)), "meta_columns": ["a"]}})
    (tmp_path / "index.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="not a"):
        traces.load_traces(tmp_path)


#: The committed traces of each model: (tokens, FFN width, head dimension, heads).
SHAPES = {"dit64": (64, 512, 32, 4), "dit256": (256, 576, 72, 2)}


@pytest.mark.parametrize("model", sorted(SHAPES))
def test_committed_traces_load(model):
    tdir = paths.traces_for(model)
    if not (tdir / "index.json").exists():
        pytest.skip(f"no committed traces for {model} in {tdir.name}")
    ts = traces.load_traces(tdir)
    assert set(ts.kinds) == {"ffn", "eager"}
    for kind in ts.kinds.values():
        assert kind.count > 0
        m = kind.mask(0)
        assert m.shape == (kind.rows, kind.cols)
        assert {"M", "K", "N"} <= set(kind.gemm)
        assert (kind.rows, kind.cols) == (kind.gemm["M"], kind.gemm["N"])
    tokens, d_ff, head_dim, heads = SHAPES[model]
    ffn, eager = ts["ffn"], ts["eager"]
    assert (ffn.rows, ffn.cols, ffn.gemm["K"]) == (tokens, d_ff, ts.info["model"]["hidden"])
    assert (eager.rows, eager.cols, eager.gemm["K"]) == (tokens, tokens, head_dim)
    assert ts.info["model"]["tokens"] == tokens
    # FFN-Reuse at 80 %: every FFN mask keeps round(0.2 * size) elements (the quantile rule)
    assert np.all(ffn.masks().sum(axis=(1, 2)) == keep_count(tokens * d_ff, 0.8))
    # eager prediction keeps 1 (dominant query) or ceil(0.05 * tokens) keys per query
    per_row = eager.masks().sum(axis=2)
    assert set(np.unique(per_row)) <= {1, topk_count(0.05, tokens)}
    heads_seen = {int(r[ts["eager"].meta_columns.index("head")]) for r in eager.meta}
    assert heads_seen == set(range(heads))
