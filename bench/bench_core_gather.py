"""Bytes and cycles of a sparse FC1's weight fetch on real FFN-Reuse keep-masks: the gather
(``LOAD_WMEM`` with ``MEM | GATHER``, hw/core_gather.py) against the two ways it was done before.

    .venv/bin/python bench/bench_core_gather.py [--traces DIR] [--masks N] [--config exion|4x4]

For each of ``N`` evenly spaced ``ffn`` masks of the trace (tokens x d_ff, the FC1 output
keep-mask of the sparse iterations) and each row group of ``rows`` tokens, the group's mask goes
through the configuration's CAU (``golden.conmerge.cau_schedule``, what ``SCHEDULE`` writes to
SMEM) and the group's FC1 weights (K = hidden, channel-major, one row of ``kc`` lane vectors per
channel) are fetched three ways through the master port, all figures from the golden model
(``golden.core_mem``; tests/test_core_gather.py and test_core_dma.py hold the RTL to it, cycles
included, with a memory of read latency 2 that never pauses):

* ``dense``: the whole weight matrix, ``LOAD_WMEM`` ``MEM`` of the dense layout (one stream);
* ``image``: the host lays ``golden.sdue.wmem_image`` out in memory and loads it with a plain
  ``MEM`` load (every stream of every bank, unused slots' zeros included);
* ``gather``: only the channels the vectors name, once per slot (``gather_bytes``,
  ``golden.core_gather.gather_cycles``: the rows requested up to ``GATHER_AHEAD`` slots ahead,
  their fetches overlapped); its bound is one lane vector a cycle into WMEM over every slot;
* ``serial``: the same rows fetched one after the other (the engine before its slot FIFO,
  :func:`serial_cycles`), the baseline of the overlap.

Bytes are whole bus words read; cycles are ``MEM_RD_CYCLES``. A group whose blocks do not fit
one WMEM buffer (``blocks * kc`` > words) is counted as it is (the figures are per group).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from exion.limits import CORE_READ_BURST  # noqa: E402
from golden import conmerge, core_gather, core_mem, dma, intsem  # noqa: E402
from workload import traces  # noqa: E402

from bench.bench_core_dma import CONFIGS  # noqa: E402  (the master-port bench's configurations)
LATENCY = 2         # AxiRam's read latency (sim/dma_harness.py)
#: What the core's read engines see: the memory's latency plus their R FIFO's cycle, bursts of
#: at most CORE_READ_BURST beats (golden.core_mem.mem_load)
CORE_LATENCY = LATENCY + core_mem.READ_FIFO_DELAY


def serial_cycles(blocks, descs, cfg, kc: int, bb: int, ib: int) -> int:
    """The baseline: the rows fetched one after the other, as the engine did before its slot
    FIFO (the next row requested in the cycle of the previous one's last item): 1 (the
    take) plus, slot after slot, ``kc + 1`` for an unused one and the row's
    ``golden.core_mem.load_cycles`` for a named one."""
    it = iter(descs)
    return 1 + sum(kc + 1 if ch < 0 else
                   core_mem.load_cycles(next(it), bb, ib, kc, CORE_LATENCY,
                                        max_burst=CORE_READ_BURST)
                   for *_x, ch in core_gather.gather_slots(blocks, cfg.cols, cfg.merge_degree))


def group_figures(mask, cfg, k: int) -> dict:
    """Bytes and cycles of one row group's FC1 weight fetch, three ways (module docstring)."""
    bb, n = cfg.bus_bytes, mask.shape[1]
    ib, _ = core_mem.item_bytes(cfg.lanes, cfg.rows, cfg.data_width)
    kc = intsem.lane_chunks(k, cfg.lanes)
    row = -(-kc * ib // bb) * bb
    sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
    nb, md = len(sched.blocks), cfg.merge_degree
    dense_blocks = -(-n // cfg.cols)
    d_dense = dma.Descriptor(0, dense_blocks * kc * ib, cfg.cols,
                             -(-dense_blocks * kc * ib // bb) * bb)
    d_image = dma.Descriptor(0, max(1, nb * kc) * ib, cfg.cols * md,
                             -(-max(1, nb * kc) * ib // bb) * bb)
    descs = [core_gather.gather_descriptor(0, row, ch, kc, ib)
             for *_x, ch in core_gather.gather_slots(sched.blocks, cfg.cols, md) if ch >= 0]
    return {
        "blocks": nb, "named": len(descs),
        "dense_bytes": dma.bytes_read(d_dense, bb),
        "dense_cycles": core_mem.load_cycles(d_dense, bb, ib, dense_blocks * kc, CORE_LATENCY,
                                            max_burst=CORE_READ_BURST),
        "image_bytes": dma.bytes_read(d_image, bb) if nb else 0,
        "image_cycles": core_mem.load_cycles(d_image, bb, ib, nb * kc, CORE_LATENCY,
                                            max_burst=CORE_READ_BURST) if nb else 0,
        "gather_bytes": core_gather.gather_bytes(sched.blocks, kc, cfg.cols, md, bb, ib),
        "gather_cycles": core_gather.gather_cycles(sched.blocks, descs, cfg.cols, md, kc, bb,
                                                   ib, CORE_LATENCY),
        "serial_cycles": serial_cycles(sched.blocks, descs, cfg, kc, bb, ib),
        "matrix_bytes": n * row,
        "bound_cycles": 1 + nb * cfg.cols * md * kc,     # one lane vector a cycle into WMEM
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--traces", default=str(ROOT / "data" / "traces"),
                    help="trace folder (workload/traces.py format)")
    ap.add_argument("--masks", type=int, default=8, help="ffn masks used, evenly spaced")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="exion",
                    help="core configuration (exion: the 16x16 preset)")
    args = ap.parse_args(argv)
    if args.masks < 1:
        print(f"error: --masks = {args.masks} must be >= 1", file=sys.stderr)
        return 2
    tdir = Path(args.traces)
    if not (tdir / "index.json").exists():
        print(f"error: no traces in {tdir} (--traces)", file=sys.stderr)
        return 2
    cfg = CONFIGS[args.config]
    ts = traces.load_traces(tdir)
    kind = ts.kinds["ffn"]
    k = int(kind.gemm["K"])
    picks = np.linspace(0, kind.count - 1, min(args.masks, kind.count)).astype(int)
    tot: dict[str, int] = {}
    keep = []
    for i in picks:
        mask = kind.mask(int(i))
        keep.append(mask.mean())
        for g in range(0, mask.shape[0], cfg.rows):
            for key, v in group_figures(mask[g:g + cfg.rows], cfg, k).items():
                tot[key] = tot.get(key, 0) + v
    groups = len(picks) * -(-kind.rows // cfg.rows)
    print(f"{args.config}: {cfg.rows}x{cfg.cols}, merge {cfg.merge_degree}, {cfg.lanes} lanes x "
          f"{cfg.data_width} bits, bus {cfg.bus_width} bits; FC1 K = {k}, N = {kind.cols}; "
          f"{len(picks)} ffn masks ({np.mean(keep):.1%} kept), {groups} row groups")
    print(f"per row group: {tot['blocks'] / groups:.1f} blocks, {tot['named'] / groups:.1f} "
          f"named slots ({tot['named'] / groups / kind.cols:.2f} per channel)")
    print("| fetch | bytes per group | vs dense | MEM_RD_CYCLES per group | vs dense |")
    print("| --- | --- | --- | --- | --- |")
    tot["serial_bytes"] = tot["gather_bytes"]
    for name in ("dense", "image", "serial", "gather"):
        b, c = tot[f"{name}_bytes"] / groups, tot[f"{name}_cycles"] / groups
        print(f"| {name} | {b:,.0f} | {b / (tot['dense_bytes'] / groups):.3f} | {c:,.0f} | "
              f"{c / (tot['dense_cycles'] / groups):.3f} |")
    print(f"the dense weight matrix: {tot['matrix_bytes'] / groups:,.0f} bytes; the gather's "
          f"bound (one lane vector a cycle into WMEM, every slot): "
          f"{tot['bound_cycles'] / groups:,.0f} cycles per group "
          f"({tot['bound_cycles'] / tot['dense_cycles']:.3f} of dense, "
          f"the gather takes {tot['gather_cycles'] / tot['bound_cycles']:.3f}x it, "
          f"its rows one at a time {tot['serial_cycles'] / tot['bound_cycles']:.3f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
