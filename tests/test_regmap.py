"""The core's register map (exion/regmap.py): encodings, the emitted manifest and C header,
and docs/core.md naming every register, opcode and cause."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from exion.config import preset
from exion.regmap import (CAUSES, FLAGS, OPCODES, REGISTERS, RegisterMap, encode)
from hw.generate import write_design

ROOT = Path(__file__).resolve().parent.parent


def test_encode_fields():
    args, word = encode("GEMM", flags=("SPARSE",), kc=24, shift=9, ch_base=3, n_ch=512,
                        ibuf=1, wbuf=2, obuf=1, n_rows=16, wbase=7, th_hi=-5, th_lo=-6)
    assert word == OPCODES["GEMM"] | FLAGS["SPARSE"]
    assert args["ARG0"] == 24 | 9 << 16
    assert args["ARG1"] == 3 | 512 << 16
    assert args["ARG2"] == 1 | 2 << 4 | 1 << 8 | 16 << 16
    assert args["ARG3"] == 7
    assert args["ARG4"] == 0xFFFFFFFB and args["ARG5"] == 0xFFFFFFFA
    args, _ = encode("PREDICT", kc=4, topk=3, n_keys=64, q_th=(5 << 32) | 9)
    assert args["ARG0"] == 4 | 3 << 16 and args["ARG1"] == 64 << 16
    assert (args["ARG4"], args["ARG5"]) == (9, 5)
    args, _ = encode("LOAD_WMEM", base=2, count=3, buf=2, streams=1)
    assert args["ARG0"] == 2 | 3 << 16 and args["ARG2"] == 2 << 4 | 1 << 12
    assert encode("READ_OMEM", count=1, buf=1)[0]["ARG2"] == 1 << 8


@pytest.mark.parametrize("kw, text", [
    (dict(op="NOPE"), "op = 'NOPE' is not one of"),
    (dict(op="GEMM", kc=1 << 16), "kc = 65536 is out of range [0, 65535]"),
    (dict(op="GEMM", n_rows=-1), "n_rows = -1 is out of range [0, 255]"),
    (dict(op="GEMM", th_hi=1 << 31), "th_hi = 2147483648 is out of range"),
])
def test_encode_rejects_values_that_do_not_fit(kw, text):
    op = kw.pop("op")
    with pytest.raises(ValueError, match=re.escape(text)):
        encode(op, **kw)


def test_map_is_disjoint_and_fits():
    for name in ("exion", "toy"):
        rm = RegisterMap(preset(name))
        assert max(REGISTERS.values()) < rm.mask_base
        assert rm.mask_base + rm.channels * rm.mask_stride * 4 <= rm.smem_base
        assert rm.smem_base + preset(name).schedule_depth * rm.smem_stride * 4 \
            <= 1 << rm.addr_width
        assert rm.smem_base % (rm.smem_stride * 4) == 0
    assert len(set(REGISTERS.values())) == len(REGISTERS)
    assert len(set(OPCODES.values())) == len(OPCODES)
    assert len(set(CAUSES.values())) == len(CAUSES)


def test_wide_rows_use_several_mask_words():
    rm = RegisterMap(preset("exion", rows=40))
    assert rm.mask_words == 2 and rm.mask_stride == 2


def test_docs_name_everything():
    text = (ROOT / "docs" / "core.md").read_text()
    for table in (REGISTERS, OPCODES, CAUSES, FLAGS):
        for name in table:
            stem = name.rsplit("_", 1)[0] if name.endswith(("_LO", "_HI")) else name
            if name.startswith("CFG_"):
                continue
            assert stem in text, f"docs/core.md does not mention {name}"


def test_manifest_and_header_carry_the_map(tmp_path):
    cfg = preset("exion", rows=4, cols=4, lanes=4, imem_bank_bytes=96, wmem_bank_bytes=768,
                 omem_bank_bytes=96, schedule_depth=16)
    d = write_design(cfg, tmp_path, top="core")
    man = json.loads(d.manifest.read_text())
    assert man["top"] == "exion_core"
    assert man["regmap"]["opcodes"] == OPCODES
    assert man["regmap"]["smem_base"] == RegisterMap(cfg).smem_base
    caps = man["regmap"]["capacities"]
    assert caps == RegisterMap(cfg).capacities()
    # the mask memory holds fewer channels than its window spans when the stride pads
    assert caps["mask_channels"] == cfg.words("omem") and caps["smem_blocks"] == 16
    header = d.header.read_text()
    assert "#define EXION_REG_CMD 0x3Cu" in header
    assert header.rstrip().endswith("#endif /* EXION_CONFIG_H */")
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed: header compile check")
    (tmp_path / "check.c").write_text(
        f'#include "{d.header.name}"\n#include "{d.header.name}"\n'
        '_Static_assert(EXION_OP_GEMM == 0x10u, "op");\n'
        '_Static_assert(EXION_STATUS_ERROR == 2u, "status");\n'
        f'_Static_assert(EXION_SMEM_BASE == {RegisterMap(cfg).smem_base}u, "smem");\n'
        "int main(void) { return 0; }\n")
    r = subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", "-fsyntax-only", "check.c"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_docs_argument_table_is_the_spec_table():
    from exion.fields import markdown_table
    assert markdown_table() in (ROOT / "docs" / "core.md").read_text(), \
        "docs/core.md's argument table differs from exion.fields.markdown_table()"
