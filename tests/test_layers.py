"""The layering of docs/architecture.md, enforced on the imports (parsed with ``ast``, so
imports inside functions count too).

spec (``exion``) <- ``golden``, ``hw`` (never each other) <- tools, sim, tests, bench, ...
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Package -> project packages it may import (besides itself).
ALLOWED = {
    "exion": set(),
    "golden": {"exion"},
    "hw": {"exion"},
}
#: Everything else may import any of these; nothing may import the upper layers' packages
#: from below (checked by ALLOWED above).
PROJECT = {"exion", "golden", "hw", "exion_tools", "sim", "tests", "bench", "formal", "workload"}


def _python_files(package):
    return sorted(p for p in (ROOT / package).rglob("*.py") if ".venv" not in p.parts)


def _imports(path: Path, package: str):
    """(line, absolute module name) of every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(ROOT).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = rel[:len(rel) - node.level]
                mod = ".".join(base + ((node.module,) if node.module else ()))
            else:
                mod = node.module or ""
            yield node.lineno, mod, tuple(a.name for a in node.names)


def _all_files():
    for package in sorted(PROJECT):
        for path in _python_files(package):
            yield package, path


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layer_imports(package):
    bad = []
    for path in _python_files(package):
        for line, mod, _ in _imports(path, package):
            top = mod.split(".")[0]
            if top in PROJECT and top != package and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {mod}")
    assert not bad, f"{package}/ may import only {sorted(ALLOWED[package]) or 'itself'}:\n" \
        + "\n".join(bad)


def test_no_private_names_across_modules():
    bad = []
    for _, path in _all_files():
        here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for line, mod, names in _imports(path, ""):
            if mod.split(".")[0] not in PROJECT or mod == here:
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: from {mod} import {n}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def _others():
    return [p for _, p in _all_files() if p != Path(__file__).resolve()]


def test_no_amaranth_private_attributes():
    bad = [f"{p.relative_to(ROOT)}" for p in _others() if "_MustUse" in p.read_text()]
    assert not bad, "Amaranth private attributes used in: " + ", ".join(bad)


def test_helpers_written_once():
    """The atomic write (mkstemp + os.replace) and the range-check message live in exion.util."""
    for needle in ("os.replace(", "out of range [{lo}, {hi}]"):
        found = [p.relative_to(ROOT).as_posix() for p in _others() if needle in p.read_text()]
        assert found == ["exion/util.py"], f"{needle!r} written outside exion/util.py: {found}"


def test_no_amaranth_private_modules():
    """Amaranth is used through its public modules only (``amaranth.hdl``, ``amaranth.lib``,
    ``amaranth.back``, ...), never ``amaranth.hdl._ir`` and the like."""
    bad = [f"{p.relative_to(ROOT)}:{line}: {mod}"
           for _, p in _all_files() for line, mod, _names in _imports(p, "")
           if mod.split(".")[0] == "amaranth"
           and any(part.startswith("_") for part in mod.split(".")[1:])]
    assert not bad, "private Amaranth modules imported:\n" + "\n".join(bad)
