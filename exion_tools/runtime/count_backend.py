"""The core without its data path, for count-only runs (docs/runtime.md, "Count-only runs"):
:class:`CountBackend` answers a host's commands from their fields alone, ``CYCLES`` from the
``golden.cycle_model`` formulas ``golden.core_model`` uses."""

from __future__ import annotations

import numpy as np

from exion.limits import CAU_BEAT
from exion.regmap import smem_half
from golden import conmerge, cycle_model
from golden.core_checks import Limits
from golden.core_state import bits_of_rows

from .backend import CoreError, StreamLog

__all__ = ["CountBackend", "zero_operand"]


def zero_operand(shape) -> np.ndarray:
    """A read-only int64 array of zeros that takes no memory (operands whose values do not
    matter to the counters)."""
    return np.broadcast_to(np.int64(0), tuple(shape))


class CountBackend:
    """The host's view of a core without its data path (``ModelBackend``'s methods): no
    checks, no memories but the mask window, SMEM as vector counts, frames of zeros.

    Members
    -------
    cfg : ExionConfig
    log : StreamLog
        Always disabled (nothing to replay).
    """

    name = "count"

    def __init__(self, cfg):
        self.cfg = cfg
        self.limits = Limits.of(cfg)
        self.log = StreamLog(cfg, enabled=False)
        self.mask = np.zeros((self.limits.channels, cfg.rows), bool)
        self.regs = {"CYCLES": 0, "BLOCKS": 0, "BLOCKS_H1": 0, "BLOCKS_H2": 0,
                     "SCHED_CYCLES": 0}
        self._sched: dict = {}          # (mask bytes, n_ch) -> (cycles, words)

    def command(self, op: str, *, imem=None, wmem=None, **f):
        cfg, lim, r = self.cfg, self.limits, self.regs
        if op == "READ_OMEM":
            return np.zeros((f["count"], cfg.rows), np.int64)
        if op == "GEMM":
            k = f["kc"] * cfg.lanes
            if "SPARSE" in f.get("flags", ()):
                half = f.get("half", 0)
                n = r["BLOCKS"] if half == 0 else r[f"BLOCKS_H{half}"]
            else:
                n = lim.dense_blocks(f["n_ch"])
                if "FFN_MASK" in f.get("flags", ()):
                    self.mask[f["ch_base"]:f["ch_base"] + f["n_ch"]] = False
            r["CYCLES"] = cycle_model.compute_cycles(n, k, cfg)
        elif op == "SCHEDULE":
            self._schedule(f["n_ch"], f.get("half", 0))
        elif op == "PREDICT":
            n = f["n_keys"]
            self.mask[:-(-n // CAU_BEAT) * CAU_BEAT] = False
            r["CYCLES"] = cycle_model.predict_cycles(
                n, f["kc"], CAU_BEAT, operand_stages=cfg.operand_stages)
        elif op == "PREDICT_PROJ":
            r["CYCLES"] = cycle_model.predict_proj_cycles(
                f["n_ch"], f["kc"], cfg.lanes, f["n_rows"], "KEYS" in f.get("flags", ()),
                operand_stages=cfg.operand_stages)
        elif op in ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX"):
            r["CYCLES"] = cycle_model.cfse_command_cycles(op, f["n_ch"], f["n_rows"])
        return None

    def _schedule(self, n_ch: int, half: int) -> None:
        """``CoreModel._schedule``'s cycles and vectors (``golden.conmerge.cau_schedule``)."""
        cfg, r = self.cfg, self.regs
        m = self.mask[:n_ch]
        key = (np.packbits(m).tobytes(), n_ch)
        hit = self._sched.get(key)
        if hit is None:
            cycles = cycle_model.schedule_cycles(bits_of_rows(m), CAU_BEAT, cfg)
            n = len(conmerge.cau_schedule(m.T, cfg, token_sort="none").blocks)
            if len(self._sched) > 1 << 14:
                self._sched.clear()
            hit = self._sched[key] = (cycles, n)
        cycles, n = hit
        _, size = smem_half(cfg.schedule_depth, half)
        if n > size:
            raise CoreError(f"SCHEDULE of {n_ch} channels: {n} vectors, SMEM part holds "
                            f"{size} (SMEM_OVERFLOW)")
        r["SCHED_CYCLES"] = cycles
        if half == 0:
            r["BLOCKS"], r["CYCLES"] = n, cycles
        else:
            r[f"BLOCKS_H{half}"] = n

    def reg(self, name: str) -> int:
        return int(self.regs.get(name, 0))

    def write_mask(self, mask) -> None:
        mask = np.asarray(mask, bool)
        self.mask[:mask.shape[1]] = mask.T

    def read_mask(self, n: int) -> np.ndarray:
        return self.mask[:n, :self.cfg.rows].T.copy()

    def read_smem(self, n: int, first: int = 0) -> list[int]:
        return [0] * n                  # the vectors' contents are not kept
