"""ExionConfig (exion/config.py): presets, validation messages, derived values, JSON manifest,
C header, immutability."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import subprocess
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exion import config as cfgmod
from exion.config import PRESETS, SORT_STRATEGIES, ConfigError, ExionConfig, clog2, preset

INT_RANGES = cfgmod.INT_RANGES
FLOAT_RANGES = cfgmod.FLOAT_RANGES
FIELD_NAMES = [f.name for f in fields(ExionConfig)]
DERIVED = ("dpus", "peak_macs_per_cycle", "product_width", "sum_width", "sel_width",
           "pipeline_depth", "drain_cycles", "imem_words", "wmem_words", "omem_words",
           "bus_bytes")


# -- presets ---------------------------------------------------------------------------------

def test_exion_preset_is_the_talks_configuration():
    c = preset("exion")
    assert c is PRESETS["exion"] and c.name == "exion"
    assert (c.rows, c.cols, c.lanes) == (16, 16, 16)
    assert (c.data_width, c.acc_width, c.merge_degree) == (12, 32, 2)
    # 16 banks of 1.5 KB / 12 KB / 1.5 KB, double / triple / double buffered.
    assert (c.imem_bank_bytes, c.wmem_bank_bytes, c.omem_bank_bytes) == (1536, 12288, 1536)
    assert (c.imem_buffers, c.wmem_buffers, c.omem_buffers) == (2, 3, 2)
    # DiT row of the accuracy table, two-step LOD, 800 MHz.
    assert (c.ffn_reuse_n, c.iterations, c.ffn_target_sparsity) == (2, 100, 0.8)
    assert (c.ep_q_th, c.ep_k, c.lod_steps) == (0.15, 0.05, 2)
    assert c.clock_mhz == 800.0 and c.token_sort == "none"
    # The dataclass defaults are the exion preset but for the drain ports (1 by default, so
    # that any column count is valid; 4 in the preset, see docs/cycle-model.md).
    assert c.drain_ports == 4 and c == ExionConfig(drain_ports=4)


def test_exion_derived_values():
    c = preset("exion")
    assert c.dpus == 256 and c.peak_macs_per_cycle == 4096
    assert (c.product_width, c.sum_width, c.sel_width, c.pipeline_depth) == (24, 28, 2, 3)
    assert (c.data_min, c.data_max) == (-2048, 2047)
    assert (c.acc_min, c.acc_max) == (-(1 << 31), (1 << 31) - 1)
    # 1536 B = 64 words of 16 x 12 bit; 12 KB = 256 words of 2 x 16 x 12 bit; 1024 outputs.
    assert (c.words("imem"), c.words("wmem"), c.words("omem")) == (64, 256, 1024)


def test_toy_preset():
    t = preset("toy")
    assert t.name == "toy" and (t.rows, t.cols) == (8, 3) and t.dpus == 24
    assert t.replace(rows=16, cols=16, drain_ports=4, name="exion") == preset("exion")


def test_preset_overrides_and_unknown_name():
    c = preset("toy", lanes=8)
    assert c.lanes == 8 and c.rows == 8 and c.name == "toy-custom"
    assert preset("toy", lanes=8).replace(name="mine").name == "mine"
    with pytest.raises(ConfigError, match=r"preset = 'nope' is not one of exion, exion24, exion4, toy"):
        preset("nope")
    with pytest.raises(ConfigError, match="rows"):
        preset("exion", rows=0)


def test_drain_ports():
    assert preset("exion").drain_cycles == 4 and preset("toy").drain_cycles == 3
    for d in (1, 2, 4, 8):
        assert ExionConfig(drain_ports=d).drain_cycles == 16 // d
    for bad in (3, 6):
        with pytest.raises(ConfigError, match="drain_ports = .* power of two"):
            ExionConfig(drain_ports=bad)
    with pytest.raises(ConfigError, match="divides cols = 6"):
        ExionConfig(cols=6, drain_ports=4)
    # A preset's drain ports follow an overridden column count down to a divisor of it.
    assert [preset("exion", cols=n).drain_ports for n in (1, 2, 3, 6, 8, 12)] == [1, 2, 1, 2, 4, 4]
    assert preset("exion", cols=8, drain_ports=8).drain_ports == 8


def test_bus_width():
    assert ExionConfig().bus_width == 256 and ExionConfig().bus_bytes == 32
    for w in (32, 64, 128, 512, 1024):
        assert ExionConfig(bus_width=w).bus_bytes == w // 8
    for bad in (48, 96, 1000):
        with pytest.raises(ConfigError, match=r"bus_width = .* power of two in \[32, 1024\]"):
            ExionConfig(bus_width=bad)


def test_clog2():
    assert [clog2(n) for n in (1, 2, 3, 4, 5, 16, 17, 64)] == [0, 1, 2, 2, 3, 4, 5, 6]


# -- range validation, every field -----------------------------------------------------------

def test_range_tables_cover_every_numeric_field():
    numeric = {f.name for f in fields(ExionConfig) if f.type in ("int", "float", int, float)}
    assert numeric == set(INT_RANGES) | set(FLOAT_RANGES)
    assert not set(INT_RANGES) & set(FLOAT_RANGES)


def _reject(field, value, *fragments):
    with pytest.raises(ConfigError) as ei:
        ExionConfig(**{field: value})
    msg = str(ei.value)
    assert isinstance(ei.value, ValueError)
    assert field in msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


@pytest.mark.parametrize("field", sorted(INT_RANGES))
def test_int_field_out_of_range(field):
    lo, hi = INT_RANGES[field]
    for bad in (lo - 1, hi + 1, -(1 << 40), 1 << 40):
        _reject(field, bad, f"{field} = {bad}", f"[{lo}, {hi}]")


@pytest.mark.parametrize("field", sorted(INT_RANGES))
@pytest.mark.parametrize("bad", [True, False, "16", 16.0, None], ids=repr)
def test_int_field_wrong_type(field, bad):
    lo, hi = INT_RANGES[field]
    _reject(field, bad, "must be an integer", f"[{lo}, {hi}]", repr(bad))


@pytest.mark.parametrize("field", sorted(FLOAT_RANGES))
def test_float_field_out_of_range(field):
    lo, hi = FLOAT_RANGES[field]
    for bad in (lo - 1.0, hi + 1.0, math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)):
        _reject(field, bad, f"{field} = {bad}", f"[{lo}, {hi}]")


@pytest.mark.parametrize("field", sorted(FLOAT_RANGES))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "0.5", None], ids=repr)
def test_float_field_wrong_type_or_not_finite(field, bad):
    lo, hi = FLOAT_RANGES[field]
    _reject(field, bad, "must be a number", f"[{lo}, {hi}]", repr(bad))


# A base where every single field can sit at either end of its own range (cross-field rules
# relaxed as far as they go); a few ends need one companion value.
_LOOSE = dict(lanes=1, adder_stages=0, data_width=2, acc_width=48, merge_degree=1)
_COMPANION = {("adder_stages", 6): {"lanes": 64}}


@pytest.mark.parametrize("field", sorted(INT_RANGES) + sorted(FLOAT_RANGES))
def test_range_ends_are_accepted(field):
    lo, hi = (INT_RANGES | FLOAT_RANGES)[field]
    for v in (lo, hi):
        kw = dict(_LOOSE) | _COMPANION.get((field, v), {}) | {field: v}
        c = ExionConfig(**kw)
        assert getattr(c, field) == v


def test_float_fields_accept_ints_and_store_floats():
    c = ExionConfig(clock_mhz=500, ep_k=0)
    assert type(c.clock_mhz) is float and c.clock_mhz == 500.0
    assert type(c.ep_k) is float


# -- cross-field rules -----------------------------------------------------------------------

@pytest.mark.parametrize("lanes", [3, 5, 6, 12, 24, 48, 63])
def test_lanes_not_power_of_two(lanes):
    _reject("lanes", lanes, f"lanes = {lanes}", "power of two", "[1, 64]")


@pytest.mark.parametrize("lanes", [1, 2, 4, 8, 16, 32, 64])
def test_adder_stages_above_tree_depth(lanes):
    depth = clog2(lanes)
    ExionConfig(lanes=lanes, adder_stages=depth, acc_width=48)  # the deepest legal pipeline
    with pytest.raises(ConfigError) as ei:
        ExionConfig(lanes=lanes, adder_stages=depth + 1, acc_width=48)
    assert f"adder_stages = {depth + 1} is out of range [0, {depth}]" in str(ei.value)


def test_operand_stages_range_and_pipeline_depth():
    # One register between a memory read and its arithmetic, counted in pipeline_depth.
    assert ExionConfig().operand_stages == 0 and preset("exion").pipeline_depth == 3
    assert ExionConfig(operand_stages=1).pipeline_depth == 4
    assert ExionConfig(operand_stages=1, adder_stages=0).pipeline_depth == 3
    assert ExionConfig(operand_stages=1, lanes=8, adder_stages=3).pipeline_depth == 6
    _reject("operand_stages", 2, "operand_stages = 2 is out of range [0, 1]")
    _reject("operand_stages", -1, "operand_stages = -1 is out of range [0, 1]")
    _reject("operand_stages", True, "[0, 1]")


@pytest.mark.parametrize("data_width,lanes", [(12, 16), (16, 64), (2, 1), (8, 4), (16, 1)])
def test_acc_width_below_exact_lane_sum(data_width, lanes):
    need = 2 * data_width + clog2(lanes)
    kw = dict(data_width=data_width, lanes=lanes, adder_stages=0)
    if need >= 8:
        assert ExionConfig(**kw, acc_width=need).sum_width == need
    if need - 1 >= 8:
        with pytest.raises(ConfigError) as ei:
            ExionConfig(**kw, acc_width=need - 1)
        assert f"acc_width = {need - 1} is out of range [{need}, 48]" in str(ei.value)


def test_data_width_that_needs_a_wider_accumulator_names_acc_width():
    with pytest.raises(ConfigError, match=r"acc_width = 32 is out of range \[36, 48\]"):
        ExionConfig(data_width=16)


@pytest.mark.parametrize("mem,bytes_needed", [("imem", 24), ("wmem", 48), ("omem", 2)])
def test_bank_too_small_for_one_read_word(mem, bytes_needed):
    # exion: IMEM word 16 lanes x 12 bit = 24 B, WMEM word 2 x 24 B, OMEM word 12 bit -> 2 B.
    field = f"{mem}_bank_bytes"
    assert ExionConfig(**{field: bytes_needed}).words(mem) == 1
    msg = _reject(field, bytes_needed - 1, f"{field} = {bytes_needed - 1}",
                  f"[{bytes_needed}, {INT_RANGES[field][1]}]")
    assert "too small" in msg


def test_wmem_word_scales_with_merge_degree():
    assert ExionConfig(merge_degree=4, wmem_bank_bytes=96).words("wmem") == 1
    with pytest.raises(ConfigError, match=r"wmem_bank_bytes = 95 .*\[96, "):
        ExionConfig(merge_degree=4, wmem_bank_bytes=95)


@pytest.mark.parametrize("bad", ["bogus", "None", "", 3, None], ids=repr)
def test_token_sort_unknown(bad):
    _reject("token_sort", bad, repr(bad), ", ".join(SORT_STRATEGIES))


@pytest.mark.parametrize("s", SORT_STRATEGIES)
def test_token_sort_known(s):
    assert ExionConfig(token_sort=s).token_sort == s


@pytest.mark.parametrize("bad", ["", 3, None], ids=repr)
def test_name_must_be_non_empty_string(bad):
    _reject("name", bad, "non-empty string")


def test_name_is_not_part_of_equality():
    assert ExionConfig(name="a") == ExionConfig(name="b")


# -- parse_field (the CLI's converter) -------------------------------------------------------

def test_parse_field():
    assert ExionConfig.parse_field("rows", "16") == 16
    assert ExionConfig.parse_field("rows", "-1") == -1  # range checked by the constructor
    assert ExionConfig.parse_field("ep_k", "1e-2") == 0.01
    assert ExionConfig.parse_field("token_sort", "popcount") == "popcount"
    for field, text in (("rows", "abc"), ("rows", "1.5"), ("rows", "0x10"),
                        ("clock_mhz", "fast")):
        with pytest.raises(ConfigError) as ei:
            ExionConfig.parse_field(field, text)
        assert field in str(ei.value) and repr(text) in str(ei.value)
    with pytest.raises(ConfigError, match="unknown configuration field 'bogus'"):
        ExionConfig.parse_field("bogus", "1")


# -- immutability ----------------------------------------------------------------------------

def test_frozen():
    c = preset("exion")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.rows = 8
    with pytest.raises(AttributeError):
        c.name = "x"
    assert c.rows == 16


def test_replace_validates():
    c = preset("exion")
    assert c.replace(rows=4).rows == 4 and c.rows == 16
    with pytest.raises(ConfigError, match="rows = 0"):
        c.replace(rows=0)


# -- JSON manifest ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name):
    c = PRESETS[name]
    text = c.to_json()
    back = ExionConfig.from_json(text)
    assert back == c and back.name == c.name
    assert back.to_json() == text  # deterministic
    m = json.loads(text)
    assert m["generator"] == "exion-gen" and m["format"] == 1
    assert set(m["config"]) == set(FIELD_NAMES)
    assert set(m["derived"]) == set(DERIVED)
    assert ExionConfig.from_dict(m["config"]) == c  # a bare config dict works too


def test_manifest_derived_values_match_properties():
    c = ExionConfig(rows=5, cols=7, lanes=8, merge_degree=3, adder_stages=2, acc_width=40)
    d = c.manifest()["derived"]
    assert d == {"dpus": 35, "peak_macs_per_cycle": 280, "product_width": 24,
                 "sum_width": 27, "sel_width": 2, "pipeline_depth": 4, "drain_cycles": 7,
                 "imem_words": c.words("imem"), "wmem_words": c.words("wmem"),
                 "omem_words": c.words("omem"), "bus_bytes": 32}


def test_from_dict_rejects_unknown_field():
    data = preset("exion").to_dict() | {"bogus": 1, "also_bad": 2}
    with pytest.raises(ConfigError, match="unknown configuration field.*also_bad, bogus"):
        ExionConfig.from_dict(data)
    with pytest.raises(ConfigError, match="bogus"):
        ExionConfig.from_json(json.dumps({"config": {"bogus": 1}}))


def test_from_json_validates():
    m = json.loads(preset("exion").to_json())
    m["config"]["lanes"] = 12
    with pytest.raises(ConfigError, match="lanes = 12"):
        ExionConfig.from_json(json.dumps(m))
    m["config"]["lanes"] = 16.0  # a float where an integer belongs
    with pytest.raises(ConfigError, match="lanes must be an integer"):
        ExionConfig.from_json(json.dumps(m))


# -- C header --------------------------------------------------------------------------------

_DEFINE = re.compile(r"^#define (\w+)(?: (.*))?$")


def _defines(header: str) -> dict[str, str]:
    out = {}
    for line in header.splitlines():
        m = _DEFINE.match(line)
        if m:
            assert m.group(1) not in out, f"{m.group(1)} defined twice"
            out[m.group(1)] = m.group(2)
    return out


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_c_header_defines(name):
    c = PRESETS[name]
    h = c.to_c_header()
    lines = h.splitlines()
    assert "#ifndef EXION_CONFIG_H" in lines and lines[-1] == "#endif /* EXION_CONFIG_H */"
    assert lines.index("#ifndef EXION_CONFIG_H") < lines.index("#define EXION_CONFIG_H")
    defs = _defines(h)
    assert defs.pop("EXION_CONFIG_H") is None
    items = c.to_dict() | c.manifest()["derived"]
    assert set(defs) == {"EXION_" + k.upper() for k in items}
    for k, v in items.items():
        text = defs["EXION_" + k.upper()]
        if isinstance(v, str):
            assert text == f'"{v}"'
        elif isinstance(v, float):
            assert float(text) == v
        else:
            assert int(text) == v
    assert defs["EXION_ROWS"] == str(c.rows) and defs["EXION_DPUS"] == str(c.dpus)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("cfg", [preset("exion"), preset("toy"),
                                 ExionConfig(lanes=64, adder_stages=6, data_width=16,
                                             acc_width=48, ep_k=0.001, clock_mhz=1.0,
                                             offchip_bytes_per_cycle=1.0e6, name="edge")],
                         ids=["exion", "toy", "edge"])
def test_c_header_compiles(cfg, tmp_path):
    (tmp_path / "exion_config.h").write_text(cfg.to_c_header())
    items = cfg.to_dict() | cfg.manifest()["derived"]
    body = ['#include "exion_config.h"', '#include "exion_config.h"  /* guard */']
    for k, v in sorted(items.items()):
        macro = "EXION_" + k.upper()
        if isinstance(v, str):
            body.append(f"static const char {k}[] = {macro};")
        elif isinstance(v, float):
            body.append(f"static const double {k} = {macro};")
        else:
            body.append(f'_Static_assert({macro} == {v}LL, "{k}");')
    body.append("int main(void) { return 0; }")
    (tmp_path / "check.c").write_text("\n".join(body) + "\n")
    r = subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", "-Wno-unused-const-variable",
                        "-fsyntax-only", "check.c"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# -- property: every valid combination round-trips -------------------------------------------

@st.composite
def valid_configs(draw):
    lanes = draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64]))
    dw = draw(st.integers(*INT_RANGES["data_width"]))
    merge = draw(st.integers(*INT_RANGES["merge_degree"]))
    kw = dict(
        rows=draw(st.integers(*INT_RANGES["rows"])),
        cols=draw(st.integers(*INT_RANGES["cols"])),
        lanes=lanes, data_width=dw, merge_degree=merge,
        acc_width=draw(st.integers(max(8, 2 * dw + clog2(lanes)), 48)),
        adder_stages=draw(st.integers(0, clog2(lanes))),
        imem_bank_bytes=draw(st.integers(-(-lanes * dw // 8), INT_RANGES["imem_bank_bytes"][1])),
        wmem_bank_bytes=draw(st.integers(-(-merge * lanes * dw // 8),
                                         INT_RANGES["wmem_bank_bytes"][1])),
        omem_bank_bytes=draw(st.integers(-(-dw // 8), INT_RANGES["omem_bank_bytes"][1])),
        token_sort=draw(st.sampled_from(SORT_STRATEGIES)),
        name=draw(st.text(st.characters(min_codepoint=33, max_codepoint=126,
                                        exclude_characters='"\\'), min_size=1, max_size=12)),
    )
    for f in ("imem_buffers", "wmem_buffers", "omem_buffers", "ffn_reuse_n", "iterations",
              "lod_steps", "schedule_depth"):
        kw[f] = draw(st.integers(*INT_RANGES[f]))
    for f, (lo, hi) in FLOAT_RANGES.items():
        kw[f] = draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))
    return ExionConfig(**kw)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(valid_configs())
def test_any_valid_config_round_trips(c):
    back = ExionConfig.from_json(c.to_json())
    assert back == c and back.name == c.name
    assert back.to_c_header() == c.to_c_header()
    assert set(_defines(c.to_c_header())) - {"EXION_CONFIG_H"} == {
        "EXION_" + k.upper() for k in c.to_dict() | c.manifest()["derived"]}
    for mem in ("imem", "wmem", "omem"):
        assert c.words(mem) >= 1
    # One cycle's lane sum at the most negative operands fits the accumulator exactly.
    assert (c.data_min ** 2) * c.lanes <= c.acc_max


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(sorted(INT_RANGES)), st.integers(-100, 100_000),
                       max_size=4))
def test_any_int_assignment_is_valid_or_a_config_error(kw):
    try:
        c = ExionConfig(**kw)
    except ConfigError as e:
        assert any(f in str(e) for f in FIELD_NAMES)
    else:
        assert ExionConfig.from_json(c.to_json()) == c


def test_c_header_escapes_name():
    h = ExionConfig(name='my "fast" core\\').to_c_header()
    assert _defines(h)["EXION_NAME"] == json.dumps('my "fast" core\\')
