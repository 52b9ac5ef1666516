"""What the README and the docs promise, held against the tree: every ``make`` target and
variable they use exists in the Makefile, every file path in the README exists, the license
is there, and no text points to an issue tracker readers cannot see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = (ROOT / "Makefile").read_text()
README = (ROOT / "README.md").read_text()
DOCS = {p.relative_to(ROOT).as_posix(): p.read_text()
        for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
                  *sorted(ROOT.glob("*/README.md"))]}


def _targets() -> set[str]:
    found = set()
    for m in re.finditer(r"^([A-Za-z0-9_.\- ]+):(?!=)", MAKEFILE, re.M):
        found.update(m.group(1).split())
    return found


def _variables() -> set[str]:
    return set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*[?:]?=", MAKEFILE, re.M))


def _make_commands(text: str):
    """``make TARGET VAR=value ...`` as written in code spans and code blocks."""
    for line in re.findall(r"(?:^|`)\s*make ([^`\n#]*)", text, re.M):
        yield line.split()


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_make_targets_and_variables_exist(doc):
    targets, variables = _targets(), _variables()
    for words in _make_commands(DOCS[doc]):
        for w in words:
            if "=" in w:
                name = w.split("=", 1)[0].lstrip("[")
                if name.isupper():
                    assert name in variables, f"{doc}: make variable {name} is not in the Makefile"
            elif re.fullmatch(r"[a-z][a-z0-9\-]*", w):
                assert w in targets, f"{doc}: `make {w}` is not a Makefile target"


def test_readme_paths_exist():
    paths = set(re.findall(r"`((?:docs|hw|sim|tests|bench|golden|exion|exion_tools|formal|"
                           r"workload|constraints|data)/[A-Za-z0-9_./\-]*)`", README))
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"README.md names paths that do not exist: {missing}"


def test_readme_quick_start():
    quick = README[README.index("## Quick start"):README.index("## What works")]
    for cmd in ("make verilog ROWS=16 COLS=16", "make sim", "make test"):
        assert cmd in quick, f"quick start lacks `{cmd}`"
    for section in ("## What differs from the paper", "## Glossary", "## Simulation",
                    "### Waveforms", "## License"):
        assert section in README, f"README.md lacks {section!r}"


def test_license():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 2-Clause License")
    assert "the exion-gen authors" in text
    assert 'license = "BSD-2-Clause"' in (ROOT / "pyproject.toml").read_text()


#: References to a tracker readers cannot see.
TRACKER = re.compile(r"\bissues? \d+\b|\ba later issue\b|\bthis issue\b|\bthe core issue\b|"
                     r"\bdatapath issue\b|closing" r" note", re.I)


def test_no_tracker_references():
    files = [*DOCS.items()]
    for pattern in ("*.py", "*/*.py", "Makefile", "pyproject.toml"):
        files += [(p.relative_to(ROOT).as_posix(), p.read_text()) for p in ROOT.glob(pattern)
                  if ".venv" not in p.parts]
    bad = [f"{name}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0)!r}"
           for name, text in files for m in TRACKER.finditer(text)]
    assert not bad, "references to the issue tracker:\n" + "\n".join(bad)
