"""Bad input the command line must refuse: a fuzz table over every class of bad
file and option, a hypothesis property over mask arrays, the Makefile's handling of hostile and
unknown variables, and the completeness of ``--help``.

Every refusal: exit status 2, nothing on stdout, exactly one line on stderr that names the
option, no traceback, and the output folder (and the current directory) left as they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from exion.config import preset
from exion.limits import CHANNEL_BITS
from exion_tools.inputs import InputError, check_mask

from cli_helpers import run

REPO = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _save(tmp: Path, name: str, value) -> str:
    p = tmp / name
    if name.endswith(".npz"):
        np.savez(p, **value) if isinstance(value, dict) else np.savez(p, value)
    else:
        np.save(p, value, allow_pickle=True)
    return str(p)


def _text(tmp: Path, name: str, text: str | bytes) -> str:
    p = tmp / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


# Each case: a function (inputs folder, out folder) -> (argv, option the message must name).
# An out folder exists (empty) before each run; it must stay empty.
def _mask(value, name="m.npy"):
    return lambda d, out: (["conmerge", "--mask", _save(d, name, value)], "--mask")


def _truncated(d: Path) -> str:
    p = Path(_save(d, "t.npy", np.ones((64, 64), bool)))
    p.write_bytes(p.read_bytes()[:200])
    return str(p)


def _trace(d: Path, *, masks=None, corrupt=None) -> str:
    """A small trace folder (workload/traces.py) with kind ``ffn``; ``corrupt`` edits it."""
    from workload.traces import save_traces
    masks = np.zeros((3, 4, 8), bool) if masks is None else masks
    folder = d / "trace"
    save_traces(folder, {"ffn": {"masks": masks, "meta": np.zeros((len(masks), 1), np.int32),
                                 "meta_columns": ["i"]}})
    if corrupt == "hash":
        idx = folder / "index.json"
        idx.write_text(idx.read_text().replace('"sha256_bits": "', '"sha256_bits": "00'))
    elif corrupt == "json":
        (folder / "index.json").write_text("{not json")
    elif corrupt == "npz":
        (folder / "masks.npz").write_bytes(b"garbage")
    return str(folder)


def _tr(suffix="", option="--trace", extra=(), **kw):
    return lambda d, out: (["conmerge", "--trace", _trace(d, **kw) + suffix, *extra], option)


def _m(argv, option):
    return lambda d, out: (argv, option)


CASES = {
    # -- mask contents (the issue's examples) --
    "mask nan": _mask(np.full((8, 8), np.nan)),
    "mask inf": _mask(np.full((8, 8), np.inf)),
    "mask 0.3": _mask(np.full((8, 8), 0.3)),
    "mask float 0/1/0.5": _mask(np.array([[0.0, 1.0], [0.5, 1.0]])),
    "mask strings": _mask(np.array([["a", "b"], ["c", "d"]])),
    "mask bytes": _mask(np.array([[b"0", b"1"]])),
    "mask ints 2": _mask(np.full((4, 4), 2, np.int64)),
    "mask ints -1": _mask(np.full((4, 4), -1, np.int8)),
    "mask uint 255": _mask(np.full((4, 4), 255, np.uint8)),
    "mask complex": _mask(np.ones((4, 4), complex)),
    "mask complex 0/1": _mask(np.zeros((4, 4), np.complex64)),
    "mask object": _mask(np.array([[1, None]], dtype=object)),
    "mask datetime": _mask(np.zeros((2, 2), "datetime64[s]")),
    "mask structured": _mask(np.zeros((2, 2), [("a", "i4"), ("b", "f4")])),
    # -- rank, empty, oversized --
    "mask 0-D": _mask(np.array(True)),
    "mask 1-D": _mask(np.ones(7, bool)),
    "mask 3-D": _mask(np.ones((2, 3, 4), bool)),
    "mask 0 rows": _mask(np.ones((0, 8), bool)),
    "mask 0 cols": _mask(np.ones((8, 0), bool)),
    "mask 0 x 0": _mask(np.ones((0, 0), bool)),
    "mask too wide": _mask(np.zeros((1, (1 << CHANNEL_BITS) + 1), bool)),
    # -- files that are not masks --
    "npz empty": lambda d, out: (["conmerge", "--mask", _save(d, "e.npz", {})], "--mask"),
    "npz nan": lambda d, out: (["conmerge", "--mask", _save(d, "n.npz", {"mask": np.full((2, 2), np.nan)})], "--mask"),
    "npz 1-D": lambda d, out: (["conmerge", "--mask", _save(d, "f.npz", {"x": np.ones(3)})], "--mask"),
    "csv text": lambda d, out: (["conmerge", "--mask", _text(d, "m.npy", "1,0\n0,1\n")], "--mask"),
    "empty file": lambda d, out: (["conmerge", "--mask", _text(d, "m.npy", b"")], "--mask"),
    "truncated npy": lambda d, out: (["conmerge", "--mask", _truncated(d)], "--mask"),
    "garbage npz": lambda d, out: (["conmerge", "--mask", _text(d, "g.npz", b"PK\x03\x04garbage")], "--mask"),
    "missing file": _m(["conmerge", "--mask", "no_such_mask.npy"], "--mask"),
    "mask is a folder": lambda d, out: (["conmerge", "--mask", str(d)], "--mask"),
    "mask /dev/null": _m(["conmerge", "--mask", "/dev/null"], "--mask"),
    # -- keep-mask traces (DIR:KIND:INDEX) --
    "trace bad hash": _tr(corrupt="hash"),
    "trace bad json": _tr(corrupt="json"),
    "trace bad npz": _tr(corrupt="npz"),
    "trace no kind": _tr(":attn"),
    "trace index out of range": _tr(":ffn:3"),
    "trace index negative": _tr(":ffn:-1"),
    "trace index text": _tr(":ffn:one"),
    "trace all-empty rows": _tr(":ffn:0", masks=np.zeros((1, 0, 8), bool)),
    "trace not a folder": _m(["conmerge", "--trace", "no_such_trace"], "--trace"),
    "trace folder without index": lambda d, out: (["conmerge", "--trace", str(d)], "--trace"),
    "trace + mask": lambda d, out: (["conmerge", "--trace", _trace(d), "--mask", _save(d, "ok.npy", np.ones((4, 4), bool))], "--mask"),
    "trace + tokens": _tr(extra=("--tokens", "8")),
    "trace ''": _m(["conmerge", "--trace", ""], "--trace"),
    # -- empty strings --
    "mask ''": _m(["conmerge", "--mask", ""], "--mask"),
    "mask ' '": _m(["conmerge", "--mask", " "], "--mask"),
    "strategies ''": _m(["conmerge", "--tokens", "8", "--strategies", ""], "--strategies"),
    "config out ''": _m(["config", "--out", ""], "--out"),
    "generate out ''": _m(["generate", "--top", "dpu", "--out", ""], "--out"),
    "sdc out ''": _m(["sdc", "--out", ""], "--out"),
    "sdc file ''": _m(["sdc", "--file", ""], "--file"),
    "synth out ''": _m(["synth", "--out", ""], "--out"),
    "rows ''": _m(["config", "--rows", ""], "--rows"),
    "preset ''": _m(["config", "--preset", ""], "--preset"),
    "token-sort ''": _m(["config", "--token-sort", ""], "--token-sort"),
    # -- options that exclude each other --
    "mask + tokens": lambda d, out: (["conmerge", "--mask", _save(d, "ok.npy", np.ones((4, 4), bool)), "--tokens", "8"], "--mask"),
    "mask + sparsity": lambda d, out: (["conmerge", "--mask", _save(d, "ok.npy", np.ones((4, 4), bool)), "--sparsity", "0.5"], "--mask"),
    "mask + kind": lambda d, out: (["conmerge", "--mask", _save(d, "ok.npy", np.ones((4, 4), bool)), "--kind", "column"], "--mask"),
    "mask + seed": lambda d, out: (["conmerge", "--mask", _save(d, "ok.npy", np.ones((4, 4), bool)), "--seed", "3"], "--mask"),
    "sdc file + out": lambda d, out: (["sdc", "--file", str(out / "x.sdc"), "--out", str(out)], "--file"),
    # -- paths of the wrong kind --
    "config out is a file": lambda d, out: (["config", "--out", _text(d, "afile", "x")], "--out"),
    "generate out is a file": lambda d, out: (["generate", "--top", "dpu", "--out", _text(d, "afile", "x")], "--out"),
    "generate out under a file": lambda d, out: (["generate", "--top", "dpu", "--out", _text(d, "afile", "x") + "/sub"], "--out"),
    "config out in /proc": _m(["config", "--out", "/proc/exion-no-such/out"], "--out"),
    "sdc out is a file": lambda d, out: (["sdc", "--out", _text(d, "afile", "x")], "--out"),
    "sdc file is a folder": lambda d, out: (["sdc", "--file", str(out)], "--file"),
    "synth out is a file": lambda d, out: (["synth", "--out", _text(d, "afile", "x")], "--out"),
    # -- numbers (classes the older tests cover, kept here so the table holds them all) --
    "rows 0": _m(["config", "--rows", "0"], "rows"),
    "rows abc": _m(["config", "--rows", "abc"], "rows"),
    "lanes 12": _m(["config", "--lanes", "12"], "lanes"),
    "ep-q-th nan": _m(["config", "--ep-q-th", "nan"], "ep_q_th"),
    "clock inf": _m(["config", "--clock-mhz", "inf"], "clock_mhz"),
    "preset nope": _m(["config", "--preset", "nope"], "preset"),
    "sparsity 2": _m(["conmerge", "--tokens", "8", "--sparsity", "2"], "--sparsity"),
    "tokens 0": _m(["conmerge", "--tokens", "0"], "--tokens"),
    "channels too many": _m(["conmerge", "--channels", str((1 << CHANNEL_BITS) + 1)], "--channels"),
    "k 0": _m(["conmerge", "--tokens", "8", "--k", "0"], "--k"),
    "strategy magic": _m(["conmerge", "--tokens", "8", "--strategies", "dense,magic"], "--strategies"),
    "heads 3": _m(["eager", "--d-model", "32", "--heads", "3"], "--heads"),
    "adder stages too many": _m(["config", "--lanes", "2", "--adder-stages", "2"], "adder_stages"),
}


def test_fuzz_table_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_bad_input_refused(case, capsys, tmp_path, monkeypatch):
    inputs, out, cwd = tmp_path / "in", tmp_path / "out", tmp_path / "cwd"
    for d in (inputs, out, cwd):
        d.mkdir()
    monkeypatch.chdir(cwd)
    argv, option = CASES[case](inputs, out)
    before = _tree(inputs)
    if "--out" not in argv and "--file" not in argv and argv[0] in ("generate", "synth", "sdc", "config"):
        argv = [*argv, "--out", str(out)]
    rc, stdout, stderr = run(capsys, *argv)
    assert rc == 2, (rc, stdout, stderr)
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert option in lines[0], lines[0]
    assert _tree(out) == [] and _tree(cwd) == [] and _tree(inputs) == before


def test_good_trace_accepted(tmp_path, capsys):
    masks = np.random.default_rng(2).random((2, 16, 24)) < 0.3
    folder = _trace(tmp_path, masks=masks)
    rc, out, err = run(capsys, "conmerge", "--trace", f"{folder}:ffn:1", "--k", "16",
                       "--strategies", "dense")
    assert rc == 0, err
    assert out.startswith(f"mask 16 x 24 (trace {folder}:ffn:1), element sparsity "
                          f"{1 - masks[1].mean():.1%}")


def test_issue_example_nan_mask(tmp_path, capsys):
    p = tmp_path / "m.npy"
    np.save(p, np.full((8, 8), np.nan))
    rc, _, err = run(capsys, "conmerge", "--mask", str(p))
    assert rc == 2 and err.startswith("exion conmerge: error: --mask ") and "NaN" in err


def test_good_masks_still_accepted(tmp_path, capsys):
    """0/1 masks of every numeric dtype are taken (and give the same report)."""
    rng = np.random.default_rng(1)
    mask = rng.random((16, 24)) < 0.3
    reports = set()
    for dtype in (bool, np.uint8, np.int32, np.float32, np.float64):
        p = tmp_path / f"m_{np.dtype(dtype).name}.npy"
        np.save(p, mask.astype(dtype))
        rc, out, err = run(capsys, "conmerge", "--mask", str(p), "--k", "16",
                           "--strategies", "dense,condense")
        assert rc == 0, err
        reports.add(out.split("\n", 1)[1])
    assert len(reports) == 1
    assert "legend:" in out


# -- hypothesis: anything that is not a 0/1 2-D mask within the limits is refused -------------

def _is_valid_mask(a) -> bool:
    if a.dtype.kind not in "biuf" or a.ndim != 2 or 0 in a.shape:
        return False
    if a.shape[1] > 1 << CHANNEL_BITS:
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.isin(a, (0, 1)).all()) if a.dtype.kind != "b" else True


_dtypes = st.one_of(hnp.boolean_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
                    hnp.floating_dtypes(), hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(),
                    hnp.byte_string_dtypes(), hnp.datetime64_dtypes())
_arrays = _dtypes.flatmap(lambda dt: hnp.arrays(
    dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=_arrays)
def test_property_only_01_2d_masks_accepted(a):
    cfg = preset("exion")
    if _is_valid_mask(a):
        m = check_mask("--mask", "x.npy", a, cfg)
        assert m.dtype == bool and m.shape == a.shape
        assert (m == (a != 0)).all()
    else:
        with pytest.raises(InputError) as e:
            check_mask("--mask", "x.npy", a, cfg)
        assert str(e.value).startswith("--mask 'x.npy': ") and "\n" not in str(e.value)


@settings(max_examples=100, deadline=None)
@given(a=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=4),
                    elements=st.sampled_from([0.0, 1.0, 0.5, -1.0, 2.0, np.nan, np.inf])))
def test_property_float_masks(a):
    ok = bool(np.isin(a, (0.0, 1.0)).all())
    if ok:
        assert (check_mask("--mask", "x.npy", a) == (a == 1)).all()
    else:
        with pytest.raises(InputError):
            check_mask("--mask", "x.npy", a)


# -- the Makefile: hostile and unknown variables ----------------------------------------------

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def _make(tmp_path, *args):
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args],
                          capture_output=True, text=True, timeout=300)


@needs_make
@pytest.mark.parametrize("value", [
    "1'; touch {t}/pwned; '",
    '1"; touch {t}/pwned; "',
    "1`touch {t}/pwned`",
    "$$(touch {t}/pwned)",
    "$(shell touch {t}/pwned)",
    "1; touch {t}/pwned",
])
def test_make_variable_cannot_break_out(tmp_path, value):
    build = tmp_path / "build"
    r = _make(tmp_path, "-s", "manifest", f"ROWS={value.format(t=tmp_path)}", f"BUILD={build}")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "rows must be an integer" in r.stderr
    assert sorted(os.listdir(tmp_path)) == []  # no pwned file, no build folder


@needs_make
def test_make_unknown_variable_reported(tmp_path):
    r = _make(tmp_path, "-n", "verilog", "ROW=8")
    assert r.returncode == 2 and "unknown variable(s) on the command line: ROW" in r.stderr
    r = _make(tmp_path, "-n", "sdc", "CLOCK_MHz=500")
    assert r.returncode == 2 and "CLOCK_MHz" in r.stderr
    r = _make(tmp_path, "-n", "sdc", "CLOCK_MHZ=500", "MERGE=3", "TOP=dpu")
    assert r.returncode == 0, r.stderr
    assert "--clock-mhz '500'" in r.stdout and "--merge-degree '3'" in r.stdout
    assert "--top 'dpu'" in r.stdout


def test_makefile_has_one_variable_per_field():
    from dataclasses import fields

    from exion.config import ExionConfig
    text = (REPO / "Makefile").read_text()
    block = text.split("FIELD_VARS :=", 1)[1].split("\n\n", 1)[0]
    names = set(block.replace("\\", " ").split())
    assert names == {f.name.upper() for f in fields(ExionConfig) if f.name != "name"}
    for n in names:
        assert f"\n{n} " in text or f"\n{n}\t" in text, n  # a `NAME ?=` default line


@needs_make
def test_make_manifest_equals_verilog_manifest(tmp_path):
    """`make manifest` writes the manifest and header `make verilog` writes beside the Verilog
    (names and bytes); checked through `make -n` (the same CLI line) and the CLI functions."""
    r1 = _make(tmp_path, "-n", "manifest", "LANES=8", f"BUILD={tmp_path}")
    r2 = _make(tmp_path, "-n", "verilog", "LANES=8", f"BUILD={tmp_path}")
    assert r1.returncode == 0 and r2.returncode == 0
    a = r1.stdout.strip().splitlines()[-1].split("exion_tools.cli config", 1)[1]
    b = r2.stdout.strip().splitlines()[-1].split("exion_tools.cli generate", 1)[1]
    assert a == b  # the same options and output folder


def test_cli_manifest_equals_generate_manifest(tmp_path, capsys):
    for i, argv in enumerate((["--preset", "toy", "--top", "dpu"],
                              ["--preset", "toy", "--top", "lod", "--lanes", "8"])):
        rc, _, err = run(capsys, "config", *argv, "--out", str(tmp_path / f"m{i}"))
        assert rc == 0, err
        rc, _, err = run(capsys, "generate", *argv, "--out", str(tmp_path / f"v{i}"))
        assert rc == 0, err
        m = {p.name: p.read_bytes() for p in (tmp_path / f"m{i}").iterdir()}
        v = {p.name: p.read_bytes() for p in (tmp_path / f"v{i}").iterdir() if p.suffix != ".v"}
        assert m == v and len(m) == 2


# -- help texts ---------------------------------------------------------------------------------

def test_every_option_has_help_with_default_and_range():
    import argparse

    from exion_tools.cli import build_parser
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name, sp in sub.choices.items():
        for a in sp._actions:
            if not a.option_strings or a.dest == "help":
                continue
            h = a.help or ""
            where = f"exion {name} {a.option_strings[0]}"
            assert h, f"{where}: no help"
            assert "default" in h, f"{where}: no default in {h!r}"
            if a.nargs == 0:  # a flag
                continue
            assert ("[" in h or "one of" in h or a.choices or "folder" in h or "file" in h
                    or "subset" in h or "any integer" in h or "mask" in h), \
                f"{where}: no range in {h!r}"
            checked += 1
    assert checked > 150


def test_limits_doc_matches_spec_layer():
    from exion.limits import GROUP_BITS, MAX_HEAD_DIM, MAX_KEYS

    from exion_tools.inputs import MAX_ELEMENTS, mask_limits
    text = (REPO / "docs" / "limits.md").read_text()
    max_t, max_c = mask_limits(preset("exion"))
    assert f"`GROUP_BITS` = {GROUP_BITS}" in text and f"`CHANNEL_BITS` = {CHANNEL_BITS}" in text
    assert str(max_t) in text and str(max_c) in text
    assert f"`MAX_KEYS` = {MAX_KEYS}" in text and f"`MAX_HEAD_DIM` = {MAX_HEAD_DIM}" in text
    assert f"2**{MAX_ELEMENTS.bit_length() - 1}" in text


def test_lanes_1_works_with_default_adder_stages(capsys):
    rc, out, err = run(capsys, "config", "--lanes", "1")
    assert rc == 0, err
    import json
    assert json.loads(out)["config"]["adder_stages"] == 0
    rc, _, err = run(capsys, "config", "--lanes", "4", "--adder-stages", "1")
    assert rc == 0 and '"adder_stages": 1' in _
    rc, _, err = run(capsys, "config", "--lanes", "1", "--adder-stages", "1")
    assert rc == 2 and "adder_stages = 1 is out of range [0, 0]" in err


def test_long_elaboration_prints_progress(capsys):
    import time

    from exion_tools.cli import heartbeat
    done = heartbeat("elaborating core 64x64", every=0.05)
    time.sleep(0.2)
    done()
    err = capsys.readouterr().err
    assert "still elaborating core 64x64" in err
