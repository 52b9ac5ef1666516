"""Reading what the synthesis flow produces: module texts of the generated Verilog, and Yosys'
``stat -json`` and memory dumps.

Part of ``exion synth``; pure functions of text, no tool is run here.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from .synth_model import SynthError, bare, sram_transistors_per_bit

__all__ = ["split_modules", "module_children", "parse_param", "parse_memories",
           "parse_ecp5_memories", "load_stat", "stat_modules"]


# -- Verilog splitting --------------------------------------------------------------------

_MODULE_RE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*\(", re.M)
_INST_RE = re.compile(r"^\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)"
                      r"\s*\(\s*$")


def split_modules(text: str) -> dict[str, str]:
    """Module name (as spelled in Verilog, escaped names with their backslash) -> its text,
    attributes in front of ``module`` included, in file order."""
    out: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    start = name = attrs_from = None
    for i, line in enumerate(lines):
        if start is None:
            if line.startswith("(*"):
                if attrs_from is None:
                    attrs_from = i
            elif line.startswith("module "):
                m = _MODULE_RE.match(line)
                if not m:
                    raise SynthError(f"cannot parse module header: {line[:80]!r}")
                name = m.group(1)
                start = attrs_from if attrs_from is not None else i
            elif line.strip():
                attrs_from = None
        elif line.startswith("endmodule"):
            if name in out:
                raise SynthError(f"module {name} is defined twice")
            out[name] = "".join(lines[start:i + 1])
            start = name = attrs_from = None
    if not out:
        raise SynthError("no module found in the Verilog")
    return out


def module_children(mod_text: str, known) -> Counter:
    """Instances of the modules in ``known`` inside one module's text:
    ``(module, instance name) -> count`` (1: instance names are unique in a module)."""
    kids: Counter = Counter()
    for line in mod_text.splitlines():
        m = _INST_RE.match(line)
        if m and m.group(1) in known:
            kids[(m.group(1), m.group(2))] += 1
    return kids




def parse_param(text: str) -> int:
    text = text.strip()
    if "'" in text:
        _width, bits = text.split("'", 1)
        bits = bits.lstrip("sb")
        return int(bits, 2) if bits else 0
    return int(text)


def parse_memories(dump: str) -> list[dict]:
    """``$mem_v2`` cells of an RTLIL dump: name, width, size, ports, bits (and ``module``
    after an ``@@module`` marker line)."""
    mems = []
    cur = None
    module = ""
    for line in dump.splitlines():
        s = line.strip().strip('"')
        if s.startswith("@@module "):
            module = bare(s.split(None, 1)[1])
        elif s.startswith("cell $mem_v2 "):
            cur = {"name": bare(s.split(None, 2)[2]), "module": module}
            mems.append(cur)
        elif cur is not None and s.startswith("parameter \\"):
            key, _, val = s[len("parameter \\"):].partition(" ")
            if key in ("WIDTH", "SIZE", "RD_PORTS", "WR_PORTS"):
                cur[key.lower()] = parse_param(val)
        elif s == "end":
            cur = None
    for m in mems:
        missing = {"width", "size", "rd_ports", "wr_ports"} - set(m)
        if missing:
            raise SynthError(f"memory {m['name']}: no {', '.join(sorted(missing))} in the dump")
        m["bits"] = m["width"] * m["size"]
        m["sram_tr"] = m["bits"] * sram_transistors_per_bit(m["rd_ports"], m["wr_ports"])
    return mems


def parse_ecp5_memories(listing: str) -> Counter:
    """``select -list`` of RAM cells (``module/<memory>.<i>.<j>``) -> cells per memory."""
    out: Counter = Counter()
    for line in listing.splitlines():
        line = line.strip()
        if "/" in line:
            cell = bare(line.split("/", 1)[1])
            out[cell.split(".", 1)[0]] += 1
    return out


_STAT_NOISE = re.compile(r"^\s+[^\s\"{}][^\"]*\s\d+\s*$")


def load_stat(text: str) -> dict:
    """``stat -json`` output. Yosys 0.23 prints the instance counts of a hierarchical design
    (``   name   4``) into the middle of its JSON; those lines are dropped."""
    return json.loads("\n".join(ln for ln in text.splitlines() if not _STAT_NOISE.match(ln)))


def stat_modules(stat: dict) -> dict[str, dict]:
    return {bare(k): v for k, v in stat["modules"].items()}

