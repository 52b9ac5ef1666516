"""The generated C header is complete for a driver: docs/examples/issue_gemm.c builds a GEMM
command with its macros alone, compiles warning-free, and writes what exion.regmap.encode
computes."""

import shutil
import subprocess
from pathlib import Path

import pytest

from exion.config import preset
from exion.fields import ARG_FIELDS
from exion.limits import CAU_BEAT, MAX_HEAD_DIM, MAX_KEYS, QUEUE_DEPTH
from exion.regmap import CTRL_BITS, RESPONSES, STATUS_BITS, RegisterMap, core_header, encode

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "issue_gemm.c"


def test_header_names_every_field_bit_and_limit():
    cfg = preset("toy")
    text = core_header(cfg)
    rm = RegisterMap(cfg)
    for f in ARG_FIELDS:
        n = f.name.upper()
        assert f"#define EXION_ARG_{n}_REG {f.reg}u" in text
        assert f"#define EXION_ARG_{n}_SHIFT {f.lo}u" in text
        assert f"#define EXION_ARG_{n}_MASK 0x{f.mask:X}u" in text
    for name in STATUS_BITS:
        assert f"#define EXION_STATUS_{name.upper()} " in text
    for name in CTRL_BITS:
        assert f"#define EXION_CTRL_{name.upper()} " in text
    for name, value in (("QUEUE_DEPTH", QUEUE_DEPTH), ("MAX_KEYS", MAX_KEYS),
                        ("MAX_HEAD_DIM", MAX_HEAD_DIM), ("CAU_BEAT", CAU_BEAT),
                        ("MASK_CHANNELS", rm.channels), ("SMEM_WORDS", rm.smem_words),
                        ("S_AXIS_WIDTH", rm.in_width), ("M_AXIS_WIDTH", rm.out_width)):
        assert f"#define EXION_{name} {value}u" in text
    for name, value in rm.capacities().items():
        assert f"#define EXION_CAP_{name.upper()} {value}u" in text
    for name, value in RESPONSES.items():
        assert f"#define EXION_RESP_{name} {value}u" in text
    assert text.count("#ifndef") == 1 and text.rstrip().endswith("#endif /* EXION_CONFIG_H */")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_example_compiles_and_matches_encode(tmp_path):
    cfg = preset("toy")
    header = tmp_path / "exion_core_toy.h"
    header.write_text(core_header(cfg))
    exe = tmp_path / "issue_gemm"
    r = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                        f'-DEXION_HEADER="{header}"', str(EXAMPLE), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    args, word = encode("GEMM", flags=("FFN_MASK",), kc=2, shift=9, ch_base=0, n_ch=cfg.cols,
                        ibuf=0, wbuf=1, obuf=1, n_rows=cfg.rows, wbase=0, th_hi=5, th_lo=-6)
    want = [f"ARG{i} 0x{args[f'ARG{i}']:08x}" for i in range(6)] + [f"CMD 0x{word:08x}"]
    assert out.splitlines()[:7] == want
