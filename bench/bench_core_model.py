"""Speed of the command-level core model (golden/core_model.py), numpy only:

* a whole dense GEMM on the ``exion`` preset (16 x 16, 16 lanes): K = 256 (kc = 16), a WMEM
  tile of 256 channels (16 blocks), 16 tokens, and its loads and read;
* an FFN-Reuse sparse iteration (FFN_MASK GEMM, SCHEDULE, sparse GEMM) and a PREDICT of 64 keys;
* per command, the core cycles it stands for (``CYCLES``) per second of model time.

    .venv/bin/python bench/bench_core_model.py [--repeat N]

Each figure is the best of N runs (default 20) of the command alone (its operands already in
the model's memories), with time.perf_counter.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exion.config import preset  # noqa: E402
from exion.regmap import encode  # noqa: E402
from golden.core_model import CoreModel  # noqa: E402


def best(fn, repeat: int) -> float:
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="runs per figure (best is printed)")
    a = ap.parse_args(argv)
    if a.repeat < 1:
        print(f"bench_core_model: --repeat = {a.repeat} is out of range [1, inf)", file=sys.stderr)
        return 2
    cfg = preset("exion", name="exion")
    R, C, L = cfg.rows, cfg.cols, cfg.lanes
    rng = np.random.default_rng(0)
    m = CoreModel(cfg)
    kc = 16
    n = min(cfg.words("omem"), (cfg.words("wmem") // kc) * C)
    hi = cfg.data_max // 2
    x = rng.integers(-hi, hi + 1, (R * kc, L))
    wimg = rng.integers(-hi, hi + 1, (C * (n // C) * kc, L))

    def step(op, **kw):
        imem, wmem = kw.pop("imem", None), kw.pop("wmem", None)
        cause, out = m.step(*encode(op, **kw), imem=imem, wmem=wmem)
        assert cause == 0 and not m.regs.error and not m.state.queue, (op, m.regs)
        return out

    rows = []

    def fig(label, fn, cycles=None):
        t = best(fn, a.repeat)
        rows.append((label, t, cycles if cycles is not None else m.regs.cycles))

    fig(f"LOAD_IMEM {R} banks x {kc} words", lambda: step("LOAD_IMEM", base=0, count=kc, buf=0, imem=x), 0)
    fig(f"LOAD_WMEM {C} banks x {(n // C) * kc} words, 1 stream",
        lambda: step("LOAD_WMEM", base=0, count=(n // C) * kc, buf=0, streams=1, wmem=wimg), 0)
    fig(f"GEMM dense K={kc * L} x {n} channels x {R} tokens",
        lambda: step("GEMM", kc=kc, shift=10, n_ch=n, ibuf=0, wbuf=0, obuf=0, n_rows=R))
    fig(f"GEMM dense + FFN_MASK ({n} channels)",
        lambda: step("GEMM", flags=("FFN_MASK",), kc=kc, shift=10, n_ch=n, ibuf=0, wbuf=0,
                     obuf=0, n_rows=R, th_hi=20, th_lo=-2048))
    fig(f"SCHEDULE {n} channels", lambda: step("SCHEDULE", n_ch=n))
    blocks = m.regs.blocks
    fig(f"GEMM sparse ({blocks} ConMerge blocks)",
        lambda: step("GEMM", flags=("SPARSE",), kc=kc, shift=10, ibuf=0, wbuf=0, obuf=0,
                     n_rows=R))
    pkc = 72 // L                            # the predictor's head-dimension limit
    fig(f"PREDICT 64 keys, head dim {pkc * L}",
        lambda: step("PREDICT", kc=pkc, topk=3, n_keys=64, ibuf=0, wbuf=0, n_rows=R, q_th=1000))
    fig(f"READ_OMEM {n} words", lambda: step("READ_OMEM", base=0, count=n, buf=0), 0)
    print(f"command-level model, {cfg.rows}x{cfg.cols} exion preset, best of {a.repeat}:")
    print(f"{'command':48s} {'ms':>8s} {'CYCLES':>8s} {'model cycles/s':>15s}")
    for label, t, cyc in rows:
        rate = f"{cyc / t:15.3g}" if cyc else f"{'-':>15s}"
        print(f"{label:48s} {1e3 * t:8.3f} {cyc:8d} {rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
