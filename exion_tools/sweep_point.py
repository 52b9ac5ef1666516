"""One design point of ``exion sweep``: a pure function of its configuration.

:func:`run_point` is what a Dask task runs. It takes plain data (the configuration as a dict,
the options, a build folder of its own) and returns a dict of figures; it reads no global
state and writes only inside its build folder, so any worker of any cluster can run it, twice
if a worker dies, with the same result. :func:`point_key` hashes exactly what the result
depends on: the cache file of a point is ``<key>.json``.

Objectives (``OBJECTIVES``; each ``fn(cfg, opts, workdir) -> dict`` of columns):

``area``
    ``opts["area"] == "synth"``: ``exion_tools.synth.synthesize_design``, ASIC flow, the
    transistor estimate of the whole default top (logic + flip-flops + SRAM bit cells,
    ``docs/synthesis.md``); the full report goes to ``<workdir>/synth.json``.
    ``"model"``: :func:`area_model`, a closed form fitted to synthesized points (seconds
    instead of minutes; only rows, cols, lanes, merge degree, data width, bank bytes and
    buffer counts move it).
``cycles``
    The trained DiT of ``docs/workload.md`` (64 tokens, hidden 128, FFN 512, 4 blocks) through
    ``golden.cycle_model``: per block and iteration the fused Q/K/V projection
    ``(64 x 128) @ (128 x 384)``, FC1 ``(64 x 128) @ (128 x 512)`` and FC2
    ``(64 x 512) @ (512 x 128)``. Dense: every GEMM on the ``dense`` schedule. FFN-Reuse:
    FC1 of the sparse iterations (``cfg.ffn_reuse_n`` after each dense one, over
    ``cfg.iterations``) on the configuration's CAU schedule (``golden.conmerge.cau_schedule``:
    ``greedy`` unless ``cau_window`` / ``cau_sort`` say otherwise) of the exported keep-masks
    (``data/traces``, kind ``ffn``, sample 0; the mean over the first ``opts["masks"]``
    of them, 0 = all). ``*_cycles``: SDUE compute cycles (what the RTL counts);
    ``*_total``: with the off-chip bound, ``max(compute, memory)`` per GEMM, at the smaller of
    ``offchip_bytes_per_cycle`` and the AXI4 port's ``bus_width / 8`` bytes a cycle;
    ``latency_us``: the FFN-Reuse total at ``cfg.clock_mhz``.

``energy``
    The same DiT run priced by ``golden.energy`` (default node, supply and off-chip memory):
    action counts of ``golden.energy_counts`` for the Q/K/V and FC2 GEMMs, FC1 of the dense
    iterations with the keep-mask built (``ffn_dense_iteration_counts``) and FC1 of the sparse
    ones (``ffn_sparse_iteration_counts``: SCHEDULE + sparse GEMM, the mean over the same
    masks), at the same port-limited off-chip rate; leakage of the core's transistors from
    :func:`area_model` over the run's cycles. ``energy``: microjoules per image with
    FFN-Reuse; ``energy_dense``: without; ``energy_offchip_share``: the off-chip part.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from exion.config import ExionConfig
from exion.util import atomic_write

__all__ = ["FORMAT", "OBJECTIVES", "AREA_MODES", "point_key", "run_point", "area_model",
           "dit_cycles", "dit_energy", "DIT"]

#: Version of a cached result; bump it when a result's meaning changes (old caches then miss).
FORMAT = 2
AREA_MODES = ("synth", "model")

#: The trained DiT (``docs/workload.md``, ``workload/model.py``): tokens, hidden, FFN width,
#: blocks. The keep-mask traces have the FC1 output shape ``tokens x ffn``.
DIT = {"tokens": 64, "hidden": 128, "ffn": 512, "blocks": 4}


def point_key(config: dict, opts: dict) -> str:
    """Hash of what a point's result depends on: the configuration (all fields but its
    name), the options, :data:`FORMAT`, the area model's constants (``--area model``) and
    the keep-mask traces' index (which holds their SHA-256; cycles). A new configuration
    field changes every key (its default is part of the dict), so a cache never answers for
    a design it did not see."""
    cfg = {k: v for k, v in config.items() if k != "name"}
    deps: dict = {}
    if opts.get("area") == "model":
        deps["area_model"] = AREA_FIT
    if "cycles" in opts.get("objectives", ()):
        from workload import paths
        deps["traces"] = hashlib.sha256((paths.TRACES / "index.json").read_bytes()).hexdigest()
    text = json.dumps({"format": FORMAT, "config": cfg, "opts": opts, "deps": deps},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- area ---------------------------------------------------------------------------------

#: Closed-form area model (transistors), fitted by least squares to 13 points synthesized by
#: ``exion sweep --area synth`` (the ten of ``GRID`` and 1..3 x 2 arrays of 4 lanes; ASIC flow,
#: 12-bit operands, EXION banks; ``docs/sweep.md``): per lane of a DPU (multiplier and adder
#: tree), per lane and extra merged stream of a DPU (the ``w_sw`` multiplexers), per DPU
#: (accumulator, switch fields), per row and per column (predictor, selector, drain, SMEM and
#: bank periphery), on top of the bank bits' SRAM cells. Within 3 % of those 13 points.
AREA_FIT = {"lane": 9365, "lane_merge": 369, "dpu": 4128, "row_col": 159446}
#: Transistors per SRAM bit (8T two-port cell, ``exion_tools.synth_model``).
SRAM_TR_PER_BIT = 8
#: Operand width of the points the fit saw; a multiplier grows with its square.
FIT_DATA_WIDTH = 12


def area_model(cfg: ExionConfig) -> dict:
    """Transistor estimate of the core without synthesis (see :data:`AREA_FIT`): logic scaled
    by ``(data_width / 12) ** 2`` for the lane terms and ``data_width / 12`` for the rest,
    SRAM = the IMEM, WMEM and OMEM bank bits times :data:`SRAM_TR_PER_BIT`."""
    f = AREA_FIT
    w = cfg.data_width / FIT_DATA_WIDTH
    lanes = cfg.dpus * cfg.lanes
    logic = (f["lane"] * lanes * w * w + f["lane_merge"] * lanes * (cfg.merge_degree - 1) * w
             + (f["dpu"] * cfg.dpus + f["row_col"] * (cfg.rows + cfg.cols)) * w)
    bits = 8 * (cfg.rows * cfg.imem_buffers * cfg.imem_bank_bytes
                + cfg.cols * cfg.wmem_buffers * cfg.wmem_bank_bytes
                + cfg.rows * cfg.omem_buffers * cfg.omem_bank_bytes)
    sram = bits * SRAM_TR_PER_BIT
    return {"area_source": "model", "logic_ff_tr": round(logic), "mem_bits": bits,
            "sram_tr": sram, "area_tr": round(logic) + sram}


def area_synth(cfg: ExionConfig, opts: dict, workdir: Path) -> dict:
    from .synth import synthesize_design
    rep = synthesize_design(cfg, flows=("asic",), jobs=opts.get("synth_jobs", 1))
    atomic_write(workdir / "synth.json", json.dumps(rep, indent=1, sort_keys=True) + "\n")
    a = rep["total"]["asic"]
    return {"area_source": "synth", "gates": a["cells"], "ffs": a["ffs"],
            "logic_ff_tr": a["logic_tr"] + a["ff_tr"], "mem_bits": a["mem_bits"],
            "sram_tr": a["sram_tr"], "area_tr": a["total_tr"]}


def objective_area(cfg: ExionConfig, opts: dict, workdir: Path) -> dict:
    return area_synth(cfg, opts, workdir) if opts["area"] == "synth" else area_model(cfg)


# -- cycles -------------------------------------------------------------------------------

def _dense(m: int, k: int, n: int, cfg: ExionConfig):
    from golden.conmerge import schedule
    from golden.cycle_model import evaluate
    mask = np.ones((m, n), dtype=bool)
    return evaluate(schedule(mask, cfg, "dense"), mask, k, check=False)


def ffn_masks(count: int) -> np.ndarray:
    """The first ``count`` (0 = all) FFN-Reuse keep-masks of sample 0 of ``data/traces``."""
    from workload import paths, traces
    kind = traces.load_traces(paths.TRACES)["ffn"]
    idx = kind.select(sample=0)
    if count:
        idx = idx[:count]
    return np.stack([kind.mask(int(i)) for i in idx])


def dit_cycles(cfg: ExionConfig, masks: np.ndarray) -> dict:
    """Cycles of the DiT workload on ``cfg`` (see the module docstring)."""
    from golden.conmerge import cau_schedule
    from golden.cycle_model import evaluate
    from golden.ffn_reuse import is_dense_iteration
    t, d, f = DIT["tokens"], DIT["hidden"], DIT["ffn"]
    # The core's AXI4 port carries bus_width / 8 bytes a cycle: the off-chip rate is the
    # smaller of it and the memory's (the port limit of golden/multicore.py).
    cfg = cfg.replace(offchip_bytes_per_cycle=min(cfg.offchip_bytes_per_cycle, cfg.bus_bytes))
    qkv, fc1, fc2 = _dense(t, d, 3 * d, cfg), _dense(t, d, f, cfg), _dense(t, f, d, cfg)
    reuse = [evaluate(cau_schedule(m, cfg), m, d, check=False) for m in masks]
    r_comp = float(np.mean([r.compute_cycles for r in reuse]))
    r_tot = float(np.mean([r.total_cycles for r in reuse]))
    dense_its = sum(is_dense_iteration(i, cfg.ffn_reuse_n) for i in range(cfg.iterations))
    sparse_its = cfg.iterations - dense_its
    blocks, its = DIT["blocks"], cfg.iterations

    def workload(fc1_sparse, attr):
        per = getattr(qkv, attr) + getattr(fc2, attr)
        return round(blocks * (its * per + dense_its * getattr(fc1, attr)
                               + sparse_its * fc1_sparse))

    out = {"qkv_cycles": qkv.compute_cycles, "fc1_cycles": fc1.compute_cycles,
           "fc1_reuse_cycles": round(r_comp, 1), "fc2_cycles": fc2.compute_cycles,
           "dense_cycles": workload(fc1.compute_cycles, "compute_cycles"),
           "reuse_cycles": workload(r_comp, "compute_cycles"),
           "dense_total": workload(fc1.total_cycles, "total_cycles"),
           "reuse_total": workload(r_tot, "total_cycles"),
           "fc1_reuse_utilization": round(float(np.mean([r.utilization for r in reuse])), 4),
           "masks": len(masks)}
    out["reuse_speedup"] = round(out["dense_total"] / out["reuse_total"], 4)
    out["latency_us"] = round(out["reuse_total"] / cfg.clock_mhz, 3)
    return out


def objective_cycles(cfg: ExionConfig, opts: dict, workdir: Path) -> dict:
    return dit_cycles(cfg, ffn_masks(opts.get("masks", 0)))


# -- energy -------------------------------------------------------------------------------

def dit_energy(cfg: ExionConfig, masks: np.ndarray) -> dict:
    """Energy of the DiT workload on ``cfg`` (see the module docstring)."""
    from golden.energy import energy
    from golden.energy_counts import (dense_gemm_counts, ffn_dense_iteration_counts,
                                      ffn_sparse_iteration_counts)
    from golden.ffn_reuse import is_dense_iteration
    t, d, f = DIT["tokens"], DIT["hidden"], DIT["ffn"]
    cfg = cfg.replace(offchip_bytes_per_cycle=min(cfg.offchip_bytes_per_cycle, cfg.bus_bytes))
    always = dense_gemm_counts(t, d, 3 * d, cfg)[0] + dense_gemm_counts(t, f, d, cfg)[0]
    fc1_dense = ffn_dense_iteration_counts(t, d, f, cfg)[0]
    sparse = [ffn_sparse_iteration_counts(m, d, cfg)[0] for m in masks]
    fc1_sparse = sparse[0]
    for c in sparse[1:]:
        fc1_sparse = fc1_sparse + c
    fc1_sparse = fc1_sparse * (1 / len(sparse))
    dense_its = sum(is_dense_iteration(i, cfg.ffn_reuse_n) for i in range(cfg.iterations))
    sparse_its = cfg.iterations - dense_its
    blocks, its = DIT["blocks"], cfg.iterations
    leak = {"core": area_model(cfg)["area_tr"]}
    reuse = energy((always * its + fc1_dense * dense_its + fc1_sparse * sparse_its) * blocks,
                   cfg, transistors=leak)
    dense = energy((always + fc1_dense) * (its * blocks), cfg, transistors=leak)
    offchip = reuse.by_component().get("offchip", 0.0)
    return {"energy": round(reuse.total_pj * 1e-6, 3),
            "energy_dense": round(dense.total_pj * 1e-6, 3),
            "energy_offchip_share": round(offchip / reuse.total_pj, 4)}


def objective_energy(cfg: ExionConfig, opts: dict, workdir: Path) -> dict:
    return dit_energy(cfg, ffn_masks(opts.get("masks", 0)))


#: name -> ``fn(cfg, opts, workdir) -> dict`` of result columns.
OBJECTIVES = {"area": objective_area, "cycles": objective_cycles, "energy": objective_energy}


def run_point(config: dict, opts: dict, workdir: str) -> dict:
    """Evaluate one design point: every objective in ``opts["objectives"]``; the columns they
    return, the configuration and the seconds taken. Writes only under ``workdir``."""
    t0 = time.perf_counter()
    cfg = ExionConfig.from_dict(config)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    out: dict = {}
    for name in opts["objectives"]:
        out.update(OBJECTIVES[name](cfg, opts, work))
    out["dpus"] = cfg.dpus
    out["peak_macs_per_cycle"] = cfg.peak_macs_per_cycle
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out
