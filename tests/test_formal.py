"""Bounded formal checks (formal/run.py): LOD at 8 bits against its definition; CAU slot / sel /
exactly-once coverage properties on a 4 x 2 array with merge degree 2 (greedy, the window,
two a cycle, best fit). Runs the ``--quick``
CAU size (4 channels, depth 12, about 10 s); ``make formal`` / ``python formal/run.py`` runs
the full one (6 channels, depth 16, about 2 minutes)."""

import shutil

import pytest

from formal.run import CHECKS, run_check


@pytest.mark.skipif(shutil.which("yosys-abc") is None, reason="Debian yosys (yosys-abc) missing")
@pytest.mark.parametrize("name", list(CHECKS))
def test_formal(name, tmp_path):
    res = run_check(name, workdir=tmp_path, quick=True)
    assert res["passed"] == res["expected"], res["log"][-3000:]
