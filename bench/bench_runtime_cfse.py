"""Where the cycles of a DiT with its CFSE work on chip go: per command (``LAYERNORM``,
``SOFTMAX``, ``GELU``, ``RESIDUAL``, the model's GEMMs, the identity GEMMs that stage CFSE
operands, ``PREDICT``, ``SCHEDULE``) as a share of all core cycles, for the runtime
(``exion run --cfse chip``) and for one block kept on chip (``exion_tools/runtime/block.py``).

    .venv/bin/python bench/bench_runtime_cfse.py [--model dit64] [--iterations 3]
                                                 [--modes base,all]

The ``exion`` preset (16 x 16, 16 lanes), one image of class 0, seed 0, model backend; the
block: block 0 of the model's weights on seeded random input codes and conditioning.
docs/runtime.md, "Figures: the CFSE on chip against the host", has the figures.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from exion_tools.runtime.backend import make_backend  # noqa: E402
from exion_tools.runtime.block import plan_block, run_block  # noqa: E402
from exion_tools.runtime.cli import MODELS  # noqa: E402
from exion_tools.runtime.counts import Stats  # noqa: E402
from exion_tools.runtime.dit import load_npz  # noqa: E402
from exion_tools.runtime.lower import Host  # noqa: E402
from exion_tools.runtime.model import DiTRuntime  # noqa: E402


class _ByCommand(Stats):
    """Stats that also add up cycles per command (staging GEMMs apart)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.by = collections.Counter()

    def command(self, op, f, cycles=0, **kw):
        self.by[op + (" (staging)" if kw.get("staging") else "")] += cycles
        super().command(op, f, cycles, **kw)


def _print(title: str, by: collections.Counter) -> None:
    total = sum(by.values())
    print(f"{title}: {total:,} cycles")
    for op, c in by.most_common():
        if c:
            print(f"  {op:<18}{c:>14,}{c / total:>8.1%}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="dit64", choices=sorted(MODELS))
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--modes", default="base,all")
    a = p.parse_args(argv)
    w = load_npz(MODELS[a.model])
    cfg = preset("exion", iterations=a.iterations)
    for mode in a.modes.split(","):
        st = _ByCommand(cfg)
        DiTRuntime(w, cfg, mode, Host(cfg, make_backend("model", cfg), st),
                   cfse="chip").sample([0], 0)
        _print(f"{a.model} mode {mode}, --cfse chip, {a.iterations} iterations", st.by)
    st = Stats(cfg)
    host = Host(cfg, make_backend("model", cfg), st)
    rng = np.random.default_rng(0)
    sp = w.spec
    plan = plan_block(w, 0, rng.integers(-1024, 1024, (1, sp.hidden)), cfg, host)
    blk = _ByCommand(cfg)
    host.stats = blk
    run_block(host, plan, rng.integers(-64, 64, (sp.tokens, sp.hidden)))
    _print(f"{a.model} block 0 on chip (block.py), {sp.tokens} tokens", blk.by)
    # per block: the runtime's layer-by-layer path (block 0 of the first iteration) and
    # block.py; bytes through the data ports (energy is almost all off-chip bytes)
    print(f"{a.model} one block: cycles, bytes in, bytes out")
    img = np.random.default_rng(0).standard_normal((sp.channels, sp.image_size, sp.image_size))
    for place in ("host", "chip"):
        st = Stats(cfg)
        DiTRuntime(w, cfg, "base", Host(cfg, make_backend("model", cfg), st),
                   cfse=place).forward(img, 999, 0, 0, 0)
        rows = [r for r in st.rows.values() if r.block == 0]
        print(f"  runtime --cfse {place:<5}{sum(r.cycles for r in rows):>12,}"
              f"{sum(r.bytes_in for r in rows):>14,}{sum(r.bytes_out for r in rows):>12,}")
    t = blk.totals()
    print(f"  block.py          {t['cycles']:>12,}{t['bytes_in']:>14,}{t['bytes_out']:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
