"""cocotb bench of the ConMerge Assistant Unit (hw/cau.py): its ConMerge vectors must equal the
golden schedule of the configuration's CAU rule (golden.conmerge.cau_schedule: ``window`` with
``cau_window`` open blocks, the ``cau_sort`` order and, with ``cau_fit``, best fit: ``bestfit``;
greedy for ``W = 1`` unsorted first fit) packed by
golden.schedule.pack_block, word for word, and, with no back-pressure, each group must take
exactly golden.cycle_model.cau_cycles cycles (with ``cau_rate`` channels placed per cycle).

``EXION_CAU_RESIDENT=1`` runs the same tests with the CAU's ``resident`` input set: the golden
rule is then the resident rule (``cau_schedule(..., resident=True)``), whose class rule the
words check (every channel in slot ``j % cols``, stream ``(j // cols) % merge_degree``)."""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from golden.conmerge import (cau_fit, cau_schedule, cau_sort_window, conflict_vectors,
                             group_masks, synthetic_mask)
from golden.conmerge_rules import window_emits
from golden.schedule import check_schedule
from golden.cycle_model import cau_cycles, group_beats
from hw.cau import DEFAULT_BEAT

from .tb_common import config, pack, start


class CauDriver:
    """Streams the beats of a mask's groups into the CAU and collects its words.

    ``gap`` / ``stall`` are probabilities of an idle input cycle and of ``blocks.ready = 0``.
    Returns the words, per group the cycle index (from the first beat) in which the group's
    last beat was accepted, and per word the cycle index in which it left.
    """

    def __init__(self, dut, cfg, rng, beat=DEFAULT_BEAT):
        self.dut, self.cfg, self.rng, self.beat = dut, cfg, rng, beat

    def encode(self, group, base, lanes, last):
        R = self.cfg.rows
        return group | (base << 16) | (pack(lanes, R) << 32) | (int(last) << (32 + R * self.beat))

    async def run(self, groups, gap=0.0, stall=0.0):
        d = self.dut
        seq = [(g, b) for g, beats in enumerate(groups) for b in beats]
        words, accepted, left, i, cyc, idle = [], [], [], 0, 0, 0
        while i < len(seq) or idle < 4:
            present = i < len(seq) and not (self.rng.random() < gap)
            if present:
                g, (base, lanes, last) = seq[i]
                d.masks__payload.value = self.encode(g, base, lanes, last)
            d.masks__valid.value = int(present)
            d.blocks__ready.value = int(not (self.rng.random() < stall))
            await Timer(1, unit="ns")
            if present and d.masks__ready.value:
                if seq[i][1][2]:
                    accepted.append(cyc)
                i += 1
            if d.blocks__valid.value and d.blocks__ready.value:
                v = d.blocks__payload.value
                assert v.is_resolvable, f"unresolved output word {v} (cycle {cyc})"
                words.append(v.to_unsigned())
                left.append(cyc)
            idle = 0 if (i < len(seq) or d.busy.value) else idle + 1
            await RisingEdge(d.clk)
            await FallingEdge(d.clk)
            cyc += 1
        d.masks__valid.value = 0
        return words, accepted, left


def masks_for(cfg, rng):
    """Random, column-structured, all-zero and all-one masks (with ragged shapes)."""
    R = cfg.rows
    out = []
    # resident rule: many channels of one class (slot 0, stream 0) that conflict, so blocks
    # open and emit by class while the other slots stay empty
    step = cfg.cols * cfg.merge_degree
    cls = np.zeros((R, 6 * step + 1), bool)
    cls[:, ::step] = True
    out.append(("one-class", cls))
    for density in (0.03, 0.1, 0.3, 0.6):
        out.append(("uniform", rng.random((2 * R, 40)) < density))
    for sp in (0.8, 0.97):
        out.append(("column", synthetic_mask(2 * R, 48, sp, "column",
                                             seed=int(rng.integers(1 << 30)))))
    out.append(("ragged", rng.random((R + 3, 37)) < 0.2))
    out.append(("all-zero", np.zeros((R, 20), bool)))
    out.append(("all-one", np.ones((R, 2 * cfg.cols + 1), bool)))
    out.append(("one-bit", np.eye(R, 3 * R, dtype=bool)[:, ::-1]))
    # many blocks per group: the window fills and emits its oldest block mid-group
    out.append(("wide", rng.random((R, 8 * cfg.cols * cfg.merge_degree + 5)) < 0.5))
    return out


def resident_mode() -> bool:
    return os.environ.get("EXION_CAU_RESIDENT", "0") == "1"


def golden_words(mask, cfg):
    """The CAU rule's words, every group's conflict vectors and its block count."""
    res = resident_mode()
    sched = cau_schedule(mask, cfg, resident=res)
    check_schedule(sched, mask)
    if res:  # the class rule, checked on the golden schedule itself
        C, D = cfg.cols, cfg.merge_degree
        for b in sched.blocks:
            for c in range(C):
                for d in range(D):
                    j = int(b.slots[c, d])
                    assert j < 0 or (j % C, (j // C) % D) == (c, d), (j, c, d)
    gm = group_masks(mask, sched.token_order, cfg.rows)
    cvs = [conflict_vectors(gm[g]).tolist() for g in range(gm.shape[0])]
    blocks = [sum(1 for b in sched.blocks if b.group == g) for g in range(gm.shape[0])]
    return sched.words(), cvs, blocks


async def _setup(dut):
    cfg = config()
    dut.resident.value = int(resident_mode())
    await start(dut)
    await FallingEdge(dut.clk)
    return cfg


@cocotb.test()
async def words_and_cycles(dut):
    """Back-to-back beats, output always ready: words and exact per-group cycle counts."""
    cfg = await _setup(dut)
    rng = np.random.default_rng(2025)
    drv = CauDriver(dut, cfg, rng)
    for name, mask in masks_for(cfg, rng):
        want, cvs, blocks = golden_words(mask, cfg)
        groups = [group_beats(c) for c in cvs]
        got, accepted, left = await drv.run(groups)
        assert got == want, f"{name}: {len(got)} words, want {len(want)}; first difference " \
            f"at {next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)}"
        total = words = 0
        for g, beats in enumerate(groups):
            # beats up to the last one's acceptance, then the flush: min(W, blocks) cycles
            flush = max(1, min(cfg.cau_window, blocks[g]))
            emits = window_emits(cvs[g], cfg.cols, cfg.merge_degree, cfg.cau_window,
                                 cau_sort_window(cfg), cau_fit(cfg), resident_mode())
            total += cau_cycles(beats, window=cfg.cau_window, blocks=blocks[g],
                                rate=cfg.cau_rate, emits=emits)
            assert accepted[g] + 1 + flush == total, \
                f"{name}: group {g} took {accepted[g] + 1 + flush} cycles, want {total}"
            words += blocks[g]
            if blocks[g]:  # the flush's last block leaves the output register next cycle
                assert left[words - 1] == total, \
                    f"{name}: group {g}'s last block left in cycle {left[words - 1]}, not {total}"


@cocotb.test()
async def backpressure_and_skipped_beats(dut):
    """Random input gaps and output stalls; all-zero beats dropped by the producer."""
    cfg = await _setup(dut)
    rng = np.random.default_rng(99)
    drv = CauDriver(dut, cfg, rng)
    for name, mask in masks_for(cfg, rng):
        want, cvs, _ = golden_words(mask, cfg)
        groups = [group_beats(c, skip_empty=True) for c in cvs]
        got, _, _ = await drv.run(groups, gap=0.2, stall=0.4)
        assert got == want, f"{name}: {len(got)} words, want {len(want)}"
