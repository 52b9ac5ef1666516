"""Backends the runtime issues its command streams to, and the record of a stream.

A backend has the host's view of one core (docs/core.md): commands with their stream data,
register reads, the mask window and the SMEM window. :class:`ModelBackend` runs them on the
command-level model (``golden.core_model.CoreModel``), which is bit- and cycle-exact with the
RTL. Every backend keeps a :class:`StreamLog`: the commands, the data it sent and everything
it read back, in order. ``exion_tools/runtime/rtl.py`` replays such a log on the RTL
(cocotb + Verilator or Icarus) and compares every read.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np

from exion.config import ExionConfig
from exion.regmap import CAUSES, encode
from golden.core_model import CoreModel

__all__ = ["CoreError", "StreamLog", "ModelBackend", "make_backend", "BACKENDS"]

BACKENDS = ("model", "rtl")
_CAUSE_NAMES = {v: k for k, v in CAUSES.items()}


class CoreError(RuntimeError):
    """The core refused or failed a command the runtime issued (a runtime bug)."""


@dataclass
class StreamLog:
    """What the host did and saw, in order. Entries:

    ``("cmd", op, fields, imem, wmem)`` (``fields``: the keyword arguments of
    :func:`exion.regmap.encode`; ``imem`` / ``wmem``: ``(n, lanes)`` beats or None),
    ``("frame", array)`` (a ``READ_OMEM`` frame, ``(count, rows)``), ``("reg", name, value)``,
    ``("mask_write", mask)`` (``(rows, n)`` bool into channels ``0..n-1``),
    ``("mask_read", mask)``, ``("smem", words)``.

    Members
    -------
    cfg : ExionConfig
    entries : list of tuple
    enabled : bool
        False: nothing is recorded (long runs).
    """

    cfg: ExionConfig
    entries: list = field(default_factory=list)
    enabled: bool = True

    def add(self, *entry) -> None:
        if self.enabled:
            self.entries.append(entry)

    def dumps(self) -> bytes:
        return pickle.dumps({"cfg": self.cfg.to_json(), "entries": self.entries})

    @staticmethod
    def loads(data: bytes) -> "StreamLog":
        d = pickle.loads(data)
        return StreamLog(ExionConfig.from_json(d["cfg"]), d["entries"])


class ModelBackend:
    """The core as ``golden.core_model.CoreModel`` (default backend).

    Parameters
    ----------
    cfg : ExionConfig
    record : bool
        Keep the :class:`StreamLog` (for a replay on the RTL).

    Members
    -------
    cfg : ExionConfig
    model : CoreModel
    log : StreamLog
    """

    name = "model"

    def __init__(self, cfg: ExionConfig, *, record: bool = False):
        self.cfg = cfg
        self.model = CoreModel(cfg)
        self.log = StreamLog(cfg, enabled=record)
        self._encoded: dict = {}

    def command(self, op: str, *, imem=None, wmem=None, **fields):
        """Issue one command with its stream data and run it; returns its ``READ_OMEM``
        frame ``(count, rows)`` or None. Raises :class:`CoreError` on any error."""
        key = (op, *sorted(fields.items()))
        enc = self._encoded.get(key)
        if enc is None:                 # the same commands recur: encode each once
            if len(self._encoded) > 1 << 16:
                self._encoded.clear()
            enc = self._encoded[key] = encode(op, **fields)
        args, word = enc
        m = self.model
        cause = m.issue(args, word)
        if imem is not None:
            m.push_imem(imem)
        if wmem is not None:
            m.push_wmem(wmem)
        out = m.run()
        if cause or m.regs.error or m.state.queue:
            why = _CAUSE_NAMES.get(m.regs.cause, m.regs.cause)
            raise CoreError(f"{op} {fields} refused or failed: cause {why}")
        self.log.add("cmd", op, dict(fields), imem, wmem)
        frame = out[-1].frame if out else None
        m.state.out.clear()             # the host took the frame
        if frame is not None:
            self.log.add("frame", frame)
        return frame

    def reg(self, name: str) -> int:
        """A register; ``*_LO`` / ``*_HI`` pairs by their stem (``SKIP_K``)."""
        r = self.model.regs.as_dict()
        if name + "_LO" in r:
            v = r[name + "_LO"] | r[name + "_HI"] << 32
        else:
            v = r[name] if name in r else self.model.read(name)
        self.log.add("reg", name, int(v))
        return int(v)

    def write_mask(self, mask) -> None:
        """Mask window: channels ``0..n-1`` get the columns of ``mask`` (rows, n)."""
        mask = np.asarray(mask, bool)
        st = self.model.state
        if mask.shape[1] > st.map.channels or mask.shape[0] != self.cfg.rows:
            raise CoreError(f"mask {mask.shape} does not fit the mask window "
                            f"({self.cfg.rows} rows, {st.map.channels} channels)")
        st.mask[:mask.shape[1]] = mask.T        # what write_mask_cv does, channel by channel
        self.log.add("mask_write", mask.copy())

    def read_mask(self, n: int) -> np.ndarray:
        """Mask window: ``(rows, n)`` bool of channels ``0..n-1``."""
        m = self.model.state.mask[:n, :self.cfg.rows].T.copy()
        self.log.add("mask_read", m)
        return m

    def read_smem(self, n: int, first: int = 0) -> list[int]:
        """``n`` ConMerge vectors from SMEM vector ``first`` (an SMEM half's start)."""
        if first and self.log.enabled:
            raise CoreError("the stream log records SMEM reads from vector 0 only")
        words = [int(w) for w in self.model.state.smem[first:first + n]]
        self.log.add("smem", words)
        return words


def make_backend(name: str, cfg: ExionConfig, *, record: bool = False) -> ModelBackend:
    """The backend the runtime drives. ``rtl`` runs on the model first, recording; the RTL
    replays that record afterwards (``exion_tools.runtime.rtl.replay``)."""
    if name not in BACKENDS:
        raise ValueError(f"backend = {name!r} is not one of {', '.join(BACKENDS)}")
    return ModelBackend(cfg, record=record or name == "rtl")
