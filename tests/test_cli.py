"""The ``exion`` command line (exion_tools/cli.py): error handling, config, a small generate, and the
conmerge / ffn / eager reports. Everything runs in-process except one subprocess smoke test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from exion.config import ExionConfig, preset

from cli_helpers import run

REPO = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current directory, so that stray writes (e.g. a default ``build/``) show up."""
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


@pytest.fixture
def not_numpy(tmp_path):
    p = tmp_path / "inputs" / "mask.npy"
    p.parent.mkdir()
    p.write_text("tokens,channels\n1,0\n")
    return p


# (argv without --out, word the one-line message must contain)
BAD = {
    "rows=0": (["config", "--rows", "0"], "rows = 0"),
    "rows=-1": (["config", "--rows", "-1"], "rows = -1"),
    "rows=abc": (["config", "--rows", "abc"], "rows must be an integer"),
    "lanes=12": (["config", "--lanes", "12"], "lanes = 12"),
    "acc_width=20": (["config", "--acc-width", "20"], "acc_width = 20"),
    "ep_q_th=nan": (["config", "--ep-q-th", "nan"], "ep_q_th"),
    "token_sort": (["config", "--token-sort", "bogus"], "token_sort"),
    "preset": (["config", "--preset", "nope"], "preset = 'nope'"),
    "gen rows=0": (["generate", "--top", "dpu", "--rows", "0"], "rows = 0"),
    "gen lanes=12": (["generate", "--top", "dpu", "--lanes", "12"], "lanes = 12"),
    "gen preset": (["generate", "--preset", "nope"], "preset"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_parameter_writes_nothing(case, capsys, tmp_path, workdir):
    argv, word = BAD[case]
    out = tmp_path / "out"
    rc, stdout, stderr = run(capsys, *argv, "--out", str(out))
    assert rc == 2
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"exion {argv[0]}: error: ") and word in lines[0]
    assert not out.exists()
    assert _tree(workdir) == []


def test_bad_parameter_leaves_existing_out_folder_untouched(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    rc, _, _ = run(capsys, "config", "--rows", "0", "--out", str(out))
    assert rc == 2 and _tree(out) == []


BAD_REPORTS = {
    "sparsity=2": (["conmerge", "--tokens", "8", "--sparsity", "2"], "--sparsity = 2.0"),
    "sparsity=-0.1": (["conmerge", "--tokens", "8", "--sparsity", "-0.1"], "--sparsity"),
    "k=0": (["conmerge", "--tokens", "8", "--k", "0"], "--k = 0"),
    "strategy": (["conmerge", "--tokens", "8", "--strategies", "dense,magic"], "--strategies"),
    "missing mask": (["conmerge", "--mask", "no_such_mask.npy"], "--mask"),
    "ffn tokens=0": (["ffn", "--tokens", "0"], "--tokens = 0"),
    "ffn iterations=0": (["ffn", "--iterations", "0"], "iterations = 0"),
    "eager heads": (["eager", "--d-model", "32", "--heads", "3"], "--heads = 3"),
    "eager rows=abc": (["eager", "--rows", "abc"], "rows"),
}


@pytest.mark.parametrize("case", BAD_REPORTS)
def test_bad_report_parameter(case, capsys, workdir):
    argv, word = BAD_REPORTS[case]
    rc, stdout, stderr = run(capsys, *argv)
    assert rc == 2 and stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], stderr
    assert _tree(workdir) == []


def test_non_numpy_mask_file(capsys, workdir, not_numpy):
    rc, stdout, stderr = run(capsys, "conmerge", "--mask", str(not_numpy))
    assert rc == 2 and stdout == "" and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "--mask" in stderr and "not a .npy/.npz array" in stderr
    assert _tree(workdir) == []


def test_mask_that_is_not_2d(capsys, tmp_path, workdir):
    p = tmp_path / "flat.npy"
    np.save(p, np.ones(7, bool))
    rc, _, stderr = run(capsys, "conmerge", "--mask", str(p))
    assert rc == 2 and "--mask" in stderr and "not 2-D" in stderr


def test_argparse_errors_exit_2(capsys, workdir):
    rc, stdout, stderr = run(capsys, "conmerge", "--tokens", "abc")
    assert rc == 2 and stdout == "" and "--tokens" in stderr and "Traceback" not in stderr
    rc, _, stderr = run(capsys, "generate", "--top", "nonsense", "--out", "x")
    assert rc == 2 and "--top" in stderr
    rc, _, _ = run(capsys)  # no subcommand
    assert rc == 2
    assert _tree(workdir) == []


def test_subprocess_bad_parameter(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "exion_tools.cli", "config", "--rows", "abc",
                        "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip() == "exion config: error: rows must be an integer in [1, 64], not 'abc'"
    assert not out.exists()
    # And a good run through the same entry point.
    r = subprocess.run([sys.executable, "-m", "exion_tools.cli", "config", "--preset", "toy"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert ExionConfig.from_json(r.stdout) == preset("toy")


# -- config ----------------------------------------------------------------------------------

def test_config_prints_json(capsys):
    rc, out, err = run(capsys, "config")
    assert rc == 0 and err == ""
    assert out == preset("exion").to_json()


def test_config_overrides(capsys):
    rc, out, _ = run(capsys, "config", "--preset", "toy", "--lanes", "8", "--merge-degree", "3",
                     "--ep-k", "0.1", "--token-sort", "popcount")
    assert rc == 0
    c = ExionConfig.from_json(out)
    assert c == preset("toy", lanes=8, merge_degree=3, ep_k=0.1, token_sort="popcount")
    assert json.loads(out)["config"]["name"] == "toy-custom"


def test_config_prints_header(capsys):
    rc, out, _ = run(capsys, "config", "--format", "header", "--rows", "4")
    assert rc == 0
    assert out == preset("exion", rows=4).to_c_header()
    assert "#ifndef EXION_CONFIG_H" in out and "#define EXION_ROWS 4" in out


def test_config_out_writes_json_and_header(capsys, tmp_path):
    out = tmp_path / "a" / "b"
    rc, stdout, _ = run(capsys, "config", "--preset", "toy", "--out", str(out))
    assert rc == 0
    # The same names and contents as `exion generate` writes beside the Verilog (the core's
    # manifest and header carry the register map).
    from hw.generate import design_manifest
    assert _tree(out) == ["exion_core_8x3.h", "exion_core_8x3.json"]
    mtext, htext = design_manifest(preset("toy"), "core")
    assert (out / "exion_core_8x3.json").read_text() == mtext
    assert (out / "exion_core_8x3.h").read_text() == htext
    assert "regmap" in json.loads(mtext) and "EXION_REG_" in htext
    assert ExionConfig.from_json(mtext) == preset("toy")
    assert stdout.count("wrote ") == 2
    # Re-running replaces the files in place (atomic rename), nothing else appears.
    rc, _, _ = run(capsys, "config", "--preset", "toy", "--out", str(out))
    assert rc == 0 and _tree(out) == ["exion_core_8x3.h", "exion_core_8x3.json"]


def test_config_out_files_honour_umask(capsys, tmp_path):
    old = os.umask(0o022)
    try:
        rc, _, _ = run(capsys, "config", "--out", str(tmp_path))
    finally:
        os.umask(old)
    assert rc == 0
    assert (tmp_path / "exion_core_16x16.json").stat().st_mode & 0o777 == 0o644


def test_config_out_is_a_file(capsys, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    rc, _, stderr = run(capsys, "config", "--out", str(f))
    assert rc != 0 and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


# -- generate (small unit only) --------------------------------------------------------------

def test_generate_toy_dpu(capsys, tmp_path):
    out = tmp_path / "gen"
    rc, stdout, stderr = run(capsys, "generate", "--preset", "toy", "--top", "dpu",
                             "--out", str(out))
    assert rc == 0, stderr
    base = "exion_dpu_8x3"
    assert _tree(out) == [f"{base}.h", f"{base}.json", f"{base}.v"]
    assert "elaborating dpu for 8x3" in stderr
    assert stdout.count("wrote ") == 3
    v = (out / f"{base}.v").read_text()
    assert "module exion_dpu" in v and "endmodule" in v
    for name in (f"{base}.v", f"{base}.json", f"{base}.h"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text and str(REPO) not in text, name
    m = json.loads((out / f"{base}.json").read_text())
    assert m["top"] == "exion_dpu"
    assert ExionConfig.from_dict(m) == preset("toy")
    assert (out / f"{base}.h").read_text() == preset("toy").to_c_header()


# -- reports ---------------------------------------------------------------------------------

def _table_rows(text: str, names) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in names:
            rows[parts[0]] = parts
    return rows


def test_conmerge_synthetic(capsys):
    rc, out, err = run(capsys, "conmerge", "--tokens", "32", "--channels", "128", "--k", "64",
                       "--strategies", "dense,greedy")
    assert rc == 0
    assert out.startswith("mask 32 x 128 (synthetic uniform 90%)")
    assert "strategy" in out and "blocks" in out and "util" in out
    rows = _table_rows(out, {"dense", "greedy", "condense", "ffd", "column", "skip_zero_tiles"})
    assert set(rows) == {"dense", "greedy"}
    assert int(rows["greedy"][2]) <= int(rows["dense"][2])  # merging never needs more blocks
    assert "[1/2] scheduling dense" in err and "[2/2] scheduling greedy" in err


def test_conmerge_mask_file(capsys, tmp_path):
    rng = np.random.default_rng(3)
    mask = rng.random((24, 40)) < 0.2
    for name, save in (("m.npy", lambda p: np.save(p, mask)),
                       ("m.npz", lambda p: np.savez(p, mask=mask))):
        p = tmp_path / name
        save(p)
        rc, out, err = run(capsys, "conmerge", "--mask", str(p), "--k", "32",
                           "--strategies", "dense,condense", "--rows", "8", "--cols", "4")
        assert rc == 0, err
        assert out.startswith(f"mask 24 x 40 ({p})")
        assert f"element sparsity {1 - mask.mean():.1%}" in out
        assert "array 8x4" in out
        assert set(_table_rows(out, {"dense", "condense", "greedy"})) == {"dense", "condense"}


def test_ffn_report(capsys):
    rc, out, _ = run(capsys, "ffn", "--iterations", "3", "--tokens", "16", "--d-model", "16")
    assert rc == 0
    assert out.startswith("FFN-Reuse: 3 iterations, N = 2, target sparsity 80%")
    kinds = [line.split()[1] for line in out.splitlines()
             if line.split() and line.split()[0].isdigit()]
    assert kinds == ["dense", "sparse", "sparse"]
    assert "total:" in out


def test_ffn_report_quantized(capsys):
    rc, out, _ = run(capsys, "ffn", "--iterations", "3", "--tokens", "8", "--d-model", "16",
                     "--quantized", "--ffn-reuse-n", "1")
    assert rc == 0 and "INT12" in out and "N = 1" in out


def test_eager_report(capsys):
    rc, out, _ = run(capsys, "eager", "--tokens", "16", "--d-model", "32", "--heads", "2")
    assert rc == 0
    assert out.startswith("eager prediction: 16 tokens, d_model 32, 2 heads")
    heads = [line.split() for line in out.splitlines()
             if line.split() and line.split()[0].isdigit()]
    assert [h[0] for h in heads] == ["0", "1"]
    assert all(len(h) == 7 and all(c.endswith("%") for c in h[1:]) for h in heads)


def test_one_command_forwards_fpga_and_sweep(capsys):
    from exion_tools.cli import main
    assert main(["fpga", "--board", "nope"]) == 2
    assert "exion fpga: error: board = 'nope' is not one of" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--help"])
    assert e.value.code == 0 and "usage: exion sweep" in capsys.readouterr().out
